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
                    "set the password of {username}; their hub sessions have ended (tokens \
                     applications hold stay valid: --revoke-tokens revokes them)"
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
