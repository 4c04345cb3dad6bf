use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe, ConnectOptions, Executor};

use crate::StoreError;
use crate::group_commit::GroupCommit;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    /// Picks the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::Mysql),
            _ => Err(StoreError::UnsupportedUrl(url.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }
}

/// A handle on the hub's database. Cheap to clone.
///
/// SQLite allows one writer at a time, so it gets a single-connection writer pool beside a
/// reader pool (WAL lets readers run during a write); the server backends share one pool.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
    /// SQLite only: batches concurrent single-row writes into one transaction.
    group: Option<GroupCommit>,
    /// How long access tokens live (seconds): how long a revoked family's deny-list marker
    /// must stay (`grants.rs`). Set by the auth service; a day until then.
    access_token_ttl: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Store {
    /// Connects to `url` and applies pending migrations.
    ///
    /// `sqlite:` URLs create the database file when it is missing and switch it to WAL mode.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a store that `keyway serve` created, applying pending migrations, but never
    /// creates one: a missing SQLite file or a server database without keyway's tables is
    /// [`StoreError::NotCreated`] (an admin command run from the wrong directory must not
    /// start a second, empty store beside the hub's).
    pub async fn open_existing(url: &str) -> Result<Store, StoreError> {
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite
            && let Some(path) = sqlite_file(url)
            && !path.is_file()
        {
            return Err(StoreError::NotCreated(path.display().to_string()));
        }
        let store = Store::connect(url).await?;
        let created = sqlx::query("SELECT COUNT(*) FROM keyway_migrations")
            .fetch_one(store.reader())
            .await
            .is_ok();
        if !created {
            store.close().await;
            return Err(StoreError::NotCreated(redact_url(url)));
        }
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to `url` without touching its schema.
    pub(crate) async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = normalise_url(backend, url);
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let store = match backend {
            Backend::Sqlite => {
                if let Some(path) = sqlite_file(&url) {
                    keep_private(&path)?;
                }
                let writer = sqlite_pool(&options, 1, WRITER_CACHE_KIB).await?;
                // For a new file only (before WAL mode writes its header): linking dirties pages
                // at random and 16 KiB pages were ~10% faster than 4 KiB (64 KiB no better).
                writer.execute("PRAGMA page_size = 16384").await?;
                writer.execute("PRAGMA journal_mode = WAL").await?;
                let reader = sqlite_pool(&options, 4, READER_CACHE_KIB).await?;
                Store {
                    backend,
                    reader,
                    group: Some(GroupCommit::start(writer.clone())),
                    writer,
                    access_token_ttl: Default::default(),
                }
            }
            Backend::Postgres | Backend::Mysql => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Store {
                    backend,
                    reader: pool.clone(),
                    writer: pool,
                    group: None,
                    access_token_ttl: Default::default(),
                }
            }
        };
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Tells the store how long access tokens may live (the longest lifetime ever configured:
    /// `longest_access_token_ttl`), so that a revoked family's marker on the deny-list
    /// outlives every access token of the family.
    pub fn set_access_token_ttl(&self, secs: i64) {
        self.access_token_ttl
            .store(secs, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long a revoked family's deny-list marker stays: at least a day, longer when access
    /// tokens live longer (plus a minute of clock skew). At least a day because an admin
    /// command may revoke with another configuration than the serving hub's (markers are one
    /// row per revoked family: keeping them a day costs nothing).
    pub(crate) fn family_marker_ttl(&self) -> i64 {
        let ttl = self
            .access_token_ttl
            .load(std::sync::atomic::Ordering::Relaxed);
        (ttl + 60).max(86_400)
    }

    /// Pool for statements that only read.
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// The group-commit writer (SQLite only).
    pub(crate) fn group_commit(&self) -> Option<&GroupCommit> {
        self.group.as_ref()
    }

    /// Pool for statements that write (one connection on SQLite).
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Rewrites a query written with `?` placeholders into this backend's dialect.
    ///
    /// Our SQL never holds a literal `?`, and every value is bound, never pasted, which is why
    /// the result may be asserted SQL-safe.
    pub fn sql(&self, query: &str) -> AssertSqlSafe<String> {
        if self.backend != Backend::Postgres || !query.contains('?') {
            return AssertSqlSafe(query.to_string());
        }
        let mut out = String::with_capacity(query.len() + 8);
        let mut n = 0;
        for ch in query.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        AssertSqlSafe(out)
    }

    /// Answers whether the database responds (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.reader.execute("SELECT 1").await?;
        Ok(())
    }

    /// Closes every connection, waiting for running statements.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

fn normalise_url(backend: Backend, url: &str) -> String {
    match backend {
        // Create the file on first start; sqlx wants `mode=rwc` for that.
        Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        }
        Backend::Mysql if url.starts_with("mariadb:") => url.replacen("mariadb:", "mysql:", 1),
        _ => url.to_string(),
    }
}

/// `url` without its password, fit to print.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The file of a `sqlite:` URL (none for in-memory databases).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// The database holds secret digests and linkage data: a new file is created 0600 before
/// SQLite opens it (its `-wal` and `-shm` files take the database file's mode), and an
/// existing one that others can read is made private, with a warning.
fn keep_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            // Let SQLite report a missing directory or a read-only place in its own words.
            Err(_) => return Ok(()),
        }
        for file in [
            path.to_path_buf(),
            PathBuf::from(format!("{}-wal", path.display())),
            PathBuf::from(format!("{}-shm", path.display())),
        ] {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %file.display(),
                    mode = format!("{mode:04o}"),
                    "the database file was readable by others; making it private (0600)"
                );
                keyway_kernel::restrict_to_owner(&file)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// SQLite page caches. The writer's must hold every page a linking chunk dirties (100,000
/// records insert at random places into the hash and UUID B-trees of a large table): a page
/// evicted mid-transaction is written to the WAL twice. Memory is only taken as pages are
/// used. Readers read through the memory map and need little cache of their own.
const WRITER_CACHE_KIB: u32 = 256 * 1024;
const READER_CACHE_KIB: u32 = 16 * 1024;

async fn sqlite_pool(
    options: &AnyConnectOptions,
    size: u32,
    cache_kib: u32,
) -> Result<AnyPool, StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        // A local file cannot drop the connection: pinging it before every query only adds a
        // worker-thread round trip to each statement (a third of a create's time).
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // busy_timeout lets the CLI write while the hub runs; NORMAL is durable in WAL.
                // Memory-mapped reads: no pread (and copy) per page read.
                let pragmas = format!(
                    "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{cache_kib}; \
                     PRAGMA mmap_size = 1073741824; PRAGMA temp_store = MEMORY;"
                );
                conn.execute(AssertSqlSafe(pragmas)).await?;
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_backend_from_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://h/db").ok(), Some(Backend::Mysql));
        assert!(matches!(
            Backend::from_url("redis://h"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }

    #[test]
    fn printed_urls_carry_no_password() {
        assert_eq!(
            redact_url("postgres://kw:s3cret@db:5432/keyway"),
            "postgres://kw@db:5432/keyway"
        );
        assert_eq!(redact_url("mysql://root@h/test"), "mysql://root@h/test");
        assert_eq!(redact_url("sqlite:k.db"), "sqlite:k.db");
    }

    #[tokio::test]
    async fn opening_an_existing_store_never_creates_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyway.db");
        let url = format!("sqlite://{}", path.display());
        let err = Store::open_existing(&url).await.unwrap_err();
        assert!(matches!(&err, StoreError::NotCreated(place) if place.contains("keyway.db")));
        assert!(!path.exists(), "no file may be created");
        // An empty file is not a store either.
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            Store::open_existing(&url).await,
            Err(StoreError::NotCreated(_))
        ));
        std::fs::remove_file(&path).unwrap();
        Store::open(&url).await.unwrap().close().await;
        Store::open_existing(&url).await.unwrap().close().await;
    }

    #[test]
    fn sqlite_files_are_found_in_urls() {
        assert_eq!(
            sqlite_file("sqlite:///tmp/k.db?mode=rwc"),
            Some(PathBuf::from("/tmp/k.db"))
        );
        assert_eq!(sqlite_file("sqlite:k.db"), Some(PathBuf::from("k.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_database_and_its_wal_are_private_and_an_open_one_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyway.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::open(&url).await.unwrap();
        store.close().await;
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("keyway.db"), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = Store::open(&url).await.unwrap();
        assert_eq!(mode("keyway.db"), 0o600);
        assert_eq!(mode("keyway.db-wal"), 0o600);
        store.close().await;
    }

    #[test]
    fn sqlite_url_gets_create_mode() {
        assert_eq!(
            normalise_url(Backend::Sqlite, "sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            normalise_url(Backend::Sqlite, "sqlite://a.db?x=1"),
            "sqlite://a.db?x=1&mode=rwc"
        );
    }
}
