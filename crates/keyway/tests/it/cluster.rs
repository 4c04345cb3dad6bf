//! Three `keyway serve` processes on one PostgreSQL database, then one MariaDB database, behind
//! a real HAProxy (round robin, no stickiness, health checks on `/readyz`; the configuration
//! is deploy/haproxy.cfg with this test's ports), as docs/deploy.md sets a cluster up.
//!
//! What a client of the cluster sees: tokens from any node verify at every node, a refresh
//! token reused at another node kills its family, a rotated key signs nowhere before every
//! node publishes it, a deleted client is refused everywhere within the documented bound, toki
//! sessions span the nodes and a replay to another node is refused, a linkage batch split
//! over the nodes links as one, and every node's activity map shows the others' calls. Then,
//! under load, one node is killed with SIGKILL and restarted (cluster_load.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Hub, free_port, keyway, poll, repo_root, str_field};
use crate::interop::available;
use crate::readme_tour::browser_sign_in;

pub(crate) const NODES: usize = 3;
/// A change made at one node reaches the others within 2 s (docs/deploy.md); the test allows
/// more on a loaded machine and prints what it measured.
const BOUND_WITH_SLACK: Duration = Duration::from_secs(6);
const PASSWORD: &str = "cluster password 1";

/// The backends a cluster runs on, from the same variables the hub's tests read.
fn backends() -> Vec<(&'static str, String)> {
    [
        ("postgres", "KEYWAY_TEST_POSTGRES_URL"),
        ("mysql", "KEYWAY_TEST_MYSQL_URL"),
    ]
    .into_iter()
    .filter_map(|(kind, var)| Some((kind, std::env::var(var).ok()?)))
    .collect()
}

pub(crate) fn haproxy_missing() -> Option<String> {
    let found = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!found).then(|| "haproxy is not installed".to_string())
}

/// A database of its own on the server at `base_url`, dropped with the value.
pub(crate) struct Database {
    pub url: String,
    base_url: String,
    name: String,
    kind: &'static str,
}

pub(crate) fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

fn admin_execute(base_url: &str, statement: String) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    block_on(async {
        let mut conn = sqlx::AnyConnection::connect(base_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {base_url}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .expect("admin statement");
    });
}

impl Database {
    pub(crate) fn create(kind: &'static str, base_url: &str) -> Database {
        let name = format!("kw_cluster_{}", free_port());
        admin_execute(base_url, format!("CREATE DATABASE {name}"));
        let (server, _) = base_url
            .rsplit_once('/')
            .expect("a database URL ends in /DATABASE");
        Database {
            url: format!("{server}/{name}"),
            base_url: base_url.to_string(),
            name,
            kind,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let force = if self.kind == "postgres" {
            " WITH (FORCE)"
        } else {
            ""
        };
        admin_execute(
            &self.base_url,
            format!("DROP DATABASE IF EXISTS {}{force}", self.name),
        );
    }
}

/// HAProxy in front of the nodes, with its statistics page (to see when it marks a node down).
pub(crate) struct Balancer {
    child: Child,
    pub url: String,
    stats: String,
    _dir: tempfile::TempDir,
}

impl Balancer {
    /// deploy/haproxy.cfg with this test's addresses in place of the documented ones.
    fn start(port: u16, nodes: &[&Hub]) -> Balancer {
        Balancer::start_from(
            "deploy/haproxy.cfg",
            &[("bind :80", format!("bind 127.0.0.1:{port}"))],
            nodes,
            |n, address| format!("    server node{n} {address} check\n"),
            format!("http://127.0.0.1:{port}"),
        )
    }

    /// The shipped configuration `shipped` with each `(from, to)` replaced, the server lines
    /// replaced by `server_line(n, HOST:PORT)` of each node, and the statistics on a free port.
    pub(crate) fn start_from(
        shipped: &str,
        replacements: &[(&str, String)],
        nodes: &[&Hub],
        server_line: impl Fn(usize, &str) -> String,
        url: String,
    ) -> Balancer {
        let dir = tempfile::tempdir().expect("temporary dir");
        let stats_port = free_port();
        let text = std::fs::read_to_string(repo_root().join(shipped)).expect(shipped);
        let mut config = String::new();
        let mut servers_placed = false;
        for line in text.lines() {
            let trimmed = line.trim_start();
            // The nodes take the place of the shipped server lines, after `default-server`,
            // whose settings (health-check timing, TLS) apply only to the servers below it.
            if trimmed.starts_with("server node") {
                if !servers_placed {
                    for (i, node) in nodes.iter().enumerate() {
                        let address = node.url.split("://").nth(1).unwrap_or(&node.url);
                        config.push_str(&server_line(i + 1, address));
                    }
                    servers_placed = true;
                }
                continue;
            }
            let mut line = line.replace(
                "bind 127.0.0.1:8404",
                &format!("bind 127.0.0.1:{stats_port}"),
            );
            for (from, to) in replacements {
                line = line.replace(from, to);
            }
            config.push_str(&line);
            config.push('\n');
        }
        assert!(servers_placed, "{shipped} has no `server node` lines");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, &config).expect("write haproxy.cfg");
        let check = Command::new("haproxy")
            .args(["-c", "-f"])
            .arg(&path)
            .output()
            .expect("run haproxy -c");
        assert!(
            check.status.success(),
            "haproxy -c refuses the configuration:\n{config}\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("haproxy.log")).expect("log file"))
            .spawn()
            .expect("start haproxy");
        let balancer = Balancer {
            child,
            url,
            stats: format!("http://127.0.0.1:{stats_port}/stats;csv"),
            _dir: dir,
        };
        let all_up = poll(Duration::from_secs(20), || {
            (1..=nodes.len()).all(|n| balancer.status(n).as_deref() == Some("UP"))
        });
        if !all_up {
            let csv = reqwest::blocking::get(&balancer.stats)
                .and_then(|r| r.text())
                .unwrap_or_default();
            let log = std::fs::read_to_string(balancer._dir.path().join("haproxy.log"))
                .unwrap_or_default();
            panic!("haproxy did not see every node up:\n{csv}\n{log}\n{config}");
        }
        balancer
    }

    /// HAProxy's view of node `n` (1-based): "UP", "DOWN", "UP 1/2" …
    pub(crate) fn status(&self, n: usize) -> Option<String> {
        let csv = reqwest::blocking::get(&self.stats).ok()?.text().ok()?;
        csv.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.first() == Some(&"keyway") && fields.get(1) == Some(&&*format!("node{n}")))
                .then(|| fields.get(17).map(|s| s.to_string()))
                .flatten()
        })
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three nodes on one database behind HAProxy.
pub(crate) struct Cluster {
    pub nodes: Vec<Hub>,
    pub balancer: Balancer,
    pub label: &'static str,
    master_key: PathBuf,
    pub db: Database,
}

impl Cluster {
    fn start(kind: &'static str, base_url: &str) -> Cluster {
        let db = Database::create(kind, base_url);
        let lb_port = free_port();
        let keys = tempfile::tempdir().expect("temporary dir").keep();
        let master_key = keys.join("master.key");
        write_master_key(&master_key);
        let mut nodes: Vec<Hub> = Vec::new();
        for n in 1..=NODES {
            nodes.push(Hub::start_with(&node_args(
                &db.url,
                lb_port,
                &master_key,
                n,
            )));
        }
        let balancer = Balancer::start(lb_port, &nodes.iter().collect::<Vec<_>>());
        Cluster {
            nodes,
            balancer,
            label: kind,
            master_key,
            db,
        }
    }

    pub(crate) fn node_args(&self, n: usize) -> Vec<String> {
        let port = self
            .balancer
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("balancer port");
        node_args(&self.db.url, port, &self.master_key, n)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// `keyway ARGS` against the cluster's store (any node's data dir would do).
    pub(crate) fn cli(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = keyway()
            .args(args)
            .args(["--database", &self.db.url, "--master-key-file"])
            .arg(&self.master_key)
            .arg("--data-dir")
            .arg(self.nodes[0].data_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run keyway");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("keyway output")
    }

    pub(crate) fn cli_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.cli(&args, "");
        assert!(
            out.status.success(),
            "{}: keyway {args:?}: {}",
            self.label,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    pub(crate) fn client(&self, name: &str, grants: &[&str], scope: &str, extra: &[&str]) -> Value {
        let mut args = vec!["client", "create", "--name", name, "--scope", scope];
        for grant in grants {
            args.extend(["--grant", grant]);
        }
        args.extend(extra);
        self.cli_json(&args)
    }
}

fn node_args<'a>(database: &'a str, lb_port: u16, master_key: &Path, n: usize) -> Vec<&'a str> {
    // Leaked: a handful of short strings per test, kept for the nodes' restarts.
    let leak = |s: String| -> &'a str { Box::leak(s.into_boxed_str()) };
    vec![
        "--database",
        database,
        "--issuer",
        leak(format!("http://127.0.0.1:{lb_port}")),
        "--master-key-file",
        leak(master_key.display().to_string()),
        "--node-id",
        leak(format!("node-{n}")),
        "--trusted-proxy",
        "127.0.0.1",
    ]
}

/// 32 random bytes, base64 on one line, mode 0600 (what `openssl rand -base64 32` makes).
pub(crate) fn write_master_key(path: &Path) {
    use base64::Engine;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).expect("random bytes");
    let line = base64::engine::general_purpose::STANDARD.encode(key) + "\n";
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .expect("create the master key file");
    std::io::Write::write_all(&mut file, line.as_bytes()).expect("write the master key");
}

pub(crate) fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("HTTP client")
}

/// POST a form with HTTP Basic client authentication: status and JSON body.
pub(crate) fn post_form(
    http: &reqwest::blocking::Client,
    url: &str,
    (id, secret): (&str, &str),
    form: &[(&str, &str)],
) -> Result<(u16, Value), String> {
    let response = http
        .post(url)
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.text().map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    ))
}

fn token_at(base: &str, (id, secret): (&str, &str), scope: &str) -> Result<String, String> {
    let (status, body) = post_form(
        &http(),
        &format!("{base}/oauth2/token"),
        (id, secret),
        &[("grant_type", "client_credentials"), ("scope", scope)],
    )?;
    match (status, body["access_token"].as_str()) {
        (200, Some(token)) => Ok(token.to_string()),
        _ => Err(format!("{status} {body}")),
    }
}

pub(crate) fn active_at(base: &str, client: (&str, &str), token: &str) -> bool {
    let url = format!("{base}/oauth2/introspect");
    let (status, body) = post_form(&http(), &url, client, &[("token", token)]).expect("introspect");
    assert_eq!(status, 200, "introspection at {base}: {body}");
    body["active"] == true
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("a JWT");
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    let header: Value = serde_json::from_slice(&header).expect("JSON header");
    str_field(&header, "kid").to_string()
}

fn kids_at(base: &str) -> BTreeSet<String> {
    let jwks: Value = http()
        .get(format!("{base}/oauth2/jwks"))
        .send()
        .and_then(|r| r.json())
        .expect("JWKS");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| str_field(k, "kid").to_string())
        .collect()
}

#[test]
fn three_nodes_behind_haproxy() {
    if !available("cluster::three_nodes_behind_haproxy", haproxy_missing()) {
        return;
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    for (kind, base_url) in backends() {
        let mut cluster = Cluster::start(kind, &base_url);
        shared_state_reaches_every_node(&cluster);
        crate::cluster_toki::toki_and_activity_span_the_nodes(&cluster);
        crate::cluster_load::a_node_killed_under_load(&mut cluster);
    }
}

fn shared_state_reaches_every_node(cluster: &Cluster) {
    let label = cluster.label;
    let lb = cluster.balancer.url.clone();
    let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.url.clone()).collect();
    let service = cluster.client("svc", &["client_credentials"], "read", &[]);
    let svc = (
        str_field(&service, "client_id"),
        str_field(&service, "client_secret"),
    );

    // Tokens issued through the balancer (so by every node in turn) verify at every node.
    for _ in 0..NODES * 2 {
        let token = token_at(&lb, svc, "read").expect("a token through the balancer");
        for node in &nodes {
            assert!(active_at(node, svc, &token), "{label}: active at {node}");
        }
    }

    // A refresh token used at node 1 and replayed at node 3 kills its family everywhere.
    let out = cluster.cli(
        &["user", "create", "--username", "carol", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{label}: user create: {out:?}");
    let web = cluster.client(
        "web",
        &["authorization_code", "refresh_token"],
        "openid read",
        &["--redirect-uri", "http://127.0.0.1:9/callback"],
    );
    let web_client = (
        str_field(&web, "client_id"),
        str_field(&web, "client_secret"),
    );
    let authorize = format!(
        "{lb}/oauth2/authorize?response_type=code&client_id={}&redirect_uri=http://127.0.0.1:9/callback&scope=openid%20read&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        web_client.0
    );
    // The login and consent forms go through the balancer: each step may land on another node.
    let code = browser_sign_in(&lb, &authorize, "carol", PASSWORD);
    let (status, tokens) = post_form(
        &http(),
        &format!("{lb}/oauth2/token"),
        web_client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ],
    )
    .expect("code exchange");
    assert_eq!(status, 200, "{label}: {tokens}");
    let first = str_field(&tokens, "refresh_token").to_string();
    let refresh = |node: &str, token: &str| {
        post_form(
            &http(),
            &format!("{node}/oauth2/token"),
            web_client,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .expect("refresh")
    };
    let (status, rotated) = refresh(&nodes[0], &first);
    assert_eq!(status, 200, "{label}: refresh at node 1: {rotated}");
    let second = str_field(&rotated, "refresh_token").to_string();
    // Past the grace window for concurrent refreshes (2 s, docs/oauth.md), a reuse is theft.
    std::thread::sleep(Duration::from_millis(2_500));
    let (status, reused) = refresh(&nodes[2], &first);
    assert_eq!(
        (status, &reused["error"]),
        (400, &Value::from("invalid_grant")),
        "{label}"
    );
    let (status, killed) = refresh(&nodes[1], &second);
    assert_eq!(
        (status, &killed["error"]),
        (400, &Value::from("invalid_grant")),
        "{label}: the family died with the reuse"
    );

    // A key rotated by the CLI: no node signs with a key before every node publishes it.
    let before = token_at(&lb, svc, "read").expect("token");
    let rotated = cluster.cli_json(&["keys", "rotate"]);
    let started = Instant::now();
    let mut new_kid_seen = false;
    while started.elapsed() < BOUND_WITH_SLACK && !new_kid_seen {
        let published: Vec<BTreeSet<String>> = nodes.iter().map(|n| kids_at(n)).collect();
        let token = token_at(&lb, svc, "read").expect("token");
        let kid = kid_of(&token);
        for (n, kids) in published.iter().enumerate() {
            assert!(
                kids.contains(&kid),
                "{label}: node {} signs with {kid} unpublished",
                n + 1
            );
        }
        new_kid_seen = kid != kid_of(&before);
    }
    assert!(
        new_kid_seen,
        "{label}: no node signed with the rotated key ({rotated})"
    );
    eprintln!(
        "{label}: the rotated key signed through the balancer after {:?}",
        started.elapsed()
    );

    // A client deleted by the CLI is refused at every node within the bound.
    let doomed = cluster.client("doomed", &["client_credentials"], "read", &[]);
    let doomed = (
        str_field(&doomed, "client_id"),
        str_field(&doomed, "client_secret"),
    );
    for node in &nodes {
        token_at(node, doomed, "read").expect("the client works before");
    }
    let out = cluster.cli(&["client", "delete", doomed.0], "");
    assert!(out.status.success(), "{label}: client delete: {out:?}");
    let deleted = Instant::now();
    let refused = poll(BOUND_WITH_SLACK, || {
        nodes
            .iter()
            .all(|node| token_at(node, doomed, "read").is_err())
    });
    assert!(
        refused,
        "{label}: a deleted client still gets tokens somewhere"
    );
    eprintln!(
        "{label}: the deleted client was refused everywhere after {:?}",
        deleted.elapsed()
    );
}
