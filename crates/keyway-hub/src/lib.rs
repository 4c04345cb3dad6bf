//! The keyway hub's HTTP face: OAuth 2.0 endpoints, login and consent pages, the hub's own
//! pages (home, sign-in, activity map), discovery, health and metrics. Handlers are thin: parse, call [`keyway_auth::AuthService`], and map
//! its typed errors to responses in [`errors`].

mod activity;
mod api_error;
mod backchannel;
mod body_deadline;
mod caller;
mod client_address;
mod cookies;
mod data;
mod data_batch;
mod data_errors;
mod data_v2;
mod dpop;
mod errors;
mod form;
mod gateway;
mod health;
mod home;
mod jwks_fetch;
mod link;
mod metrics;
mod oauth;
mod pages;
mod scim;
mod serve;
mod serve_tls;
mod serve_workers;
mod session;
mod sign_in_steps;
mod store_watch;
mod tls;
mod toki_calls;
mod toki_cluster;
mod toki_peers;
mod upstream_http;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use keyway_auth::{AuthConfig, AuthService, Clock, Entropy, SystemClock, SystemEntropy};
use keyway_link::LinkService;
use keyway_store::Store;
use tokio::net::TcpListener;

pub use activity::{ActivityMap, CallEvent, Snapshot};
pub use backchannel::HttpLogoutDelivery;
pub use client_address::TrustedProxies;
pub use gateway::{GATEWAY_PATH, GatewayOptions};
pub use jwks_fetch::trusting;
pub use keyway_toki_http::HELLO_PATH as TOKI_HELLO_PATH;
pub use oauth::discovery::{authorization_server_metadata, openid_configuration};
pub use serve::ConnectionLimits;
pub use serve_workers::MAX_WORKERS;
pub use store_watch::StoreWatch;
pub use tls::{TlsError, TlsFiles, TlsServer, read_ca_file};
pub use toki_calls::{HUB_TOKI, HubToki, KEY_FILE as TOKI_KEY_FILE, TOKI_BODY_LIMIT, hub_identity};

/// Largest request body accepted anywhere (forms and JSON are small; this stops floods).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything the hub needs to start.
#[derive(Debug, Clone)]
pub struct HubOptions {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub auth: AuthConfig,
    /// A schema file for the data API (`/api/…`); none serves no data API.
    pub schemas: Option<PathBuf>,
    /// Let a schema change drop columns of removed properties (their data is lost).
    pub allow_drop_columns: bool,
    /// Rows per page of a data API collection; `None` keeps the default (1,000).
    pub data_page_size: Option<u32>,
    /// The order of rules that settles linkage conflicts; `None` keeps the default.
    pub link_rule_priority: Option<Vec<keyway_link::Rule>>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`ADDR` or `ADDR/PREFIX`).
    pub trusted_proxies: Vec<String>,
    /// Header-read timeout and connection cap of the HTTP server.
    pub connections: ConnectionLimits,
    /// Upstream OpenID Connect providers people may sign in through (`[[login.upstream]]`).
    pub upstreams: Vec<keyway_auth::UpstreamProvider>,
    /// Limits of the platform gateway (`/gateway/{client}/…`).
    pub gateway: GatewayOptions,
    /// Serve https with this certificate and key (`--tls-cert`/`--tls-key`); none serves http.
    pub tls: Option<TlsFiles>,
    /// A private CA (PEM) trusted besides the public roots by the hub's own outbound calls:
    /// the gateway's upstreams, clients' JWK Sets, upstream sign-in, back-channel logout.
    pub ca_file: Option<PathBuf>,
}

/// Shared state of every handler: one `Arc`, so the clone axum makes for every extractor
/// and middleware is one reference count, not one per service (and no copy of the toki
/// identity's strings).
#[derive(Clone)]
pub struct AppState(Arc<HubState>);

impl std::ops::Deref for AppState {
    type Target = HubState;

    fn deref(&self) -> &HubState {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct HubState {
    pub auth: Arc<AuthService>,
    pub data: Option<Arc<keyway_data::DataService>>,
    /// Record linkage (hub side).
    pub link: Arc<LinkService>,
    /// The live activity map (in memory, per hub process).
    pub activity: Arc<ActivityMap>,
    /// The hub's own toki identity: services call its APIs with oscartoki too.
    pub toki: HubToki,
    /// Proxies allowed to name the client's address (sign-in throttling).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// The platform gateway's HTTP client and limits.
    pub(crate) gateway: gateway::Gateway,
    /// Whether a server database answers (requests fail fast with 503 while it does not).
    pub store_watch: Arc<StoreWatch>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// A started hub: its state and router, ready to serve.
pub struct Hub {
    pub state: AppState,
    limits: ConnectionLimits,
    /// Started by `open`, serving from `serve` on.
    workers: serve_workers::Workers,
    tls: Option<Arc<TlsServer>>,
}

impl Hub {
    /// Opens the store (creating the data directory and applying migrations) and loads keys.
    pub async fn open(options: &HubOptions) -> Result<Hub, HubError> {
        Hub::open_with(
            options,
            Arc::new(SystemClock),
            Arc::new(SystemEntropy::default()),
        )
        .await
    }

    /// As [`Hub::open`], with an explicit clock and entropy source (tests).
    pub async fn open_with(
        options: &HubOptions,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<Hub, HubError> {
        let trusted_proxies =
            TrustedProxies::parse(&options.trusted_proxies).map_err(HubError::Config)?;
        // First: a hub that cannot have the threads asked for stops before it opens the
        // store (or says it listens).
        let workers = serve_workers::Workers::start(options.connections.workers)
            .map_err(HubError::Workers)?;
        keyway_auth::create_data_dir(&options.data_dir)?;
        let store = Store::open(&options.database_url).await?;
        let auth = AuthService::start(
            store.clone(),
            options.auth.clone(),
            &options.data_dir,
            clock,
            entropy,
        )
        .await?;
        let tls = match &options.tls {
            Some(files) => Some(Arc::new(TlsServer::open(files)?)),
            None => None,
        };
        let private_ca = match &options.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let http = Arc::new(jwks_fetch::HttpJwksSource::new(&private_ca)?);
        for provider in &options.upstreams {
            provider.validate().map_err(|e| {
                HubError::Config(format!("[[login.upstream]] {:?}: {e}", provider.name))
            })?;
        }
        let auth = auth
            .with_jwks_source(http.clone())
            .with_upstreams(options.upstreams.clone(), http)
            .with_logout_delivery(Arc::new(backchannel::HttpLogoutDelivery::new(
                true,
                &private_ca,
            )?));
        let link_key = auth
            .hub_secret(keyway_auth::LINK_KEY, None, || {
                Ok(keyway_auth::random_token(auth.entropy(), 32).into_bytes())
            })
            .await?;
        let mut link = LinkService::open(store, &link_key).await?;
        if let Some(priority) = &options.link_rule_priority {
            link = link.with_priority(priority.clone());
        }
        let auth = Arc::new(auth);
        auth.start_audit_writer();
        let data = match &options.schemas {
            Some(path) => Some(Arc::new(
                open_data(
                    &auth,
                    path,
                    options.allow_drop_columns,
                    options.data_page_size,
                )
                .await?,
            )),
            None => None,
        };
        let activity = Arc::new(ActivityMap::default());
        // The recorder first: the toki layer registers its counters when it is built.
        let metrics = metrics::install();
        let toki = HubToki::start(&options.data_dir, &auth, &activity).await?;
        Ok(Hub {
            limits: options.connections,
            workers,
            tls,
            state: AppState(Arc::new(HubState {
                auth,
                link: Arc::new(link),
                activity,
                toki,
                data,
                trusted_proxies: Arc::new(trusted_proxies),
                gateway: gateway::Gateway::new(
                    options.gateway,
                    &options.auth.issuer,
                    &private_ca,
                    options.connections.workers,
                )?,
                store_watch: Arc::new(StoreWatch::default()),
                metrics,
            })),
        })
    }

    pub fn router(&self) -> Router {
        // The data and linkage APIs take bearer tokens and toki calls; the toki layer sits on
        // their routes only (and on the hello path it answers itself).
        let toki_apis = Router::new()
            .merge(data::routes())
            .merge(data_v2::routes())
            .merge(link::routes())
            .merge(gateway::routes())
            .route(
                keyway_toki_http::HELLO_PATH,
                axum::routing::post(|| async { axum::http::StatusCode::NOT_FOUND }),
            )
            .route_layer(axum::middleware::from_fn(keyway_toki_http::remember_route))
            .layer(self.state.toki.optional_layer());
        let routes = Router::new()
            .merge(oauth::routes())
            .merge(health::routes())
            .merge(toki_apis)
            .merge(toki_peers::routes())
            .merge(toki_calls::routes())
            .merge(activity::routes())
            .merge(home::routes())
            .merge(scim::routes())
            .layer(axum::middleware::map_response(errors::plain_rejections))
            .layer(axum::middleware::from_fn(metrics::track))
            .layer(axum::middleware::map_request(body_deadline::with_deadline))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                errors::panic_response,
            ));
        // An https hub (natively or behind a TLS proxy) tells browsers to stay on https.
        let routes = if tls::sends_hsts(&self.state.auth.config().issuer) {
            routes.layer(axum::middleware::map_response(tls::strict_transport))
        } else {
            routes
        };
        // A server database may stop answering without a reset: fail fast meanwhile.
        let routes = if self.state.auth.store().backend() == keyway_store::Backend::Sqlite {
            routes
        } else {
            routes.layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                store_watch::fail_fast,
            ))
        };
        routes.with_state(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then drains connections and closes the store.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HubError> {
        // Background tasks are stopped between rounds, never cut off mid-way: an aborted
        // transaction's connection could hold MariaDB's metadata locks after the store closed.
        let (stop_tasks, stop) = tokio::sync::watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(upkeep(self.state.auth.clone(), stop.clone())),
            tokio::spawn(metrics::drain(self.state.metrics.clone(), stop.clone())),
        ];
        let stop_watch = stop.clone();
        // A SQLite hub is one process: its map is the whole picture.
        if self.state.auth.store().backend() != keyway_store::Backend::Sqlite {
            tasks.push(tokio::spawn(store_watch::watch(
                self.state.auth.clone(),
                self.state.store_watch.clone(),
                stop.clone(),
            )));
            tasks.push(tokio::spawn(activity::share_with_cluster(
                self.state.auth.clone(),
                self.state.activity.clone(),
                stop,
            )));
        }
        if let Some(tls) = &self.tls {
            tasks.push(tokio::spawn(tls.clone().watch(stop_watch)));
        }
        let trusted = self.state.trusted_proxies.clone();
        let acceptor = self.tls.as_ref().map(|tls| tls.acceptor());
        let routes = serve::Routes {
            router: self.router(),
            gateway: Arc::new(gateway::Direct::new(self.state.clone())),
        };
        let result = serve::serve(
            listener,
            routes,
            self.limits,
            trusted,
            acceptor,
            &self.workers,
            shutdown,
        )
        .await;
        let _ = stop_tasks.send(true);
        for task in tasks {
            let _ = task.await;
        }
        self.state.auth.release_upkeep_lease().await;
        self.state.auth.flush_audit().await;
        self.state.auth.store().close().await;
        // Only now: a server database's connections may be registered with a worker's runtime.
        drop(self.workers);
        result.map_err(HubError::Io)
    }
}

/// Loads the schemas, brings the tables in line, and builds the data service (ids are random
/// UUIDs from the hub's entropy source, times from its clock).
async fn open_data(
    auth: &Arc<AuthService>,
    path: &std::path::Path,
    allow_drop: bool,
    page_size: Option<u32>,
) -> Result<keyway_data::DataService, HubError> {
    let schemas = Arc::new(keyway_data::SchemaSet::load(path)?);
    let store = auth.store().clone();
    let clock_source = auth.clone();
    let id_source = auth.clone();
    let mut service = keyway_data::DataService::new(
        store,
        schemas.clone(),
        Arc::new(move || clock_source.clock().now_ms()),
        Arc::new(move || keyway_kernel::uuid_v4(id_source.entropy())),
    );
    if let Some(size) = page_size {
        service.page_size = size;
    }
    keyway_data::sync_tables(auth.store(), &schemas, service.dialect(), allow_drop).await?;
    Ok(service)
}

/// Background upkeep: key reloads and scheduled rotation, revocation list, purging. Every
/// second, so a revocation or key change made at another node (or by the CLI) applies here
/// within the documented 2 s.
async fn upkeep(auth: Arc<AuthService>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        ticks += 1;
        let leads = match auth.maintain().await {
            Ok(leads) => leads,
            Err(err) => {
                tracing::warn!(error = %err, "hub upkeep failed; will retry");
                false
            }
        };
        // Purging is the cluster's shared upkeep: the lease holder's alone.
        if leads && ticks.is_multiple_of(60) {
            let now = auth.clock().now_secs();
            if let Err(err) = auth.store().purge_expired(now).await {
                tracing::warn!(error = %err, "purging expired rows failed");
            }
            if let Err(err) = auth.prune_audit().await {
                tracing::warn!(error = %err, "pruning the audit log failed");
            }
        }
    }
}

/// Why the hub could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] keyway_store::StoreError),
    #[error(transparent)]
    Auth(#[from] keyway_auth::AdminError),
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("TLS client: {0}")]
    TlsClient(#[from] rustls::Error),
    #[error("schema: {0}")]
    Schema(#[from] keyway_data::SchemaError),
    #[error("data tables: {0}")]
    Tables(#[from] keyway_data::TableError),
    #[error(transparent)]
    PrivateFile(#[from] keyway_kernel::PrivateFileError),
    #[error("configuration: {0}")]
    Config(String),
    /// A connection worker could not start (its message names it and what to do).
    #[error("{0}")]
    Workers(std::io::Error),
    #[error("toki identity: {0}")]
    Toki(keyway_toki::TokiError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
}
