//! Starts a hub on a free port with a controllable clock and a fresh database.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use keyway_auth::{
    AuthConfig, AuthService, Clock, NewClient, NewUser, SecretString, SystemClock, SystemEntropy,
};
use keyway_hub::{Hub, HubOptions};
use sqlx::Executor;
use tokio::sync::oneshot;

/// A clock the test moves by hand.
pub(crate) struct ManualClock(AtomicI64);

impl ManualClock {
    pub(crate) fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
    pub(crate) fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite,
    Server {
        kind: &'static str,
        base_url: String,
    },
}

/// The backends this run tests. A URL that is set but unreachable fails the test.
pub(crate) fn backends() -> Vec<Backend> {
    let mut list = vec![Backend::Sqlite];
    for (kind, var) in [
        ("postgres", "KEYWAY_TEST_POSTGRES_URL"),
        ("mysql", "KEYWAY_TEST_MYSQL_URL"),
    ] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => list.push(Backend::Server {
                kind,
                base_url: url,
            }),
            _ => {
                // Once per test binary: every test runs on every backend.
                static ONCE: std::sync::Once = std::sync::Once::new();
                static ONCE_MYSQL: std::sync::Once = std::sync::Once::new();
                let once = if kind == "postgres" {
                    &ONCE
                } else {
                    &ONCE_MYSQL
                };
                once.call_once(|| {
                    keyway_kernel::report_skip(
                        &format!("hub tests on the {kind} backend"),
                        &format!("{var} is not set"),
                        &format!("set {var} to a database URL the tests may create databases in"),
                    );
                });
            }
        }
    }
    list
}

pub(crate) struct TestHub {
    pub base: String,
    pub auth: Arc<AuthService>,
    pub clock: Arc<ManualClock>,
    pub backend: String,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// Replaces the database name (the URL path) of a server URL.
fn with_database(base_url: &str, name: &str) -> String {
    let (prefix, rest) = base_url.split_at(base_url.find("://").map(|i| i + 3).unwrap_or(0));
    let (authority, query) = match rest.find('/') {
        Some(i) => {
            let path_and_query = &rest[i..];
            let query = path_and_query
                .find('?')
                .map(|q| &path_and_query[q..])
                .unwrap_or("");
            (&rest[..i], query)
        }
        None => (rest, ""),
    };
    format!("{prefix}{authority}/{name}{query}")
}

/// A fresh, empty database on `backend` (a file in a temporary directory for SQLite), and a
/// future that removes it.
pub(crate) async fn scratch_database(
    backend: &Backend,
) -> (
    String,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("scratch.db").display());
            (url, Box::pin(async move { drop(dir) }))
        }
        Backend::Server { base_url, .. } => {
            let name = format!(
                "kw_scratch_{}",
                keyway_auth::random_token(&SystemEntropy::default(), 9)
                    .to_lowercase()
                    .replace(['-', '_'], "x")
            );
            admin_execute(base_url, &format!("CREATE DATABASE {name}")).await;
            let base = base_url.clone();
            let url = with_database(base_url, &name);
            let drop = Box::pin(async move {
                admin_execute(&base, &format!("DROP DATABASE {name}")).await;
            });
            (url, drop as _)
        }
    }
}

pub(crate) async fn admin_execute(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap_or_else(|e| panic!("test database {url} is set but unreachable: {e}"));
    conn.execute(sqlx::AssertSqlSafe(sql.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

impl TestHub {
    pub(crate) async fn start(backend: &Backend) -> TestHub {
        TestHub::start_with(backend, |_| {}).await
    }

    pub(crate) async fn start_with(
        backend: &Backend,
        tweak: impl FnOnce(&mut AuthConfig),
    ) -> TestHub {
        TestHub::start_full(backend, tweak, None, None, Vec::new(), Default::default()).await
    }

    /// A hub on `listener` (bound by the test, which needed its address first) that lets
    /// people sign in through `upstreams`.
    pub(crate) async fn start_with_upstreams(
        backend: &Backend,
        listener: tokio::net::TcpListener,
        upstreams: Vec<keyway_auth::UpstreamProvider>,
    ) -> TestHub {
        TestHub::start_full(
            backend,
            |_| {},
            None,
            Some(listener),
            upstreams,
            Default::default(),
        )
        .await
    }

    /// A hub serving the data API for the schema file `schemas`.
    pub(crate) async fn start_with_schemas(
        backend: &Backend,
        schemas: std::path::PathBuf,
    ) -> TestHub {
        TestHub::start_full(
            backend,
            |_| {},
            Some(schemas),
            None,
            Vec::new(),
            Default::default(),
        )
        .await
    }

    /// As [`TestHub::start_with_schemas`], with the OAuth policy tweaked.
    pub(crate) async fn start_with_schemas_and(
        backend: &Backend,
        schemas: std::path::PathBuf,
        tweak: impl FnOnce(&mut AuthConfig),
    ) -> TestHub {
        TestHub::start_full(
            backend,
            tweak,
            Some(schemas),
            None,
            Vec::new(),
            Default::default(),
        )
        .await
    }

    /// A hub whose gateway has `gateway`'s limits.
    pub(crate) async fn start_with_gateway(
        backend: &Backend,
        gateway: keyway_hub::GatewayOptions,
    ) -> TestHub {
        TestHub::start_full(backend, |_| {}, None, None, Vec::new(), gateway).await
    }

    async fn start_full(
        backend: &Backend,
        tweak: impl FnOnce(&mut AuthConfig),
        schemas: Option<std::path::PathBuf>,
        listener: Option<tokio::net::TcpListener>,
        upstreams: Vec<keyway_auth::UpstreamProvider>,
        gateway: keyway_hub::GatewayOptions,
    ) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, database, label) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("keyway.db").display()),
                None,
                "sqlite".to_string(),
            ),
            Backend::Server { kind, base_url } => {
                let name = format!(
                    "kw_test_{}",
                    keyway_auth::random_token(&SystemEntropy::default(), 9)
                        .to_lowercase()
                        .replace(['-', '_'], "x")
                );
                admin_execute(base_url, &format!("CREATE DATABASE {name}")).await;
                (
                    with_database(base_url, &name),
                    Some((base_url.clone(), name)),
                    kind.to_string(),
                )
            }
        };
        let listener = match listener {
            Some(listener) => listener,
            None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = AuthConfig::new(&base);
        tweak(&mut config);
        let options = HubOptions {
            data_dir: dir.path().to_path_buf(),
            database_url: database_url.clone(),
            auth: config,
            schemas: schemas.clone(),
            allow_drop_columns: false,
            data_page_size: None,
            link_rule_priority: None,
            trusted_proxies: Vec::new(),
            connections: test_limits(),
            upstreams,
            gateway,
            tls: None,
            ca_file: None,
        };
        TestHub::serve(options, listener, base, label, database, dir).await
    }

    async fn serve(
        options: HubOptions,
        listener: tokio::net::TcpListener,
        base: String,
        label: String,
        database: Option<(String, String)>,
        dir: tempfile::TempDir,
    ) -> TestHub {
        let clock = Arc::new(ManualClock(AtomicI64::new(SystemClock.now_ms())));
        let hub = Hub::open_with(&options, clock.clone(), Arc::new(SystemEntropy::default()))
            .await
            .unwrap();
        let auth = hub.state.auth.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            hub.serve(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestHub {
            base,
            auth,
            clock,
            backend: label,
            database_url: options.database_url,
            shutdown: Some(tx),
            server: Some(server),
            database,
            _dir: dir,
        }
    }

    /// Another node of this hub's cluster: the same store, issuer and master key file, its own
    /// data directory, address and caches (its `base` is its own address; tokens name the
    /// first node's issuer). Finish it before the first node, which drops the database.
    pub(crate) async fn second_node(&self) -> TestHub {
        self.second_node_on(&self.database_url).await
    }

    /// As [`TestHub::second_node`], reaching the store at `database_url` (the same database
    /// through a proxy the test controls).
    pub(crate) async fn second_node_on(&self, database_url: &str) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = self.auth.config().clone();
        config.master_key_file = Some(self._dir.path().join("master.key"));
        config.node_id = format!("{}-2", config.node_id);
        let options = plain_options(dir.path(), database_url, config);
        TestHub::serve(options, listener, base, self.backend.clone(), None, dir).await
    }

    /// Rows in `table` of this hub's database (tests that check what a request wrote).
    pub(crate) async fn count_rows(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.database_url)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and drops the per-test database.
    pub(crate) async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some((base_url, name)) = self.database.take() {
            admin_execute(&base_url, &format!("DROP DATABASE {name}")).await;
        }
    }

    pub(crate) async fn client(
        &self,
        grants: &[&str],
        scope: &str,
        redirect: &[&str],
    ) -> (String, String) {
        self.client_with_policy(
            grants,
            scope,
            redirect,
            keyway_auth::ClientPolicy::default(),
        )
        .await
    }

    /// A confidential client held to `policy` (PAR, signed requests, DPoP…): (id, secret).
    pub(crate) async fn client_with_policy(
        &self,
        grants: &[&str],
        scope: &str,
        redirect: &[&str],
        policy: keyway_auth::ClientPolicy,
    ) -> (String, String) {
        let registered = self
            .auth
            .create_client(NewClient {
                name: "test client".into(),
                grant_types: grants.iter().map(|g| g.to_string()).collect(),
                scope: scope.into(),
                redirect_uris: redirect.iter().map(|r| r.to_string()).collect(),
                policy,
                ..NewClient::default()
            })
            .await
            .unwrap();
        let secret = registered
            .client_secret
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        (registered.client.client_id, secret)
    }

    pub(crate) async fn public_client(&self, scope: &str, redirect: &str) -> String {
        self.auth
            .create_client(NewClient {
                name: "public app".into(),
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                scope: scope.into(),
                redirect_uris: vec![redirect.into()],
                public: true,
                ..NewClient::default()
            })
            .await
            .unwrap()
            .client
            .client_id
    }

    pub(crate) async fn user(&self, username: &str, password: &str) {
        self.auth
            .create_user(NewUser {
                username: username.into(),
                password: SecretString::new(password.into()),
            })
            .await
            .unwrap();
    }
}

/// A hub on `database_url` with `auth` and every other option at its default.
pub(crate) fn plain_options(
    data_dir: &std::path::Path,
    database_url: &str,
    auth: AuthConfig,
) -> HubOptions {
    HubOptions {
        data_dir: data_dir.to_path_buf(),
        database_url: database_url.to_string(),
        auth,
        schemas: None,
        allow_drop_columns: false,
        data_page_size: None,
        link_rule_priority: None,
        trusted_proxies: Vec::new(),
        connections: test_limits(),
        upstreams: Vec::new(),
        gateway: keyway_hub::GatewayOptions::default(),
        tls: None,
        ca_file: None,
    }
}

/// Runs `test` once per configured backend, each on a fresh hub and database.
pub(crate) async fn on_every_backend(test: impl AsyncFn(&TestHub)) {
    on_every_backend_with(|_| {}, test).await;
}

/// As [`on_every_backend`], with the hubs' OAuth policy tweaked.
pub(crate) async fn on_every_backend_with(
    tweak: impl Fn(&mut AuthConfig),
    test: impl AsyncFn(&TestHub),
) {
    // A hang fails the test with the backend and step, instead of stalling the whole run.
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(300);
    for backend in backends() {
        let hub = TestHub::start_with(&backend, &tweak).await;
        let label = hub.backend.clone();
        if tokio::time::timeout(LIMIT, test(&hub)).await.is_err() {
            panic!("the test did not finish within {LIMIT:?} on {label}");
        }
        if tokio::time::timeout(LIMIT, hub.finish()).await.is_err() {
            panic!("the hub on {label} did not shut down within {LIMIT:?}");
        }
    }
}

/// A master key file (not the hub's) in `dir`, for rotations.
pub(crate) fn new_master_key_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("new.key");
    keyway_auth::write_private_file(
        dir,
        &path,
        b"c2V2ZW50ZWVuIHJhbmRvbSBieXRlcyBhbmQgbW9yZSE=\n",
    )
    .unwrap();
    path
}

/// Runs `test` on two hub nodes sharing one fresh PostgreSQL, then MariaDB, database (a
/// cluster; a SQLite store serves one process, so it is not one of them).
pub(crate) async fn on_two_nodes(test: impl AsyncFn(&TestHub, &TestHub)) {
    for backend in backends() {
        if matches!(backend, Backend::Sqlite) {
            continue;
        }
        let one = TestHub::start(&backend).await;
        let two = one.second_node().await;
        test(&one, &two).await;
        two.finish().await;
        one.finish().await;
    }
}

/// An HTTP client that follows no redirects (tests look at each hop).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs `path` (with a bearer token, if given) and parses the JSON answer, whatever the status.
pub(crate) async fn get_json(hub: &TestHub, path: &str, token: Option<&str>) -> serde_json::Value {
    let mut request = http().get(hub.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// POSTs a form with HTTP Basic client authentication.
pub(crate) async fn post_form(
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut request = http().post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

pub(crate) async fn client_credentials_token(hub: &TestHub, id: &str, secret: &str) -> String {
    let (status, _, body) = post_form(
        &hub.url("/oauth2/token"),
        Some((id, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[test]
fn database_url_rewrite() {
    assert_eq!(
        with_database("postgres://root@127.0.0.1:5432/test", "kw_x"),
        "postgres://root@127.0.0.1:5432/kw_x"
    );
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "kw_x"),
        "mysql://root@127.0.0.1:3306/kw_x?ssl-mode=disabled"
    );
    assert_eq!(
        with_database("mysql://root@h:1", "kw"),
        "mysql://root@h:1/kw"
    );
}

/// The Prometheus text of `/metrics`.
pub(crate) async fn metrics_text(hub: &TestHub) -> String {
    http()
        .get(hub.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Redeems an authorization code with HTTP Basic client authentication.
pub(crate) async fn code_exchange(
    hub: &TestHub,
    (id, secret): (&str, &str),
    code: &str,
    redirect: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let (status, _, body) = post_form(
        &hub.url("/oauth2/token"),
        Some((id, secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
    )
    .await;
    (status, body)
}

/// Connection limits of a test hub: two workers, whatever the machine's CPUs (tests run in
/// parallel, each hub with its threads and their file descriptors).
pub(crate) fn test_limits() -> keyway_hub::ConnectionLimits {
    keyway_hub::ConnectionLimits {
        workers: 2,
        ..keyway_hub::ConnectionLimits::default()
    }
}
