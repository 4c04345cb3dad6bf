//! `keyway backup` and `keyway restore`: a SQLite hub's database, copied while it serves and
//! sealed under its master key (`keyway_auth::seal_backup`, docs/backup.md); restored into a
//! new data directory, checked before it is put in place.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use keyway_auth::{BackupHeader, MasterKey, SystemEntropy};
use keyway_kernel::Clock;

use super::{open_store, print_json};
use crate::cli_backup::{BackupArgs, RestoreArgs};
use crate::settings::Settings;

/// Removes a file (and SQLite's companions of it) when dropped, unless kept.
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut name = self.path.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        }
    }
}

/// The SQLite file of `settings.database`, or why this command does not apply.
fn sqlite_file(settings: &Settings) -> anyhow::Result<PathBuf> {
    let url = &settings.database;
    let Some(rest) = url.strip_prefix("sqlite:") else {
        anyhow::bail!(
            "{} is not a SQLite store: keyway backup and restore are for SQLite hubs; back up \
             PostgreSQL with pg_dump and MariaDB with mariadb-dump (docs/deploy.md, \"Backups\")",
            settings.shown_database()
        );
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("{url} is not a database file");
    }
    Ok(PathBuf::from(path))
}

/// The hub's master key: --master-key-file, KEYWAY_MASTER_KEY_FILE, `master_key_file` in the
/// configuration, or `master.key` in the data directory. Never made here.
fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    let path = settings
        .master_key_file
        .clone()
        .or_else(|| settings.file.master_key_file.clone())
        .unwrap_or_else(|| settings.data_dir.join("master.key"));
    if !path.exists() {
        anyhow::bail!(
            "no master key at {}: a backup is sealed under the hub's master key; give it with \
             --master-key-file (or KEYWAY_MASTER_KEY_FILE), or copy it there (mode 0600)",
            path.display()
        );
    }
    Ok(MasterKey::load_or_create(
        &path,
        false,
        &SystemEntropy::default(),
    )?)
}

/// A new file at `path` (mode 0600) that must not exist yet.
fn create_private(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// `path` with `.SUFFIX-PID` appended: a scratch name beside it.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{suffix}-{}", std::process::id()));
    PathBuf::from(name)
}

fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

pub(crate) async fn backup(settings: Settings, args: BackupArgs) -> anyhow::Result<()> {
    sqlite_file(&settings)?;
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        anyhow::bail!(
            "--output {}: the directory {} does not exist",
            args.output.display(),
            parent.display()
        );
    }
    let key = master_key(&settings)?;
    let store = open_store(&settings).await?;
    key.check_against(&store).await?;
    // The plain copy stays in the data directory (0700), never beside the output.
    let snapshot = Scratch {
        path: beside(&settings.data_dir.join("backup.db"), "snapshot"),
        keep: false,
    };
    let copied = store.snapshot_sqlite_into(&snapshot.path).await;
    store.close().await;
    copied.context("cannot copy the database")?;
    let output = args.output.clone();
    let partial = Scratch {
        path: beside(&output, "partial"),
        keep: false,
    };
    let header = BackupHeader {
        created: keyway_kernel::SystemClock.now_secs(),
        keyway: env!("CARGO_PKG_VERSION").into(),
        content: "sqlite".into(),
        master_key_id: key.id().into(),
        chunk_bytes: keyway_auth::BACKUP_CHUNK as u32,
    };
    let (plain, sealed) = {
        let header = header.clone();
        let (from, to) = (snapshot.path.clone(), partial.path.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, u64)> {
            let mut input = BufReader::new(
                File::open(&from).with_context(|| format!("cannot read {}", from.display()))?,
            );
            let file = create_private(&to)?;
            let mut out = BufWriter::new(file);
            let plain = keyway_auth::seal_backup(
                &key,
                &header,
                &mut input,
                &mut out,
                &SystemEntropy::default(),
            )
            .with_context(|| format!("cannot write {}", to.display()))?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok((plain, file.metadata()?.len()))
        })
        .await??
    };
    std::fs::rename(&partial.path, &output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    sync_parent(&output);
    if args.json.json {
        print_json(&serde_json::json!({
            "output": output,
            "database_bytes": plain,
            "backup_bytes": sealed,
            "master_key_id": header.master_key_id,
            "created": header.created,
        }))?;
    } else {
        println!(
            "backup written to {} ({} bytes of database, sealed under master key {})",
            output.display(),
            plain,
            header.master_key_id
        );
        println!(
            "  restore it with: keyway restore --input {} --data-dir NEW_DIR --master-key-file KEY",
            output.display()
        );
        println!(
            "  keep the master key apart from the backup: without it the backup cannot be read"
        );
    }
    Ok(())
}

pub(crate) async fn restore(settings: Settings, args: RestoreArgs) -> anyhow::Result<()> {
    let database = sqlite_file(&settings)?;
    for suffix in ["", "-wal"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        if Path::new(&name).exists() {
            anyhow::bail!(
                "{} already exists: keyway restore writes a new data directory; stop the hub, \
                 move its data directory aside, and restore into an empty one",
                Path::new(&name).display()
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
    let mut restoring = Scratch {
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
    std::fs::rename(&restoring.path, &database)
        .with_context(|| format!("cannot write {}", database.display()))?;
    restoring.keep = true;
    // From here a failure must not leave a half-checked database where a hub would start.
    let placed = Scratch {
        path: database.clone(),
        keep: false,
    };
    let store = match keyway_store::Store::open_existing(&settings.database).await {
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
    let mut placed = placed;
    placed.keep = true;
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
