//! `keyway restore`: a backup made by `keyway backup` into a new data directory. The
//! database is opened, migrated and checked under a scratch name, and only then linked into
//! place (a link never replaces: a database that appeared meanwhile is not overwritten).

use std::fs::File;
use std::io::{BufReader, BufWriter};

use anyhow::Context;

use super::backup::{
    SQLITE_FILES, Scratch, beside, create_private, master_key, private_files, sqlite_file,
    sync_parent, unless_interrupted, with_suffix,
};
use super::print_json;
use crate::cli_backup::RestoreArgs;
use crate::settings::Settings;

pub(crate) async fn restore(settings: Settings, args: RestoreArgs) -> anyhow::Result<()> {
    private_files();
    unless_interrupted(restore_into(settings, args)).await
}

async fn restore_into(settings: Settings, args: RestoreArgs) -> anyhow::Result<()> {
    let database = sqlite_file(&settings)?;
    for suffix in SQLITE_FILES {
        let path = with_suffix(&database, suffix);
        if path.exists() {
            anyhow::bail!(
                "{} already exists: keyway restore writes a new data directory; stop the hub, \
                 move its data directory aside, and restore into an empty one",
                path.display()
            );
        }
    }
    super::serve::prepare_data_dir(&settings.data_dir)?;
    // No hub may start on the directory while the database is put in place.
    let _lock = super::serve::lock_data_dir(&settings.data_dir)?;
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        keyway_kernel::create_private_dir(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let key = master_key(&settings)?;
    let input = args.input.clone();
    let mut reader = BufReader::new(
        File::open(&input).with_context(|| format!("cannot read {}", input.display()))?,
    );
    let (header, line) = keyway_auth::read_backup_header(&mut reader)
        .with_context(|| input.display().to_string())?;
    if header.content != "sqlite" {
        anyhow::bail!(
            "{} holds {:?}, not a SQLite database",
            input.display(),
            header.content
        );
    }
    let restoring = Scratch {
        path: beside(&database, "restoring"),
        keep: false,
    };
    let plain = {
        let (header, to) = (header.clone(), restoring.path.clone());
        let shown = input.display().to_string();
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mut out = BufWriter::new(create_private(&to)?);
            let plain = keyway_auth::open_backup(&key, &header, &line, &mut reader, &mut out)
                .with_context(|| shown.clone())?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            let mut magic = [0u8; 16];
            let read = std::io::Read::read(&mut File::open(&to)?, &mut magic)?;
            if read != magic.len() || &magic != b"SQLite format 3\0" {
                anyhow::bail!("{shown} opens, but holds no SQLite database (nothing was restored)");
            }
            Ok(plain)
        })
        .await??
    };
    // Opened, migrated and checked under its scratch name first.
    let scratch_url = format!("sqlite://{}", restoring.path.display());
    let store = match keyway_store::Store::open_existing(&scratch_url).await {
        Ok(store) => store,
        Err(keyway_store::StoreError::NotCreated(_)) => anyhow::bail!(
            "the database in {} is not a keyway store (nothing was restored)",
            input.display()
        ),
        Err(err) => {
            return Err(err).with_context(|| {
                format!(
                    "the database in {} cannot be opened (nothing was restored)",
                    input.display()
                )
            });
        }
    };
    let problems = store.integrity_problems().await;
    let key_matches = master_key(&settings)?.check_against(&store).await;
    store.close().await;
    let problems = problems.context("cannot check the restored database")?;
    if !problems.is_empty() {
        anyhow::bail!(
            "the database in {} is damaged (nothing was restored): {}",
            input.display(),
            problems.join("; ")
        );
    }
    key_matches?;
    // Closed cleanly, SQLite has folded its write-ahead log back into the file.
    if std::fs::metadata(with_suffix(&restoring.path, "-wal")).is_ok_and(|m| m.len() > 0) {
        anyhow::bail!(
            "the restored database kept a write-ahead log after it was closed (nothing was \
             restored): try again"
        );
    }
    std::fs::hard_link(&restoring.path, &database).with_context(|| {
        format!(
            "cannot put the database at {} (did something create it meanwhile?)",
            database.display()
        )
    })?;
    // The scratch name goes (its guard removes it); the database stays under its own.
    drop(restoring);
    sync_parent(&database);
    if args.json.json {
        print_json(&serde_json::json!({
            "database": database,
            "database_bytes": plain,
            "master_key_id": header.master_key_id,
            "created": header.created,
        }))?;
    } else {
        println!(
            "restored {} ({} bytes, made {} by keyway {}) into {}",
            input.display(),
            plain,
            keyway_kernel::rfc3339::format_unix_secs(header.created),
            header.keyway,
            database.display()
        );
        let key_flag = if settings.master_key_file.is_some() {
            " --master-key-file (the same key file)"
        } else {
            ""
        };
        println!(
            "  start it with: keyway serve --data-dir {}{key_flag}",
            settings.data_dir.display()
        );
    }
    Ok(())
}
