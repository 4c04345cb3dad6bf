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
            let (id, count) = service.rotate_master_key(&args.new_key_file).await?;
            if args.json.json {
                print_json(&json!({ "master_key_id": id, "sealed_again": count }))?;
            } else {
                println!("{count} secrets are now sealed under master key {id}");
                println!(
                    "start every hub node with master_key_file / KEYWAY_MASTER_KEY_FILE = {}",
                    args.new_key_file.display()
                );
                println!("keep the old key file until a backup made after this exists");
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
