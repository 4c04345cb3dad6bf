use std::io::BufRead;

use anyhow::Context;
use keyway_auth::{NewUser, SecretString};
use serde_json::json;

use super::{open_service, print_json, when};
use crate::cli::UserCommand;
use crate::settings::Settings;

pub(crate) async fn run(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let service = open_service(&settings).await?;
    match command {
        UserCommand::Create {
            username,
            password_stdin,
            json,
        } => {
            let password = read_password(password_stdin)?;
            let user = service.create_user(NewUser { username, password }).await?;
            if json.json {
                print_json(&user)?;
            } else {
                println!("created user {} ({})", user.username, user.user_id);
            }
        }
        UserCommand::Update {
            username,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            json,
        } => {
            if email.is_none()
                && email_verified.is_none()
                && name.is_none()
                && given_name.is_none()
                && family_name.is_none()
            {
                anyhow::bail!(
                    "nothing to change: give at least one of --email, --email-verified, --name, \
                     --given-name, --family-name"
                );
            }
            let user = service
                .update_user(
                    &username,
                    keyway_auth::ProfileUpdate {
                        email,
                        email_verified,
                        name,
                        given_name,
                        family_name,
                    },
                )
                .await?;
            if json.json {
                print_json(&user)?;
            } else {
                println!("updated {username}");
            }
        }
        UserCommand::Grant { username, scope } => {
            service.grant_user_scopes(&username, &scope).await?;
            println!("granted {scope} to {username}");
        }
        UserCommand::Revoke { username, scope } => {
            let removed = service.revoke_user_scopes(&username, &scope).await?;
            println!("took {removed} scope(s) from {username}");
        }
        UserCommand::Disable { username } => {
            service.disable_user(&username).await?;
            println!(
                "disabled {username}: they cannot sign in; their sessions ended and their tokens \
                 are revoked"
            );
        }
        UserCommand::Enable { username } => {
            service.enable_user(&username).await?;
            println!("enabled {username}");
        }
        UserCommand::Sessions { username, json } => {
            let sessions = service.user_sessions(&username).await?;
            if json.json {
                print_json(&sessions)?;
            } else if sessions.is_empty() {
                println!("{username} has no live hub sessions");
            } else {
                println!(
                    "{:<14} {:<20} {:<22} EXPIRES",
                    "SESSION", "SIGNED IN WITH", "SIGNED IN"
                );
                for s in sessions {
                    println!(
                        "{:<14} {:<20} {:<22} {}",
                        s.id,
                        s.login_method,
                        when(s.signed_in_at),
                        when(s.expires_at)
                    );
                }
            }
        }
        UserCommand::Totp { command } => totp(&service, command).await?,
        UserCommand::Passkey { command } => passkey(&service, command).await?,
        UserCommand::Logout {
            username,
            revoke_tokens,
        } => {
            let ended = service.logout_user(&username, revoke_tokens).await?;
            let tokens = if revoke_tokens {
                "; every token issued for them is revoked"
            } else {
                ""
            };
            println!("ended {ended} hub session(s) of {username}{tokens}");
        }
        UserCommand::List(flag) => {
            let users = service.list_users().await?;
            if flag.json {
                print_json(&users)?;
            } else {
                println!("{:<24} {:<32} CREATED", "USERNAME", "USER_ID");
                for u in users {
                    println!(
                        "{:<24} {:<32} {}",
                        u.username,
                        u.user_id,
                        when(u.created_at)
                    );
                }
            }
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
            revoke_tokens,
            json,
        } => {
            let password = read_password(password_stdin)?;
            service
                .set_password(&username, &password, revoke_tokens)
                .await?;
            if json.json {
                print_json(&json!({
                    "username": username,
                    "password_set": true,
                    "tokens_revoked": revoke_tokens,
                }))?;
            } else if revoke_tokens {
                println!(
                    "set the password of {username}; their hub sessions have ended and every \
                     token issued for them is revoked"
                );
            } else {
                println!(
                    "set the password of {username}; their hub sessions have ended with the \
                     tokens they gave (offline_access tokens stay valid: --revoke-tokens revokes \
                     them)"
                );
            }
        }
        UserCommand::Show { username, json } => {
            let user = service.show_user(&username).await?;
            let identities = service.upstream_identities(&username).await?;
            let (granted, held) = service.user_scopes(&username).await?;
            let recovery_left = service.totp_status(&username).await?;
            let passkeys = service.passkeys(&username).await?;
            if json.json {
                let mut value = serde_json::to_value(&user)?;
                if let Some(map) = value.as_object_mut() {
                    map.insert("totp".into(), json!(recovery_left.is_some()));
                    map.insert("recovery_codes_left".into(), json!(recovery_left));
                    map.insert("passkeys".into(), json!(passkeys));
                    map.insert("upstream_identities".into(), json!(identities));
                    map.insert("granted_scopes".into(), json!(granted));
                    map.insert("held_scopes".into(), json!(held));
                }
                print_json(&value)?;
            } else {
                println!("username:  {}", user.username);
                println!("user_id:   {}", user.user_id);
                println!("created:   {}", when(user.created_at));
                if !held.is_empty() {
                    println!(
                        "scopes:    {} (granted to them: {})",
                        held.join(" "),
                        granted.join(" ")
                    );
                }
                if user.disabled {
                    println!("status:    disabled (keyway user enable {})", user.username);
                }
                match recovery_left {
                    Some(left) => {
                        println!("2nd factor: TOTP ({left} of 10 recovery codes left)")
                    }
                    None if passkeys.is_empty() => println!(
                        "2nd factor: none (keyway user totp enroll {username}, or a passkey \
                         they add at /account/passkeys)"
                    ),
                    None => println!("2nd factor: passkey"),
                }
                if !passkeys.is_empty() {
                    // Quoted and escaped: a name is the person's own text.
                    let names: Vec<String> =
                        passkeys.iter().map(|p| format!("{:?}", p.name)).collect();
                    println!("passkeys:  {} ({})", passkeys.len(), names.join(", "));
                }
                if let Some(email) = &user.email {
                    let verified = if user.email_verified {
                        "verified"
                    } else {
                        "not verified"
                    };
                    println!("email:     {email} ({verified})");
                }
                for (label, value) in [
                    ("name:     ", &user.name),
                    ("given:    ", &user.given_name),
                    ("family:   ", &user.family_name),
                ] {
                    if let Some(value) = value {
                        println!("{label} {value}");
                    }
                }
                if identities.is_empty() {
                    println!("upstream:  none linked (signs in with a password)");
                }
                for identity in identities {
                    println!(
                        "upstream:  {} subject {:?} (linked {})",
                        identity.upstream,
                        identity.subject,
                        when(identity.created_at)
                    );
                }
            }
        }
        UserCommand::Link {
            username,
            upstream,
            subject,
            json,
        } => {
            // A name keyway.toml does not configure is most likely a typo; say which exist.
            let configured: Vec<&str> = settings
                .file
                .login
                .upstream
                .iter()
                .map(|u| u.name.as_str())
                .collect();
            if settings.config_path.is_some() && !configured.contains(&upstream.as_str()) {
                anyhow::bail!(
                    "--upstream {upstream:?} is not configured in the configuration file (it has: \
                     {})",
                    if configured.is_empty() {
                        "none".to_string()
                    } else {
                        configured.join(", ")
                    }
                );
            }
            service
                .link_upstream_identity(&username, &upstream, &subject)
                .await?;
            if json.json {
                print_json(&json!({
                    "username": username,
                    "upstream": upstream,
                    "subject": subject,
                }))?;
            } else {
                println!(
                    "linked {upstream} subject {subject:?} to {username}: signing in through \
                     {upstream} now signs in as {username}"
                );
            }
        }
        UserCommand::Delete { username, json } => {
            service.delete_user(&username).await?;
            if json.json {
                print_json(&json!({ "deleted": username }))?;
            } else {
                println!("deleted user {username}; their sessions and tokens are revoked");
            }
        }
    }
    service.store().close().await;
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<SecretString> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        return Ok(SecretString::new(password));
    }
    let first = rpassword::prompt_password("Password: ")
        .context("cannot prompt for a password (no terminal?): use --password-stdin")?;
    let again = rpassword::prompt_password("Repeat password: ")?;
    if first != again {
        anyhow::bail!("the passwords differ");
    }
    Ok(SecretString::new(first))
}

/// `keyway user passkey list|remove`.
async fn passkey(
    service: &keyway_auth::AuthService,
    command: crate::cli_users::PasskeyCommand,
) -> anyhow::Result<()> {
    use crate::cli_users::PasskeyCommand;
    match command {
        PasskeyCommand::List { username, json } => {
            let passkeys = service.passkeys(&username).await?;
            if json.json {
                return print_json(&passkeys);
            }
            if passkeys.is_empty() {
                println!("{username} has no passkey (they add one at /account/passkeys)");
            }
            for key in &passkeys {
                let used = key.last_used_at.map_or_else(|| "never".to_string(), when);
                let copied = key.compromised_at.map_or_else(String::new, |at| {
                    format!(
                        "  REFUSED since {}: its counter went backwards (a copy?)",
                        when(at)
                    )
                });
                println!(
                    "{}  {:?}  added {}  last used {used}{copied}",
                    key.id,
                    key.name,
                    when(key.created_at)
                );
            }
        }
        PasskeyCommand::Remove {
            username,
            passkey,
            json,
        } => {
            let removed = service.remove_passkey(&username, &passkey).await?;
            if json.json {
                return print_json(&removed);
            }
            println!(
                "removed passkey {:?} of {username}; their sessions have ended",
                removed.name
            );
        }
    }
    Ok(())
}

/// `keyway user totp enroll|remove`.
async fn totp(
    service: &keyway_auth::AuthService,
    command: crate::cli_users::TotpCommand,
) -> anyhow::Result<()> {
    use crate::cli_users::TotpCommand;
    match command {
        TotpCommand::Enroll {
            username,
            replace,
            json,
        } => {
            let enrolment = service.enroll_totp(&username, replace).await?;
            if json.json {
                return print_json(&enrolment);
            }
            let qr = qrcode::QrCode::new(enrolment.otpauth_uri.as_bytes())
                .context("making the QR code")?
                .render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build();
            println!("{qr}");
            println!("Scan the code with an authenticator app, or enter the secret by hand:");
            println!("  {}", enrolment.secret);
            println!("  ({})", enrolment.otpauth_uri);
            println!();
            println!(
                "Recovery codes for {username} (each works once instead of a code; shown only \
                 now):"
            );
            for code in &enrolment.recovery_codes {
                println!("  {code}");
            }
        }
        TotpCommand::Remove { username } => {
            service.remove_totp(&username).await?;
            println!("{username} signs in with the password alone again");
        }
    }
    Ok(())
}
