use anyhow::Context;
use keyway_auth::KeyRing;
use serde_json::json;

use super::{open_service, print_json, when};
use crate::cli_keys::KeysCommand;
use crate::settings::Settings;

pub(crate) async fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let service = open_service(&settings).await?;
    match command {
        KeysCommand::Rotate(flag) => {
            let kid = service.rotate_signing_key().await?;
            let next = service.keys().next_kid().unwrap_or_default();
            if flag.json {
                print_json(&json!({ "signing_kid": kid, "next_kid": next }))?;
            } else {
                println!("now signing with {kid} (it was published before this rotation)");
                println!("published next key {next}");
                println!("the previous key stays published until its tokens have expired");
            }
        }
        KeysCommand::Toki(flag) => {
            let (service_id, key) = keyway_hub::hub_identity(&settings.data_dir, &service).await?;
            let public = key.public_key();
            if flag.json {
                print_json(
                    &json!({ "service": service_id.as_str(), "toki_key": public.to_string(), "hello": keyway_hub::TOKI_HELLO_PATH }),
                )?;
            } else {
                println!("service:  {service_id}");
                println!("toki key: {public}");
            }
        }
        KeysCommand::RotateMaster(args) => {
            // A hub serving this SQLite store would go on sealing under the old key.
            let _lock = if settings.database.starts_with("sqlite:") {
                Some(
                    super::serve::lock_data_dir(&settings.data_dir)
                        .context("keys rotate-master needs the hub stopped")?,
                )
            } else {
                None
            };
            let (id, count) = service.rotate_master_key(&args.new_key_file).await?;
            // The default key file is the data directory's: it now holds the new key, and the
            // old one (which opens only backups made before now) is kept beside it.
            let default_file = settings.data_dir.join("master.key");
            let uses_default =
                settings.master_key_file.is_none() && settings.file.master_key_file.is_none();
            let mut kept_old = None;
            if uses_default {
                let old_copy = settings.data_dir.join(format!("master.key.before-{id}"));
                std::fs::rename(&default_file, &old_copy)
                    .with_context(|| format!("keeping the old key as {}", old_copy.display()))?;
                let new_text = keyway_kernel::read_private_file(&args.new_key_file)?;
                keyway_kernel::write_private_file(&settings.data_dir, &default_file, &new_text)?;
                kept_old = Some(old_copy);
            }
            if args.json.json {
                print_json(&json!({
                    "master_key_id": id,
                    "sealed_again": count,
                    "default_key_file_replaced": uses_default,
                    "old_key_kept_at": kept_old.as_ref().map(|p| p.display().to_string()),
                }))?;
            } else {
                println!("{count} secrets are now sealed under master key {id}");
                match &kept_old {
                    Some(old) => {
                        println!("{} now holds the new key", default_file.display());
                        println!(
                            "the old key, which opens only backups made before now, is {}: \
                             move it off this machine with those backups",
                            old.display()
                        );
                    }
                    None => {
                        println!(
                            "start every hub node with --master-key-file {} (or \
                             KEYWAY_MASTER_KEY_FILE / master_key_file)",
                            args.new_key_file.display()
                        );
                        println!(
                            "the old key opens only backups made before now: keep it with them"
                        );
                    }
                }
            }
        }
        KeysCommand::List(flag) => {
            let keys = KeyRing::list(service.store()).await?;
            if flag.json {
                print_json(&keys)?;
            } else {
                println!(
                    "{:<45} {:<6} {:<8} {:<21} UNTIL",
                    "KID", "ALG", "STATE", "CREATED"
                );
                for k in keys {
                    let until = k.expires_at.map(when).unwrap_or_default();
                    println!(
                        "{:<45} {:<6} {:<8} {:<21} {}",
                        k.kid,
                        k.alg,
                        k.state,
                        when(k.created_at),
                        until
                    );
                }
            }
        }
    }
    service.store().close().await;
    Ok(())
}
