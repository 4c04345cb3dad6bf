//! `keyway transfer …`: identities, a receiving server, and a sender.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use keyway_transfer::{
    AuthorizedKeys, Client, Identity, Incoming, KeyRights, PublicKey, Reply, Server, ServerConfig,
    ServerPin,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::print_json;
use crate::cli::{
    GlobalArgs, TransferCommand, TransferGetArgs, TransferPeerArgs, TransferSendArgs,
    TransferServeArgs,
};
use crate::settings::Settings;

pub(crate) async fn run(command: TransferCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match command {
        TransferCommand::Keygen { file, comment } => keygen(file, comment),
        TransferCommand::Serve(args) => serve(args, global).await,
        TransferCommand::Send(args) => send(args).await,
        TransferCommand::Get(args) => get(args).await,
    }
}

fn keyway_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".keyway")
}

fn keygen(file: Option<PathBuf>, comment: Option<String>) -> anyhow::Result<()> {
    let path = file.unwrap_or_else(|| keyway_home().join("transfer_ed25519"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let identity = Identity::generate()?;
    identity.save(&path)?;
    let comment = comment.unwrap_or_else(|| {
        let user = std::env::var("USER").unwrap_or_else(|_| "keyway".into());
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{user}@{}", host.trim())
    });
    let line = format!("{} {comment}", identity.public_key());
    let mut pub_path = path.clone().into_os_string();
    pub_path.push(".pub");
    write_public_key(PathBuf::from(&pub_path).as_path(), &line)?;
    eprintln!("private key: {} (mode 0600)", path.display());
    eprintln!(
        "public key:  {} ({})",
        PathBuf::from(&pub_path).display(),
        identity.public_key().fingerprint()
    );
    let pub_shown = PathBuf::from(&pub_path).display().to_string();
    eprintln!(
        "the public key line below goes to a transfer server's authorized_keys, or to the hub:\n  \
         {kw} client add-key CLIENT_ID --key {pub_shown}          (transfer, --hub-clients)\n  \
         {kw} client add-toki-key CLIENT_ID --public-key {pub_shown}  (toki calls)",
        kw = crate::terminal::command_prefix()
    );
    println!("{line}");
    Ok(())
}

/// The keys registered at the hub for OAuth clients, as authorized keys (comment: client_id).
async fn hub_client_keys(global: &GlobalArgs, into: &mut AuthorizedKeys) -> anyhow::Result<()> {
    let settings = Settings::resolve(global)?;
    let service = super::open_service(&settings).await?;
    for record in service.client_transfer_keys(None).await? {
        let key = PublicKey::parse(&record.public_key)?;
        into.insert(
            key,
            KeyRights {
                comment: record.client_id,
                root: None,
                read_only: false,
            },
        );
    }
    service.store().close().await;
    Ok(())
}

async fn serve(args: TransferServeArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let log_format = global.log_format.as_deref().unwrap_or("text");
    crate::terminal::init_logging(log_format, "info");
    let identity = Identity::load(&args.identity)?;
    let mut authorized = match &args.authorized_keys {
        Some(path) => AuthorizedKeys::load(path)?,
        None => AuthorizedKeys::default(),
    };
    if args.hub_clients {
        hub_client_keys(global, &mut authorized).await?;
    }
    if authorized.is_empty() {
        eprintln!("warning: no authorized keys; every client will be refused");
    }
    let server_key = identity.public_key();
    let mut config = ServerConfig::new(identity, authorized);
    config.root = args.root.clone();
    config.max_body = args.max_body;
    if let Some(limit) = args.max_file_size {
        config.max_file = limit;
    }
    config.handshake_timeout = std::time::Duration::from_secs(args.handshake_timeout);
    // Both bounded by clap to 1..=65536, so they fit any usize.
    config.max_handshakes_per_address =
        usize::try_from(args.max_handshakes_per_address).unwrap_or(usize::MAX);
    config.max_handshakes = usize::try_from(args.max_handshakes).unwrap_or(usize::MAX);
    let server = Server::bind(&args.listen, config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("keyway transfer server on {}", server.local_addr()?);
    println!("  server key: {server_key} ({})", server_key.fingerprint());
    println!("  clients pin it with: --server-key \"{server_key}\"  (or --accept-new once)");
    let exec = args.exec.map(Arc::new);
    let result = tokio::select! {
        served = server.serve(move |incoming: Incoming| {
            let exec = exec.clone();
            async move {
                match exec {
                    Some(cmd) => run_exec(&cmd, incoming).await,
                    None => {
                        tracing::info!(kind = incoming.kind.as_str(), name = ?incoming.name, bytes = incoming.body.len(),
                            sender = %incoming.sender.fingerprint(), "received");
                        match &incoming.path {
                            Some(path) => Reply::new(0, format!("stored {}", path.display())),
                            None => Reply::new(0, format!("received {} bytes", incoming.body.len())),
                        }
                    }
                }
            }
        }) => served.map_err(anyhow::Error::from),
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    result
}

/// Runs `sh -c CMD` with the payload on stdin; (exit status, stdout) is the reply.
async fn run_exec(cmd: &str, incoming: Incoming) -> Reply {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("KEYWAY_SENDER_KEY", incoming.sender.to_string())
        .env("KEYWAY_SENDER_COMMENT", &incoming.rights.comment)
        .env("KEYWAY_KIND", incoming.kind.as_str())
        .env("KEYWAY_NAME", &incoming.name)
        .env(
            "KEYWAY_PATH",
            incoming
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => return Reply::new(-1, format!("cannot run handler: {err}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A handler that ignores its input may close stdin early: not an error.
        let _ = stdin.write_all(&incoming.body).await;
    }
    match child.wait_with_output().await {
        Ok(output) => Reply::new(output.status.code().unwrap_or(-1), output.stdout),
        Err(err) => Reply::new(-1, format!("handler failed: {err}")),
    }
}

async fn connect(to: &str, peer: &TransferPeerArgs) -> anyhow::Result<Client> {
    let identity = Identity::load(&peer.identity)?;
    let known_hosts = peer
        .known_hosts
        .clone()
        .unwrap_or_else(|| keyway_home().join("known_hosts"));
    let pin = match &peer.server_key {
        Some(key) => ServerPin::Key(PublicKey::parse(key)?),
        None => ServerPin::KnownHosts {
            path: known_hosts.clone(),
            accept_new: peer.accept_new,
        },
    };
    // Like OpenSSH, say so when first contact writes a pin: it decides every later connection.
    let announce = peer.accept_new && !pin.is_recorded(to);
    let client = Client::connect(to, &identity, pin).await?;
    if announce {
        eprintln!(
            "added {to} ({}) to {}: later connections must present this key",
            client.server_key().fingerprint(),
            known_hosts.display()
        );
    }
    Ok(client)
}

fn progress_bar(hidden: bool, what: &str) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Moves the progress bar; the first call tells where the transfer starts (an interrupted
/// one resumes past what the receiver already has), which is said once on stderr.
fn first_progress(
    resumed_from: &mut Option<u64>,
    bar: &ProgressBar,
    say: bool,
    done: u64,
    total: u64,
) {
    if resumed_from.is_none() {
        *resumed_from = Some(done);
        if done > 0 && say {
            bar.suspend(|| eprintln!("resuming at byte {done} of {total}"));
        }
    }
    bar.set_length(total);
    bar.set_position(done);
}

async fn send(args: TransferSendArgs) -> anyhow::Result<()> {
    // A local mistake is reported before the server is bothered.
    if let Some(path) = args.file.as_ref().or(args.data_file.as_ref()) {
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    let mut client = connect(&args.to, &args.peer).await?;
    let file_name = |path: &PathBuf| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut resumed_from = None;
    let reply = match (&args.message, &args.data_file, &args.file) {
        (Some(text), _, _) => client.send_message(text).await?,
        (None, Some(path), _) => {
            let bytes = tokio::fs::read(path)
                .await
                .with_context(|| format!("cannot read {}", path.display()))?;
            let name = args.as_name.clone().unwrap_or_else(|| file_name(path));
            client.send_data(&name, &bytes).await?
        }
        (None, None, Some(path)) => {
            let name = args.as_name.clone().unwrap_or_else(|| file_name(path));
            let say = !(args.quiet || args.json.json);
            let bar = progress_bar(!say, "sending");
            let reply = client
                .send_file(path, &name, args.overwrite, |done, total| {
                    first_progress(&mut resumed_from, &bar, say, done, total);
                    true
                })
                .await;
            bar.finish_and_clear();
            reply?
        }
        (None, None, None) => anyhow::bail!("give --message, --data-file or --file"),
    };
    client.close().await;
    let response = String::from_utf8_lossy(&reply.body);
    if args.json.json {
        let mut out = json!({ "status": reply.status, "response": response });
        if let Some(offset) = resumed_from {
            out["resumed_from"] = json!(offset);
        }
        print_json(&out)?;
    } else {
        println!("status: {}", reply.status);
        println!("{response}");
    }
    Ok(())
}

async fn get(args: TransferGetArgs) -> anyhow::Result<()> {
    let mut client = connect(&args.from, &args.peer).await?;
    let say = !(args.quiet || args.json.json);
    let bar = progress_bar(!say, "receiving");
    let mut resumed_from = None;
    let result = client
        .get_file(&args.remote, &args.local, args.overwrite, |done, total| {
            first_progress(&mut resumed_from, &bar, say, done, total);
            true
        })
        .await;
    bar.finish_and_clear();
    let size = result?;
    client.close().await;
    if args.json.json {
        print_json(&json!({
            "remote": args.remote,
            "local": args.local,
            "bytes": size,
            "resumed_from": resumed_from.unwrap_or(0),
        }))?;
    } else if !args.quiet {
        println!("received {} ({size} bytes, verified)", args.local.display());
    }
    Ok(())
}

/// Writes the `.pub` line under a fresh temporary name and renames it into place: a rename
/// replaces whatever stands at the name (a symlink planted there included) instead of
/// writing through it.
fn write_public_key(path: &std::path::Path, line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
