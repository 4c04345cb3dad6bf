//! Third-party clients against the real hub: Python (Authlib, PyJWT, jwcrypto) and headless
//! Chromium driven by playwright-core. Missing tools skip these tests with a notice, unless
//! KEYWAY_REQUIRE_INTEROP=1, where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Hub, free_port, repo_root, run_with_timeout, str_field};

const SCRIPT_LIMIT: Duration = Duration::from_secs(180);
const USERNAME: &str = "interop-user";
const PASSWORD: &str = "interop password 1";

pub(crate) fn interop_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(sub)
}

/// Whether the test can go on. A missing tool prints a notice past the test harness's output
/// capture and skips, or fails the test when KEYWAY_REQUIRE_INTEROP=1.
pub(crate) fn available(test: &str, missing: Option<String>) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    keyway_kernel::report_skip(test, &missing, "run scripts/install-test-deps.sh");
    false
}

pub(crate) fn python() -> String {
    std::env::var("KEYWAY_PYTHON").unwrap_or_else(|_| "python3".into())
}

pub(crate) fn chromium() -> String {
    std::env::var("KEYWAY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn python_missing() -> Option<String> {
    let python = python();
    let import = "import authlib, requests, jwt, jwcrypto, cryptography";
    (!succeeds(&python, &["-c", import])).then(|| {
        format!("{python} with authlib, requests, pyjwt[crypto] and jwcrypto is not available")
    })
}

pub(crate) fn node_module_missing(module: &str) -> Option<String> {
    if !succeeds("node", &["--version"]) {
        return Some("node is not installed".into());
    }
    let dir = interop_dir("browser").join("node_modules").join(module);
    (!dir.is_dir()).then(|| format!("{} is missing (npm ci)", dir.display()))
}

pub(crate) fn browser_missing() -> Option<String> {
    if !succeeds("node", &["--version"]) {
        return Some("node is not installed".into());
    }
    let module = interop_dir("browser").join("node_modules/playwright-core");
    if !module.is_dir() {
        return Some(format!("{} is missing (npm ci)", module.display()));
    }
    let chromium = chromium();
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} is missing"));
    }
    None
}

/// A hub with one user, and a callback URI on a free port (the browser scripts serve it).
fn hub_with_user() -> (Hub, String) {
    let hub = Hub::start();
    hub.create_user(USERNAME, PASSWORD);
    let callback = format!("http://127.0.0.1:{}/callback", free_port());
    (hub, callback)
}

/// Runs a script with the hub's details in its environment; fails with its output.
pub(crate) fn run_script(hub: &Hub, what: &str, command: &mut Command, env: &[(&str, &str)]) {
    command
        .env("KEYWAY_HUB_URL", &hub.url)
        .env("KEYWAY_USERNAME", USERNAME)
        .env("KEYWAY_PASSWORD", PASSWORD)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (name, value) in env {
        command.env(name, value);
    }
    let started = std::time::Instant::now();
    let (status, output) = run_with_timeout(command, SCRIPT_LIMIT);
    // Captured by the test harness: shown when the test fails or with --nocapture.
    eprintln!(
        "--- {what} ({:.1} s) ---\n{output}",
        started.elapsed().as_secs_f64()
    );
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!(
            "{what} failed ({status}):\n{output}\n--- hub ---\n{}",
            hub.output()
        ),
        None => panic!("{what} timed out after {SCRIPT_LIMIT:?}:\n{output}"),
    }
}

fn python_script(name: &str) -> Command {
    script_of(python(), name)
}

/// `interpreter` running the interop script `python/<name>`.
fn script_of(interpreter: impl AsRef<std::ffi::OsStr>, name: &str) -> Command {
    let mut command = Command::new(interpreter);
    command.arg(interop_dir("python").join(name));
    command
}

#[test]
fn python_authlib_client_credentials() {
    if !available("python_authlib_client_credentials", python_missing()) {
        return;
    }
    let hub = Hub::start();
    let client = hub.create_client("py-service", &["client_credentials"], "read write", &[]);
    run_script(
        &hub,
        "client_credentials.py",
        &mut python_script("client_credentials.py"),
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_CLIENT_SECRET", str_field(&client, "client_secret")),
            ("KEYWAY_SCOPE", "read write"),
        ],
    );
}

#[test]
fn python_authlib_authorization_code_pkce_refresh() {
    if !available(
        "python_authlib_authorization_code_pkce_refresh",
        python_missing(),
    ) {
        return;
    }
    let (hub, callback) = hub_with_user();
    let client = hub.create_client(
        "py-web",
        &["authorization_code", "refresh_token"],
        "openid read",
        &["--redirect-uri", &callback],
    );
    run_script(
        &hub,
        "authorization_code.py",
        &mut python_script("authorization_code.py"),
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_CLIENT_SECRET", str_field(&client, "client_secret")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_SCOPE", "openid read"),
        ],
    );
}

/// RFC 8693 token exchange by Authlib's generic grant: A trades alice's token for one meant
/// for B under a rule made with the CLI; B verifies and introspects it.
#[test]
fn python_authlib_token_exchange() {
    if !available("python_authlib_token_exchange", python_missing()) {
        return;
    }
    let (hub, callback) = hub_with_user();
    let a = hub.create_client(
        "py-app-a",
        &["authorization_code"],
        "openid read write",
        &["--redirect-uri", &callback],
    );
    let b = hub.create_client("py-api-b", &["client_credentials"], "read", &[]);
    let (a_id, b_id) = (str_field(&a, "client_id"), str_field(&b, "client_id"));
    hub.cli_json(&[
        "client", "allow", a_id, "--to", b_id, "--for", "exchange", "--scope", "read",
    ]);
    run_script(
        &hub,
        "token_exchange.py",
        &mut python_script("token_exchange.py"),
        &[
            ("KEYWAY_CLIENT_ID", a_id),
            ("KEYWAY_CLIENT_SECRET", str_field(&a, "client_secret")),
            ("KEYWAY_B_CLIENT_ID", b_id),
            ("KEYWAY_B_CLIENT_SECRET", str_field(&b, "client_secret")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_SCOPE", "openid read write"),
        ],
    );
}

/// A g2d1-profile client written in Python from docs/oauth.md alone reproduces the page's
/// test vector and runs a signed flow against a hub (client registered with the CLI).
#[test]
fn python_g2d1_client_from_the_docs() {
    if !available("python_g2d1_client_from_the_docs", python_missing()) {
        return;
    }
    let (hub, callback) = hub_with_user();
    let secret = "g2d1-python-interop-signing-secret-000000000";
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("signing.secret");
    keyway_kernel::write_private_file(dir.path(), &secret_file, format!("{secret}\n").as_bytes())
        .expect("secret file");
    let client = hub.create_client(
        "py-g2d1",
        &["authorization_code", "refresh_token"],
        "openid read",
        &[
            "--redirect-uri",
            &callback,
            "--profile",
            "g2d1",
            "--signing-secret-file",
            &secret_file.display().to_string(),
        ],
    );
    assert_eq!(client["profile"], "g2d1", "{client}");
    assert_eq!(client["has_signing_secret"], true, "{client}");
    assert!(
        client.get("signing_secret").is_none(),
        "a secret the operator gave is never printed: {client}"
    );
    let docs = repo_root().join("docs/oauth.md");
    run_script(
        &hub,
        "g2d1_client.py",
        &mut python_script("g2d1_client.py"),
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_CLIENT_SECRET", str_field(&client, "client_secret")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_SCOPE", "openid read"),
            ("KEYWAY_SIGNING_SECRET", secret),
            ("KEYWAY_DOCS", &docs.display().to_string()),
        ],
    );
}

/// A person enrolled with `keyway user totp enroll` signs in through the pages in Chromium: the
/// password, then a code computed from the printed otpauth URI (a wrong one first), consent,
/// an ID token with both factors in `amr`; then a recovery code in a fresh browser.
#[test]
fn browser_signs_in_with_a_totp_code() {
    if !available("browser_signs_in_with_a_totp_code", browser_missing()) {
        return;
    }
    let (hub, callback) = hub_with_user();
    let client = hub.create_client(
        "TOTP Demo",
        &["authorization_code"],
        "openid",
        &["--redirect-uri", &callback, "--public"],
    );
    let enrolment = hub.cli_json(&["user", "totp", "enroll", USERNAME]);
    let artifacts = std::env::var("KEYWAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/artifacts"))
        .join("browser-totp");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let browser = interop_dir("browser");
    let mut command = Command::new("node");
    command
        .arg(browser.join("totp_login.mjs"))
        .current_dir(&browser);
    let recovery = enrolment["recovery_codes"][0]
        .as_str()
        .expect("recovery codes");
    run_script(
        &hub,
        "browser/totp_login.mjs",
        &mut command,
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_TOTP_URI", str_field(&enrolment, "otpauth_uri")),
            ("KEYWAY_RECOVERY_CODE", recovery),
            ("KEYWAY_CHROMIUM", &chromium()),
            ("KEYWAY_ARTIFACTS", &artifacts.display().to_string()),
        ],
    );
    for shot in [
        "totp-login.png",
        "totp-code.png",
        "totp-code-error.png",
        "totp-consent.png",
    ] {
        let size = std::fs::metadata(artifacts.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 1000, "screenshot {shot} missing or empty");
    }
}

#[test]
fn browser_login_consent_allow_and_deny() {
    if !available("browser_login_consent_allow_and_deny", browser_missing()) {
        return;
    }
    let (hub, callback) = hub_with_user();
    let client = hub.create_client(
        "Browser Demo",
        &["authorization_code"],
        "openid read",
        &["--redirect-uri", &callback, "--public"],
    );
    let artifacts = std::env::var("KEYWAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/artifacts"))
        .join("browser");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let browser = interop_dir("browser");
    let mut command = Command::new("node");
    command.arg(browser.join("flow.mjs")).current_dir(&browser);
    run_script(
        &hub,
        "browser/flow.mjs",
        &mut command,
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_SCOPE", "openid read"),
            ("KEYWAY_CHROMIUM", &chromium()),
            ("KEYWAY_ARTIFACTS", &artifacts.display().to_string()),
        ],
    );
    for shot in ["login.png", "consent.png"] {
        let path = artifacts.join(shot);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 1000,
            "screenshot {} missing or empty",
            path.display()
        );
    }
}

/// openid-client (npm) signs Ed25519 client assertions as `alg: Ed25519` (RFC 9864) by
/// default: it must authenticate, get a token, introspect and revoke it, run code flows
/// through a pushed authorization request (RFC 9126), with JAR and JARM, and use DPoP-bound
/// tokens on a hub that requires DPoP nonces, unmodified; its end-session URL (RP-Initiated
/// Logout) signs the person out.
#[test]
fn openid_client_private_key_jwt_and_a_pushed_code_flow() {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if !available(
        "openid_client_private_key_jwt_and_a_pushed_code_flow",
        node_module_missing("openid-client"),
    ) {
        return;
    }
    // Nonces on (RFC 9449 §8): openid-client must answer use_dpop_nonce by itself.
    let config_dir = tempfile::tempdir().expect("temp dir");
    let config = config_dir.path().join("keyway.toml");
    std::fs::write(&config, "[oauth]\nrequire_dpop_nonce = true\n").expect("write keyway.toml");
    let hub = Hub::start_with(&["--config", &config.display().to_string()]);
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::fill(&mut seed).expect("random seed");
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("Ed25519 key");
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let public =
        serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "oc1", "x": x}]});
    let dir = tempfile::tempdir().expect("temp dir");
    let jwks = dir.path().join("client.jwks.json");
    std::fs::write(&jwks, public.to_string()).expect("write JWKS");
    let redirect = "http://127.0.0.1:9/callback";
    let client = hub.create_client(
        "openid-client",
        &["client_credentials", "authorization_code"],
        "openid read link:read",
        &[
            "--jwks-file",
            &jwks.display().to_string(),
            "--redirect-uri",
            redirect,
            "--require-par",
            "--post-logout-redirect-uri",
            "http://127.0.0.1:9/signed-out",
        ],
    );
    hub.cli_json_with_stdin(
        &["user", "create", "--username", "alice", "--password-stdin"],
        "correct horse battery\n",
    );
    let private = serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "oc1", "x": x, "d": URL_SAFE_NO_PAD.encode(seed),
    });
    let browser = interop_dir("browser");
    let mut command = Command::new("node");
    command
        .arg(browser.join("openid_client.mjs"))
        .current_dir(&browser);
    run_script(
        &hub,
        "browser/openid_client.mjs",
        &mut command,
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_PRIVATE_JWK", &private.to_string()),
            ("KEYWAY_REDIRECT_URI", redirect),
            ("KEYWAY_USERNAME", "alice"),
            ("KEYWAY_PASSWORD", "correct horse battery"),
            ("KEYWAY_POST_LOGOUT_URI", "http://127.0.0.1:9/signed-out"),
        ],
    );
}

/// Writes hub A's keyway.toml with one `[[login.upstream]]` (secret file 0600 beside it).
fn upstream_config(
    dir: &Path,
    (name, display_name): (&str, &str),
    issuer: &str,
    client_id: &str,
    secret: &str,
) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let secret_file = dir.join(format!("{name}.secret"));
    std::fs::write(&secret_file, secret).expect("secret file");
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod 600");
    let config = dir.join("keyway.toml");
    std::fs::write(
        &config,
        format!(
            "[[login.upstream]]\nname = \"{name}\"\ndisplay_name = \"{display_name}\"\nissuer = \
             \"{issuer}\"\nclient_id = \"{client_id}\"\nclient_secret_file = \"{}\"\nscopes = \
             \"openid profile\"\nusername_claim = \"preferred_username\"\nprovision = \"auto\"\n",
            secret_file.display()
        ),
    )
    .expect("keyway.toml");
    config
}

/// The Done-when of issue 17's login types: a person signs in to a client of one hub through
/// another hub (`type=<upstream>`, and the login page's button) in Chromium.
#[test]
fn browser_signs_in_through_another_hub() {
    if !available("browser_signs_in_through_another_hub", browser_missing()) {
        return;
    }
    let hub_b = Hub::start();
    hub_b.create_user("grace", "correct horse battery");
    // A's address is known only once it runs; the redirect URI is added to B's client then.
    let registered = hub_b.create_client(
        "Hub A",
        &["authorization_code"],
        "openid profile",
        &["--redirect-uri", "http://127.0.0.1:9/placeholder"],
    );
    let config_dir = tempfile::tempdir().expect("config dir");
    let config = upstream_config(
        config_dir.path(),
        ("hubb", "Hub B"),
        &hub_b.url,
        str_field(&registered, "client_id"),
        str_field(&registered, "client_secret"),
    );
    let hub_a = Hub::start_with(&["--config", &config.display().to_string()]);
    // The banner is read from the hub's stdout by a thread: it may trail readiness a little.
    let announced = crate::harness::poll(Duration::from_secs(10), || {
        hub_a.output().contains("type=hubb through Hub B")
    });
    assert!(announced, "{}", hub_a.output());
    hub_b.cli_json(&[
        "client",
        "update",
        str_field(&registered, "client_id"),
        "--add-redirect-uri",
        &format!("{}/login/upstream/callback", hub_a.url),
    ]);
    let callback = format!("http://127.0.0.1:{}/callback", free_port());
    let client = hub_a.create_client(
        "Browser Demo",
        &["authorization_code"],
        "openid",
        &["--redirect-uri", &callback, "--public"],
    );
    let artifacts = std::env::var("KEYWAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/artifacts"))
        .join("browser-upstream-keyway");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let browser = interop_dir("browser");
    let mut command = Command::new("node");
    command
        .arg(browser.join("upstream_login.mjs"))
        .current_dir(&browser);
    run_script(
        &hub_a,
        "browser/upstream_login.mjs (keyway)",
        &mut command,
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_UPSTREAM", "hubb"),
            ("KEYWAY_UPSTREAM_URL", &hub_b.url),
            ("KEYWAY_UPSTREAM_KIND", "keyway"),
            ("KEYWAY_USERNAME", "grace"),
            ("KEYWAY_PASSWORD", "correct horse battery"),
            ("KEYWAY_CHROMIUM", &chromium()),
            ("KEYWAY_ARTIFACTS", &artifacts.display().to_string()),
        ],
    );
    for shot in [
        "type-provider-login.png",
        "type-hub-consent.png",
        "login-page-with-upstream.png",
    ] {
        let size = std::fs::metadata(artifacts.join(shot)).map_or(0, |m| m.len());
        assert!(size > 1000, "screenshot {shot} missing or empty");
    }
    // The person was provisioned at A once, linked to B's subject.
    let users = hub_a.cli_json(&["user", "list"]);
    let users = users.as_array().expect("user list");
    assert_eq!(users.len(), 1, "{users:?}");
    let shown = hub_a.cli_json(&["user", "show", "grace"]);
    assert_eq!(
        shown["upstream_identities"][0]["upstream"], "hubb",
        "{shown}"
    );
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `oidc_provider.mjs` on `port`; returns once it prints that it listens.
fn start_oidc_provider(port: u16, client_id: &str, secret: &str, redirect: &str) -> KillOnDrop {
    use std::io::BufRead;
    let browser = interop_dir("browser");
    let mut child = Command::new("node")
        .arg(browser.join("oidc_provider.mjs"))
        .current_dir(&browser)
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_CLIENT_ID", client_id)
        .env("OIDC_CLIENT_SECRET", secret)
        .env("OIDC_REDIRECT_URI", redirect)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node oidc_provider.mjs");
    let stdout = child.stdout.take().expect("stdout");
    let guard = KillOnDrop(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let ready = lines.any(|line| line.is_ok_and(|l| l.starts_with("listening ")));
    assert!(ready, "oidc_provider.mjs did not start");
    // Keep reading: a closed pipe would kill the provider at its next line of output.
    std::thread::spawn(move || lines.for_each(drop));
    guard
}

/// node oidc-provider (panva) as the upstream: RS256 ID tokens, its own login and consent
/// pages, client_secret_basic, PKCE; a person signs in to a client of the hub through it.
#[test]
fn browser_signs_in_through_node_oidc_provider() {
    let missing = browser_missing().or_else(|| node_module_missing("oidc-provider"));
    if !available("browser_signs_in_through_node_oidc_provider", missing) {
        return;
    }
    let provider_port = free_port();
    let provider_url = format!("http://127.0.0.1:{provider_port}");
    let secret = "oidc provider client secret for keyway";
    let config_dir = tempfile::tempdir().expect("config dir");
    let config = upstream_config(
        config_dir.path(),
        ("panva", "oidc-provider"),
        &provider_url,
        "keyway-hub",
        secret,
    );
    let hub = Hub::start_with(&["--config", &config.display().to_string()]);
    let _provider = start_oidc_provider(
        provider_port,
        "keyway-hub",
        secret,
        &format!("{}/login/upstream/callback", hub.url),
    );
    let callback = format!("http://127.0.0.1:{}/callback", free_port());
    let client = hub.create_client(
        "Browser Demo",
        &["authorization_code"],
        "openid",
        &["--redirect-uri", &callback, "--public"],
    );
    let artifacts = std::env::var("KEYWAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/artifacts"))
        .join("browser-upstream-oidc-provider");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let browser = interop_dir("browser");
    let mut command = Command::new("node");
    command
        .arg(browser.join("upstream_login.mjs"))
        .current_dir(&browser);
    run_script(
        &hub,
        "browser/upstream_login.mjs (oidc-provider)",
        &mut command,
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_UPSTREAM", "panva"),
            ("KEYWAY_UPSTREAM_URL", &provider_url),
            ("KEYWAY_UPSTREAM_KIND", "oidc-provider"),
            ("KEYWAY_USERNAME", "lin"),
            ("KEYWAY_PASSWORD", "any password"),
            ("KEYWAY_CHROMIUM", &chromium()),
            ("KEYWAY_ARTIFACTS", &artifacts.display().to_string()),
        ],
    );
    let shown = hub.cli_json(&["user", "show", "lin"]);
    assert_eq!(
        shown["upstream_identities"][0]["upstream"], "panva",
        "{shown}"
    );
    assert_eq!(shown["upstream_identities"][0]["subject"], "lin", "{shown}");
}

/// The Python of the SCIM virtualenv (scim2-tester, scim2-client; scripts/install-test-deps.sh).
fn scim_python() -> PathBuf {
    let venv = std::env::var("KEYWAY_SCIM_VENV").unwrap_or_else(|_| "/var/tmp/keyway-scim".into());
    Path::new(&venv).join("bin/python")
}

fn scim_missing() -> Option<String> {
    let python = scim_python();
    let ok = Command::new(&python)
        .args(["-c", "import scim2_tester, scim2_client, httpx2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ok).then(|| {
        format!(
            "{} with scim2-tester and scim2-client is not available",
            python.display()
        )
    })
}

fn scim_script(name: &str) -> Command {
    script_of(scim_python(), name)
}

/// scim2-tester runs every check it has against `/scim/v2`; the script fails on any error
/// that is not one of the deviations it lists with their reasons (docs/scim.md).
#[test]
fn scim2_tester_every_check() {
    if !available("scim2_tester_every_check", scim_missing()) {
        return;
    }
    let hub = Hub::start();
    let client = hub.create_client("scim-tester", &["client_credentials"], "scim", &[]);
    run_script(
        &hub,
        "scim_tester.py",
        &mut scim_script("scim_tester.py"),
        &[
            ("KEYWAY_CLIENT_ID", str_field(&client, "client_id")),
            ("KEYWAY_CLIENT_SECRET", str_field(&client, "client_secret")),
        ],
    );
}

/// scim2-client provisions a user with a password and a group; that user then signs in at
/// the hub's login form (Authlib's code flow) and gets tokens.
#[test]
fn scim2_client_provisions_a_user_who_signs_in() {
    if !available(
        "scim2_client_provisions_a_user_who_signs_in",
        scim_missing(),
    ) || !available(
        "scim2_client_provisions_a_user_who_signs_in",
        python_missing(),
    ) {
        return;
    }
    let hub = Hub::start();
    let callback = format!("http://127.0.0.1:{}/callback", free_port());
    let provisioner = hub.create_client("provisioning", &["client_credentials"], "scim", &[]);
    let (username, password) = ("scim-grace", "provisioned by SCIM 1");
    run_script(
        &hub,
        "scim_client.py",
        &mut scim_script("scim_client.py"),
        &[
            ("KEYWAY_CLIENT_ID", str_field(&provisioner, "client_id")),
            (
                "KEYWAY_CLIENT_SECRET",
                str_field(&provisioner, "client_secret"),
            ),
            ("KEYWAY_USERNAME", username),
            ("KEYWAY_PASSWORD", password),
        ],
    );
    let web = hub.create_client(
        "py-web",
        &["authorization_code", "refresh_token"],
        "openid read",
        &["--redirect-uri", &callback],
    );
    run_script(
        &hub,
        "authorization_code.py (as the SCIM user)",
        &mut python_script("authorization_code.py"),
        &[
            ("KEYWAY_CLIENT_ID", str_field(&web, "client_id")),
            ("KEYWAY_CLIENT_SECRET", str_field(&web, "client_secret")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_SCOPE", "openid read"),
            ("KEYWAY_USERNAME", username),
            ("KEYWAY_PASSWORD", password),
        ],
    );
}
