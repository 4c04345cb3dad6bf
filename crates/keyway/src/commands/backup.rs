//! `keyway backup`: a SQLite hub's database, copied while it serves and sealed under its
//! master key (`keyway_auth::seal_backup`, docs/backup.md). `restore.rs` puts one back.
//!
//! Every file these commands write is private (umask 077: SQLite's own companions too), the
//! plain copy lives only inside the data directory, and an interrupted run (Ctrl-C, SIGTERM)
//! removes what it had written.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use keyway_auth::{BackupHeader, MasterKey, SystemEntropy};
use keyway_kernel::Clock;

use super::{open_store, print_json};
use crate::cli_backup::BackupArgs;
use crate::settings::Settings;

/// Removes a file (and SQLite's companions of it) when dropped, unless kept.
pub(super) struct Scratch {
    pub(super) path: PathBuf,
    pub(super) keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            for suffix in SQLITE_FILES {
                let _ = std::fs::remove_file(with_suffix(&self.path, suffix));
            }
        }
    }
}

/// A SQLite database's file and its companions, as suffixes of its name.
pub(super) const SQLITE_FILES: [&str; 4] = ["", "-journal", "-wal", "-shm"];

/// `path` with `suffix` appended to its name.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The SQLite file of `settings.database`, or why this command does not apply.
pub(super) fn sqlite_file(settings: &Settings) -> anyhow::Result<PathBuf> {
    let url = &settings.database;
    if !url.starts_with("sqlite:") {
        anyhow::bail!(
            "{} is not a SQLite store: keyway backup and restore are for SQLite hubs; back up \
             PostgreSQL with pg_dump and MariaDB with mariadb-dump (docs/deploy.md, \"Backups\")",
            settings.shown_database()
        );
    }
    keyway_store::sqlite_file_of(url).ok_or_else(|| anyhow::anyhow!("{url} is not a database file"))
}

/// Makes every file this process creates private (SQLite's journals included).
pub(super) fn private_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Runs `work` unless SIGINT or SIGTERM comes first; then `work` is dropped (its scratch
/// files with it) and the command fails saying nothing was written.
pub(super) async fn unless_interrupted<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::select! {
        done = work => done,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted: nothing was written"),
        _ = term.recv() => anyhow::bail!("terminated: nothing was written"),
    }
}

/// The hub's master key: --master-key-file, KEYWAY_MASTER_KEY_FILE, `master_key_file` in the
/// configuration, or `master.key` in the data directory. Never made here.
pub(super) fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
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
pub(super) fn create_private(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// `path` with `.SUFFIX-PID` appended: a scratch name beside it.
pub(super) fn beside(path: &Path, suffix: &str) -> PathBuf {
    with_suffix(path, &format!(".{suffix}-{}", std::process::id()))
}

pub(super) fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

pub(crate) async fn backup(settings: Settings, args: BackupArgs) -> anyhow::Result<()> {
    private_files();
    unless_interrupted(make_backup(settings, args)).await
}

/// Refuses an `--output` that would destroy what it backs up or something else: a place
/// inside the data directory (the database, its key, its lock — and a backup there is lost
/// with the directory), the master key wherever it is, or an existing file that is not a
/// keyway backup.
fn check_output(settings: &Settings, output: &Path, database: &Path) -> anyhow::Result<()> {
    let shown = output.display();
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(parent) = parent.canonicalize() else {
        anyhow::bail!(
            "--output {shown}: the directory {} does not exist",
            parent.display()
        );
    };
    let name = output
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("--output {shown}: not a file name"))?;
    let target = parent.join(name);
    let inside = |dir: &Path| dir.canonicalize().is_ok_and(|dir| target.starts_with(dir));
    let database_dir = database.parent().unwrap_or(Path::new("."));
    if inside(&settings.data_dir) || inside(database_dir) {
        anyhow::bail!(
            "--output {shown} is inside the hub's data directory: write backups elsewhere (a \
             backup there is lost with the directory, and could replace the hub's own files)"
        );
    }
    let key_file = settings
        .master_key_file
        .clone()
        .or_else(|| settings.file.master_key_file.clone());
    if let Some(key_file) = key_file
        && key_file.canonicalize().is_ok_and(|key| key == target)
    {
        anyhow::bail!("--output {shown} is the master key file: write the backup elsewhere");
    }
    if let Ok(existing) = File::open(&target) {
        let mut magic = [0u8; 16];
        let read = std::io::Read::read(&mut &existing, &mut magic).unwrap_or(0);
        if read > 0 && !magic[..read].starts_with(keyway_auth::BACKUP_MAGIC) {
            anyhow::bail!(
                "--output {shown} exists and is not a keyway backup: remove it or choose \
                 another name"
            );
        }
    }
    Ok(())
}

/// Snapshots left by a backup that was killed: removed when their process is gone.
fn sweep_stale_snapshots(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("backup.db.snapshot-")
            .map(|rest| rest.split('-').next().unwrap_or(rest))
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

async fn make_backup(settings: Settings, args: BackupArgs) -> anyhow::Result<()> {
    let database = sqlite_file(&settings)?;
    check_output(&settings, &args.output, &database)?;
    sweep_stale_snapshots(&settings.data_dir);
    // The store first: a wrong or missing data directory is named as such.
    let store = open_store(&settings).await?;
    let key = master_key(&settings)?;
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
    let entropy = SystemEntropy::default();
    let header = BackupHeader {
        id: keyway_kernel::random_token(&entropy, 16),
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
