use anyhow::Context;
use keyway_hub::{Hub, HubOptions};
use tokio::net::TcpListener;

use crate::cli_serve::ServeArgs;
use crate::settings::Settings;

use keyway_hub::MAX_WORKERS;

/// Creates the data directory (0700) if missing, or checks the one given: a file, a place that
/// cannot hold a directory (`/proc/…`) or one this user cannot write is named with its reason
/// before anything else is tried (SQLite would only say "unable to open database file").
pub(crate) fn prepare_data_dir(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let shown = data_dir.display();
    if data_dir.exists() && !data_dir.is_dir() {
        anyhow::bail!("the data directory {shown} is not a directory: give --data-dir a directory");
    }
    if let Err(err) = keyway_kernel::create_private_dir(data_dir) {
        let reason = match &err {
            keyway_kernel::PrivateFileError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        anyhow::bail!("cannot create the data directory {shown}: {reason}");
    }
    let probe = data_dir.join(".keyway-write-check");
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(err) => anyhow::bail!("the data directory {shown} is not writable: {err}"),
    }
}

/// Takes `DATA_DIR/keyway.lock` (an advisory lock the OS drops when the process ends, however
/// it ends) and writes this process's id into it; refuses, naming the holder, when another
/// `keyway serve` has it.
pub(crate) fn lock_data_dir(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = data_dir.join("keyway.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            anyhow::bail!(
                "another keyway serve (pid {}) is using the data directory {}; stop it first, \
                 or give this one its own --data-dir",
                holder.trim(),
                data_dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

/// The connection limits `--workers` (clap checks its range) or keyway.toml's `workers` set;
/// the rest are the defaults.
fn connection_limits(
    flag: Option<u16>,
    file: Option<i64>,
) -> anyhow::Result<keyway_hub::ConnectionLimits> {
    let mut limits = keyway_hub::ConnectionLimits::default();
    let workers = match (flag, file) {
        (Some(flag), _) => Some(i64::from(flag)),
        (None, file) => file,
    };
    if let Some(workers) = workers {
        if !(1..=i64::from(MAX_WORKERS)).contains(&workers) {
            anyhow::bail!("keyway.toml workers = {workers}: give 1 to {MAX_WORKERS} threads");
        }
        limits.workers = usize::try_from(workers)?;
    }
    Ok(limits)
}

pub(crate) async fn run(mut settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    crate::terminal::init_logging(&settings.log_format, "info,sqlx=warn,tower_http=warn");
    let tls = tls_files(&settings, &args)?;
    // SIGHUP reloads the TLS files. Its default action ends the process, so it is caught
    // from the start, with or without TLS (`systemctl reload` sends it).
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot watch SIGHUP")?;
    let serves_tls = tls.is_some();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if !serves_tls {
                tracing::info!("SIGHUP: nothing to reload (this hub serves no TLS certificate)");
            }
        }
    });
    // Checked before anything is opened: a bad certificate is the error, not the store's.
    if let Some(files) = &tls {
        keyway_hub::TlsServer::open(files)?;
    }
    // Over TLS the default issuer is https (and cookies are `__Host-`, HSTS is sent).
    settings.serves_tls = tls.is_some();
    let ca_file = args
        .ca_file
        .clone()
        .or_else(|| settings.file.ca_file.clone());
    let listen = args.listen.unwrap_or_else(|| settings.listen.clone());
    let mut auth = settings.auth_config(&listen)?;
    if let Some(node) = &args.node_id {
        auth.node_id = node_id(node)?;
    }
    // Flags and KEYWAY_TRUSTED_PROXIES override the file; checked here so a typo is reported
    // as what it is, before anything is opened.
    let trusted_proxies = if args.trusted_proxy.is_empty() {
        settings.file.trusted_proxies.clone().unwrap_or_default()
    } else {
        args.trusted_proxy.clone()
    };
    keyway_hub::TrustedProxies::parse(&trusted_proxies)
        .map_err(|why| anyhow::anyhow!("--trusted-proxy / trusted_proxies: {why}"))?;
    let config_file = settings.config_path.clone().unwrap_or_default();
    let upstreams = settings.file.login.providers(&config_file)?;
    // Listen before anything is created: a busy port must not leave a new store behind.
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    // Port 0 asks the system for a port: the default issuer names the one it gave.
    let auth = if settings.issuer.is_none() && listen.ends_with(":0") {
        let node_id = auth.node_id.clone();
        let mut auth = settings.auth_config(&local.to_string())?;
        auth.node_id = node_id;
        auth
    } else {
        auth
    };
    // Checked before the data directory is made: a refused setting leaves nothing behind.
    let connections = connection_limits(args.workers, settings.file.workers)?;
    prepare_data_dir(&settings.data_dir)?;
    super::store_marker::check(&settings.data_dir, &settings.database)?;
    // One hub per SQLite data directory: a second one would share the single writer and the
    // key files behind the first one's back. Shared server databases run several nodes.
    let _lock = if settings.database.starts_with("sqlite:") {
        Some(lock_data_dir(&settings.data_dir)?)
    } else {
        None
    };
    let issuer = auth.issuer.clone();
    let options = HubOptions {
        data_dir: settings.data_dir.clone(),
        database_url: settings.database.clone(),
        auth,
        schemas: args
            .schemas
            .clone()
            .or_else(|| settings.file.schemas.clone()),
        allow_drop_columns: args.allow_drop_columns,
        data_page_size: settings.file.data.page_size()?,
        link_rule_priority: settings.file.link.priority()?,
        trusted_proxies: trusted_proxies.clone(),
        connections,
        upstreams: upstreams.clone(),
        gateway: settings.file.gateway.options()?,
        tls: tls.clone(),
        ca_file,
    };
    let hub = match Hub::open(&options).await {
        Ok(hub) => hub,
        Err(err @ keyway_hub::HubError::Workers(_)) => return Err(err.into()),
        Err(err) => {
            return Err(anyhow::Error::from(err).context(format!(
                "cannot open the hub's store at {}",
                settings.shown_database()
            )));
        }
    };
    // A node of a cluster started with another issuer than the others answers a share of the
    // traffic with tokens no other node accepts: say so loudly (a single hub may move).
    let store = hub.state.auth.store();
    if let Some(before) = store.setting(super::HUB_ISSUER).await?
        && before != issuer
        && store.backend() != keyway_store::Backend::Sqlite
    {
        eprintln!(
            "warning: this store was last served as {before}, and this node serves as {issuer}: \
             every node of a cluster must be given the same --issuer (tokens of one issuer are \
             refused by nodes of the other); ignore this only if the whole hub has moved"
        );
    }
    // The admin commands speak for this issuer from now on (`keyway keys toki`, …).
    store.set_setting(super::HUB_ISSUER, &issuer).await?;
    let backend = hub.state.auth.store().backend().name();
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("keyway hub listening on {scheme}://{local}");
    if let Some(files) = &tls {
        println!(
            "  TLS:      {} (reloaded on SIGHUP or when it changes)",
            files.cert.display()
        );
    }
    println!("  issuer:   {issuer}");
    println!("  node:     {}", hub.state.auth.node_id());
    println!(
        "  data dir: {} ({backend} store)",
        settings.data_dir.display()
    );
    println!("  metadata: {issuer}/.well-known/openid-configuration");
    for upstream in &upstreams {
        println!(
            "  sign-in:  type={} through {} ({}), redirect URI {issuer}{}",
            upstream.name,
            upstream.display_name,
            upstream.issuer,
            keyway_auth::UPSTREAM_CALLBACK_PATH
        );
    }
    if !trusted_proxies.is_empty() {
        println!(
            "  proxies:  X-Forwarded-For believed from {}",
            trusted_proxies.join(", ")
        );
    }
    println!(
        "  toki:     {} ({issuer}/toki/v1/hub)",
        hub.state.toki.public_key
    );
    if let Some(data) = &hub.state.data {
        let names: Vec<&str> = data.schemas().entities().map(|e| e.name.as_str()).collect();
        println!(
            "  data API: {issuer}/api/ ({}), {issuer}/api/openapi.json",
            names.join(", ")
        );
    }
    println!();
    let clients = hub
        .state
        .auth
        .list_clients()
        .await
        .map_or(0, |list| list.len());
    // The admin commands must reach this hub's store: say how, as this hub was told.
    let data_dir_arg = match &settings.store_source {
        crate::settings::StoreSource::Default => String::new(),
        crate::settings::StoreSource::DataDirArg => {
            format!(" --data-dir {}", settings.data_dir.display())
        }
        crate::settings::StoreSource::ConfigFile(path) => format!(" --config {}", path.display()),
        crate::settings::StoreSource::DatabaseArg => " --database URL".into(),
    };
    let kw = format!("{}{data_dir_arg}", crate::terminal::command_prefix());
    if clients == 0 {
        println!("Next: register a client from another terminal (in this directory):");
        println!(
            "  {kw} client create --name demo --grant client_credentials --scope \"read write\""
        );
    } else {
        println!("{clients} client(s) registered: {kw} client list");
    }
    println!("  this hub's page: {issuer}/");
    // Behind a proxy the hub was told of (a cluster's load balancer), the issuer is the
    // proxy's address by design.
    if trusted_proxies.is_empty()
        && let Some(warning) = issuer_port_mismatch(&issuer, scheme, local)
    {
        eprintln!("{warning}");
    }
    if settings.issuer.is_none() && local.ip().is_unspecified() {
        eprintln!(
            "warning: the issuer is {issuer}, the address this hub listens on, which no client \
             can reach: give --issuer with the URL clients use (https://auth.example.org)"
        );
    }
    if tls.is_some() && issuer.starts_with("http://") {
        eprintln!(
            "warning: this hub serves https, and its issuer {issuer} is http: browsers are sent \
             to plain http and its cookies are not Secure; give --issuer https://…"
        );
    }
    hub.serve(listener, shutdown_signal()).await?;
    println!("keyway hub stopped");
    Ok(())
}

/// `--node-id`: 1 to 64 characters of `[A-Za-z0-9._:-]` (it is stored and logged).
fn node_id(text: &str) -> anyhow::Result<String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if text.is_empty() || text.len() > 64 || !text.chars().all(fine) {
        anyhow::bail!(
            "--node-id {text:?}: give 1 to 64 characters of letters, digits, '.', '_', ':' or '-'"
        );
    }
    Ok(text.to_string())
}

/// An issuer on a loopback host, with the scheme the hub serves, and another port than the
/// hub listens on: its pages, cookies and passkeys belong to the issuer's address, where
/// nothing answers unless a proxy forwards it. (An issuer of the other scheme is expected to
/// sit behind a proxy.)
fn issuer_port_mismatch(issuer: &str, scheme: &str, local: std::net::SocketAddr) -> Option<String> {
    let url = reqwest::Url::parse(issuer).ok()?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let port = url.port_or_known_default()?;
    (url.scheme() == scheme && loopback && port != local.port()).then(|| {
        format!(
            "warning: the issuer {issuer} names port {port}, and this hub listens on {local}: \
             browsers must use the issuer's address (sign-in cookies and passkeys belong to it), \
             so unless a proxy forwards port {port} here, give --issuer {scheme}://localhost:{} \
             (or leave --issuer out)",
            local.port()
        )
    })
}

/// `--tls-cert`/`--tls-key` (or `tls_cert`/`tls_key` in keyway.toml): both or neither.
fn tls_files(
    settings: &Settings,
    args: &ServeArgs,
) -> anyhow::Result<Option<keyway_hub::TlsFiles>> {
    let cert = args
        .tls_cert
        .clone()
        .or_else(|| settings.file.tls_cert.clone());
    let key = args
        .tls_key
        .clone()
        .or_else(|| settings.file.tls_key.clone());
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(keyway_hub::TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => {
            anyhow::bail!("--tls-cert needs --tls-key (the certificate's private key)")
        }
        (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert (the certificate chain)"),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining connections");
}

#[cfg(test)]
mod tests {
    use super::issuer_port_mismatch;

    #[test]
    fn a_loopback_issuer_on_another_port_is_warned_about() {
        let local = "127.0.0.1:18602".parse().expect("address");
        let warning =
            issuer_port_mismatch("http://localhost:18603", "http", local).expect("a warning");
        assert!(
            warning.contains("--issuer http://localhost:18602"),
            "{warning}"
        );
        assert_eq!(
            issuer_port_mismatch("http://localhost:18602", "http", local),
            None
        );
        assert_eq!(
            issuer_port_mismatch("https://id.example.com", "http", local),
            None
        );
        // Served over TLS, the same mistake with an https issuer.
        let warning =
            issuer_port_mismatch("https://localhost:18603", "https", local).expect("a warning");
        assert!(
            warning.contains("--issuer https://localhost:18602"),
            "{warning}"
        );
    }
}
