use anyhow::Context;
use keyway_auth::{AuthService, ClientInfo, ClientUpdate, NewClient};
use serde_json::json;

use super::{open_service, print_json, when};
use crate::cli::{ClientCommand, ClientUpdateArgs};
use crate::settings::Settings;

pub(crate) async fn run(settings: Settings, command: ClientCommand) -> anyhow::Result<()> {
    let service = open_service(&settings).await?;
    match command {
        ClientCommand::Create(args) => {
            let jwks = read_jwks(args.jwks_file.as_deref())?;
            let registered = service
                .create_client(NewClient {
                    name: args.name,
                    grant_types: args.grants,
                    // One rule for lists on this command line: commas separate, as in --grant.
                    scope: args.scope.replace(',', " "),
                    redirect_uris: args.redirect_uris,
                    public: args.public,
                    jwks,
                    jwks_uri: args.jwks_uri,
                    policy: keyway_auth::ClientPolicy {
                        require_pushed_requests: args.require_par,
                        require_signed_requests: args.require_signed_request,
                        require_dpop: args.require_dpop,
                        profile: args
                            .profile
                            .as_deref()
                            .and_then(keyway_auth::ClientProfile::parse),
                        login_types: login_types(&args.login_types),
                        require_mfa: args.require_mfa,
                        post_logout_redirect_uris: args.post_logout_redirect_uris,
                        backchannel_logout_uri: args.backchannel_logout_uri,
                        transmit_url: args.transmit_url,
                        api_url: args.api_url,
                    },
                    signing_secret: read_signing_secret(args.signing_secret_file.as_deref())?,
                })
                .await?;
            let info = registered.client.info();
            warn_if_name_shared(&service, &info).await?;
            let secret = registered.client_secret.as_ref().map(|s| s.expose());
            let signing = registered.signing_secret.as_ref().map(|s| s.expose());
            if args.json.json {
                let mut value = serde_json::to_value(&info)?;
                if let Some(map) = value.as_object_mut() {
                    if let Some(secret) = secret {
                        map.insert("client_secret".into(), json!(secret));
                    }
                    if let Some(signing) = signing {
                        map.insert("signing_secret".into(), json!(signing));
                    }
                }
                print_json(&value)?;
            } else if let Some(name) = &args.export {
                println!("export {name}_ID='{}'", info.client_id);
                if let Some(secret) = secret {
                    println!("export {name}_SECRET='{secret}'");
                }
                if let Some(signing) = signing {
                    println!("export {name}_SIGNING_SECRET='{signing}'");
                }
            } else {
                println!("client_id:     {}", info.client_id);
                if let Some(secret) = secret {
                    println!("client_secret: {secret}");
                }
                if let Some(signing) = signing {
                    println!("signing_secret: {signing}");
                }
                if secret.is_some() || signing.is_some() {
                    println!();
                    println!(
                        "Secrets are shown only now; the hub keeps a digest of the client secret \
                         and the signing secret sealed with its master key."
                    );
                }
                println!("auth method:   {}", info.token_endpoint_auth_method);
                println!("grants:        {}", info.grant_types.join(" "));
                println!("scope:         {}", info.scope);
            }
        }
        ClientCommand::List(flag) => {
            let clients = service.list_clients().await?;
            if flag.json {
                print_json(&clients)?;
            } else if clients.is_empty() {
                println!(
                    "no clients yet: {} client create --name NAME --grant client_credentials",
                    crate::terminal::command_prefix()
                );
            } else {
                println!(
                    "{:<32} {:<20} {:<20} {:<34} SCOPE",
                    "CLIENT_ID", "NAME", "AUTH", "GRANTS"
                );
                for c in clients {
                    println!(
                        "{:<32} {:<20} {:<20} {:<34} {}",
                        c.client_id,
                        c.name,
                        c.token_endpoint_auth_method,
                        c.grant_types.join(","),
                        c.scope
                    );
                }
            }
        }
        ClientCommand::Show { client_id, json } => {
            let client_id = service
                .client_by_id_or_name(&client_id)
                .await?
                .client_id
                .clone();
            let info = service.show_client(&client_id).await?;
            let toki = service.toki_peer(&info.client_id).await?;
            if json.json {
                let mut value = serde_json::to_value(&info)?;
                if let (Some(toki), Some(map)) = (&toki, value.as_object_mut()) {
                    map.insert("toki_key".into(), json!(toki.toki_key));
                }
                print_json(&value)?;
            } else {
                print_client(&info);
                for key in service.client_transfer_keys(Some(&info.client_id)).await? {
                    println!("transfer key:  {} ({})", key.public_key, key.fingerprint);
                }
                if let Some(toki) = toki {
                    println!("toki key:      {}", toki.toki_key);
                }
            }
        }
        ClientCommand::Update(args) => {
            let client_id = service
                .client_by_id_or_name(&args.client_id)
                .await?
                .client_id
                .clone();
            let info = service
                .update_client(
                    &client_id,
                    client_update(&service, &client_id, &args).await?,
                )
                .await?;
            if args.name.is_some() {
                warn_if_name_shared(&service, &info).await?;
            }
            if args.json.json {
                print_json(&info)?;
            } else {
                print_client(&info);
            }
        }
        ClientCommand::RotateSecret {
            client_id,
            json,
            export,
        } => {
            let client_id = id_of(&service, &client_id).await?;
            let secret = service.rotate_client_secret(&client_id).await?;
            if json.json {
                print_json(&json!({ "client_id": client_id, "client_secret": secret.expose() }))?;
            } else if let Some(name) = export {
                println!("export {name}_SECRET='{}'", secret.expose());
            } else {
                println!("client_id:     {client_id}");
                println!("client_secret: {}", secret.expose());
                println!();
                println!("The previous secret no longer works.");
            }
        }
        ClientCommand::AddKey {
            client_id,
            key,
            json,
        } => {
            let line = if std::path::Path::new(&key).is_file() {
                std::fs::read_to_string(&key).with_context(|| format!("cannot read {key}"))?
            } else {
                key
            };
            let public = keyway_transfer::PublicKey::parse(line.trim())?;
            let client_id = id_of(&service, &client_id).await?;
            service
                .add_client_key(&client_id, &public.to_string(), &public.fingerprint())
                .await?;
            if json.json {
                print_json(
                    &json!({ "client_id": client_id, "public_key": public.to_string(), "fingerprint": public.fingerprint() }),
                )?;
            } else {
                println!("registered {} for client {client_id}", public.fingerprint());
            }
        }
        ClientCommand::AddTokiKey {
            client_id,
            public_key,
            json,
        } => {
            let text = if public_key == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                std::fs::read_to_string(&public_key)
                    .with_context(|| format!("cannot read {public_key}"))?
            };
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'));
            let key = keyway_toki::TokiPublicKey::parse(line.unwrap_or("")).map_err(|_| {
                anyhow::anyhow!("{public_key}: not a toki public key line (keyway-ed25519 BASE64)")
            })?;
            let client_id = id_of(&service, &client_id).await?;
            service.set_toki_key(&client_id, &key.to_string()).await?;
            if json.json {
                print_json(&json!({ "client_id": client_id, "toki_key": key.to_string() }))?;
            } else {
                println!("registered toki key for client {client_id}: {key}");
            }
        }
        ClientCommand::Allow(args) => {
            let target = &args.target;
            let (from, to) = (
                id_of(&service, &target.from).await?,
                id_of(&service, &target.to).await?,
            );
            let wanted = purpose(&target.purpose)?;
            let before = service
                .client_rules()
                .await?
                .into_iter()
                .find(|r| r.from == from && r.to == to && r.purpose == wanted);
            let rule = service
                .allow_client(&from, &to, purpose(&target.purpose)?, args.scope.as_deref())
                .await?;
            if target.json.json {
                print_json(&rule)?;
            } else {
                let names = client_names(&service).await?;
                println!("{}", rule_line(&rule, &names));
                if let Some(before) = before {
                    println!("(replaces: {})", rule_line(&before, &names));
                }
            }
        }
        ClientCommand::Disallow(target) => {
            service
                .disallow_client(&target.from, &target.to, purpose(&target.purpose)?)
                .await?;
            if target.json.json {
                print_json(&json!({
                    "removed": { "from": target.from, "to": target.to, "for": target.purpose }
                }))?;
            } else {
                let verb = purpose(&target.purpose)?.verb();
                println!(
                    "removed: {} may no longer {verb} {}",
                    target.from, target.to
                );
            }
        }
        ClientCommand::Rules(flag) => {
            let rules = service.client_rules().await?;
            if flag.json {
                print_json(&rules)?;
            } else if rules.is_empty() {
                println!(
                    "no rules: nothing crosses between clients ({} client allow A --to B --for \
                     exchange makes one)",
                    crate::terminal::command_prefix()
                );
            } else {
                let names = client_names(&service).await?;
                for rule in &rules {
                    println!("{}", rule_line(rule, &names));
                }
            }
        }
        ClientCommand::Delete { client_id, json } => {
            let client_id = id_of(&service, &client_id).await?;
            service.delete_client(&client_id).await?;
            if json.json {
                print_json(&json!({ "deleted": client_id }))?;
            } else {
                println!("deleted client {client_id} and revoked its tokens");
            }
        }
    }
    service.store().close().await;
    Ok(())
}

/// The id of the client `given` names: its id, or its name when no other client has it (as
/// every client command takes it; what the command prints names the id).
async fn id_of(service: &AuthService, given: &str) -> anyhow::Result<String> {
    Ok(service.client_by_id_or_name(given).await?.client_id.clone())
}

/// The registered properties of a client, one per line.
fn print_client(info: &ClientInfo) {
    println!("client_id:     {}", info.client_id);
    println!("name:          {}", info.name);
    println!("auth method:   {}", info.token_endpoint_auth_method);
    println!("grants:        {}", info.grant_types.join(" "));
    println!("scope:         {}", info.scope);
    for uri in &info.redirect_uris {
        println!("redirect uri:  {uri}");
    }
    if let Some(uri) = &info.jwks_uri {
        println!("jwks uri:      {uri}");
    }
    if info.require_pushed_authorization_requests {
        println!("requests:      must be pushed first (RFC 9126)");
    }
    if info.require_signed_request_object {
        println!("requests:      must be signed request objects (RFC 9101)");
    }
    if info.dpop_bound_access_tokens {
        println!("tokens:        DPoP-bound only (RFC 9449)");
    }
    if let Some(profile) = info.profile {
        println!("profile:       {profile}");
    }
    if info.has_signing_secret {
        println!("signing:       has a signing secret (sealed)");
    }
    if !info.login_types.is_empty() {
        println!("login types:   {}", info.login_types.join(" "));
    }
    if info.require_mfa {
        println!("sign-in:       a second factor is required");
    }
    for uri in &info.post_logout_redirect_uris {
        println!("after logout:  {uri}");
    }
    if let Some(uri) = &info.backchannel_logout_uri {
        println!("logout notice: {uri} (back-channel)");
    }
    if let Some(uri) = &info.transmit_url {
        println!("transmit url:  {uri}");
    }
    if let Some(uri) = &info.api_url {
        println!("api url:       {uri}");
    }
    println!("created:       {}", when(info.created_at));
}

/// A JWK Set file's text, checked (public keys only) before anything is stored.
fn read_jwks(path: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    AuthService::check_jwks(&text).with_context(|| format!("--jwks-file {}", path.display()))?;
    Ok(Some(text))
}

/// A signing secret file's text: private to its owner (0600), a trailing newline dropped.
fn read_signing_secret(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<keyway_auth::SecretString>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let bytes = zeroize::Zeroizing::new(
        keyway_kernel::read_private_file(path).context("--signing-secret-file")?,
    );
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("--signing-secret-file {}: not UTF-8 text", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    let secret = keyway_auth::SecretString::new(text.to_string());
    if text.len() < keyway_auth::MIN_SIGNING_SECRET_LEN {
        anyhow::bail!(
            "--signing-secret-file {}: {} bytes; a signing secret needs at least {} \
             (e.g. openssl rand -base64 32 > FILE)",
            path.display(),
            text.len(),
            keyway_auth::MIN_SIGNING_SECRET_LEN
        );
    }
    Ok(Some(secret))
}

/// Scope tokens of a command-line value: spaces or commas separate, as in --grant.
fn scope_tokens(value: &str) -> impl Iterator<Item = &str> {
    value.split([' ', ',']).filter(|token| !token.is_empty())
}

/// The update `keyway client update` asks for, with additions and removals applied to the
/// client's current scopes and redirect URIs.
async fn client_update(
    service: &AuthService,
    client_id: &str,
    args: &ClientUpdateArgs,
) -> anyhow::Result<ClientUpdate> {
    let nothing = args.name.is_none()
        && args.grants.is_none()
        && args.scope.is_none()
        && args.add_scope.is_none()
        && args.remove_scope.is_none()
        && args.redirect_uris.is_none()
        && args.add_redirect_uris.is_empty()
        && args.remove_redirect_uris.is_empty()
        && args.jwks_file.is_none()
        && args.jwks_uri.is_none()
        && args.require_par.is_none()
        && args.require_signed_request.is_none()
        && args.require_dpop.is_none()
        && args.signing_secret_file.is_none()
        && args.login_types.is_none()
        && args.require_mfa.is_none()
        && args.post_logout_redirect_uris.is_none()
        && args.backchannel_logout_uri.is_none()
        && args.transmit_url.is_none()
        && args.api_url.is_none();
    if nothing {
        anyhow::bail!(
            "nothing to change: give at least one of --name, --grant, --scope, --add-scope, \
             --remove-scope, --redirect-uri, --add-redirect-uri, --remove-redirect-uri, \
             --jwks-file, --jwks-uri, --require-par, --require-signed-request, --require-dpop, \
             --signing-secret-file, --login-types, --require-mfa, --post-logout-redirect-uri, \
             --backchannel-logout-uri, --transmit-url, --api-url"
        );
    }
    let current = service.show_client(client_id).await?;
    // A scope to remove that the client does not have is most likely a typo: say so.
    for token in args
        .remove_scope
        .as_deref()
        .map(scope_tokens)
        .into_iter()
        .flatten()
    {
        if !scope_tokens(&current.scope).any(|s| s == token) {
            anyhow::bail!(
                "client {} has no scope {token:?} to remove (it has: {})",
                args.client_id,
                current.scope
            );
        }
    }
    let scope = match (&args.scope, &args.add_scope, &args.remove_scope) {
        (Some(scope), _, _) => Some(scope_tokens(scope).collect::<Vec<_>>().join(" ")),
        (None, None, None) => None,
        (None, add, remove) => {
            let removed: Vec<&str> = remove
                .as_deref()
                .map(|r| scope_tokens(r).collect())
                .unwrap_or_default();
            let mut scopes: Vec<&str> = scope_tokens(&current.scope)
                .filter(|s| !removed.contains(s))
                .collect();
            for token in add.as_deref().map(scope_tokens).into_iter().flatten() {
                if !scopes.contains(&token) {
                    scopes.push(token);
                }
            }
            Some(scopes.join(" "))
        }
    };
    for uri in &args.remove_redirect_uris {
        if !current.redirect_uris.contains(uri) {
            anyhow::bail!(
                "client {} has no redirect URI {uri:?} to remove (it has: {})",
                args.client_id,
                current.redirect_uris.join(", ")
            );
        }
    }
    let redirect_uris = match &args.redirect_uris {
        Some(uris) => Some(uris.clone()),
        None if args.add_redirect_uris.is_empty() && args.remove_redirect_uris.is_empty() => None,
        None => {
            let mut uris: Vec<String> = current
                .redirect_uris
                .iter()
                .filter(|uri| !args.remove_redirect_uris.contains(uri))
                .cloned()
                .collect();
            for uri in &args.add_redirect_uris {
                if !uris.contains(uri) {
                    uris.push(uri.clone());
                }
            }
            Some(uris)
        }
    };
    Ok(ClientUpdate {
        name: args.name.clone(),
        grant_types: args.grants.clone(),
        scope,
        redirect_uris,
        jwks: read_jwks(args.jwks_file.as_deref())?,
        jwks_uri: args.jwks_uri.clone(),
        require_pushed_requests: args.require_par,
        require_signed_requests: args.require_signed_request,
        require_dpop: args.require_dpop,
        signing_secret: read_signing_secret(args.signing_secret_file.as_deref())?,
        login_types: args.login_types.as_deref().map(login_types),
        require_mfa: args.require_mfa,
        // '' alone removes them: an empty value is how a shell says "none".
        post_logout_redirect_uris: match args.post_logout_redirect_uris.as_deref() {
            Some([only]) if only.is_empty() => Some(Vec::new()),
            Some(uris) if uris.iter().any(String::is_empty) => anyhow::bail!(
                "--post-logout-redirect-uri '' removes them all: give it alone, or give only URIs"
            ),
            Some(uris) => Some(uris.to_vec()),
            None => None,
        },
        backchannel_logout_uri: args
            .backchannel_logout_uri
            .as_ref()
            .map(|uri| (!uri.is_empty()).then(|| uri.clone())),
        transmit_url: args
            .transmit_url
            .as_ref()
            .map(|uri| (!uri.is_empty()).then(|| uri.clone())),
        api_url: args
            .api_url
            .as_ref()
            .map(|uri| (!uri.is_empty()).then(|| uri.clone())),
    })
}

/// `--login-types` values (commas separate too, as in --grant); `all` alone means no
/// restriction.
fn login_types(values: &[String]) -> Vec<String> {
    let names: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if names == ["all"] { Vec::new() } else { names }
}

fn purpose(text: &str) -> anyhow::Result<keyway_auth::RulePurpose> {
    keyway_auth::RulePurpose::parse(text)
        .ok_or_else(|| anyhow::anyhow!("--for {text:?}: use transmit, exchange or call"))
}

/// Client id → "name (id)", for people reading rules.
pub(crate) async fn client_names(
    service: &AuthService,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    Ok(service
        .list_clients()
        .await?
        .into_iter()
        .map(|c| {
            let shown = format!("{} ({})", c.name, c.client_id);
            (c.client_id, shown)
        })
        .collect())
}

/// One rule, as `keyway client rules` lists it.
fn rule_line(
    rule: &keyway_auth::ClientRule,
    names: &std::collections::HashMap<String, String>,
) -> String {
    let name = |id: &String| names.get(id).cloned().unwrap_or_else(|| id.clone());
    let scope = match &rule.scope {
        Some(scope) => format!("scope {scope}"),
        None => "the user's own scopes".to_string(),
    };
    format!(
        "{} may {} {} ({scope})",
        name(&rule.from),
        rule.purpose.verb(),
        name(&rule.to)
    )
}

/// Says on stderr when `client`'s name is another client's too: from now on the name no
/// longer names a client (gateway calls, exchanges, rules and commands need the client_id).
async fn warn_if_name_shared(service: &AuthService, client: &ClientInfo) -> anyhow::Result<()> {
    let others: Vec<String> = service
        .clients_sharing_name(&client.name)
        .await?
        .into_iter()
        .filter(|id| *id != client.client_id)
        .collect();
    if !others.is_empty() {
        eprintln!(
            "warning: client {} ({}) has the name of {} other client(s) ({}): the name no longer \
             names one client, so gateway calls, token exchanges, rules and commands that use \
             it must give a client_id",
            client.name,
            client.client_id,
            others.len(),
            others.join(", ")
        );
    }
    Ok(())
}
