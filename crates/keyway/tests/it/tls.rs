//! `keyway serve --tls-cert --tls-key`: stock clients over https with a private CA, HTTP/2 by
//! ALPN, certificates reloaded under load, bad certificates refused or kept out.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::harness::{Hub, http_client, keyway, poll, run_with_timeout, str_field};
use crate::interop::{available, interop_dir, node_module_missing, python, python_missing};
use crate::link_cli::write_secret;
use crate::tls_ca::TestCa;

fn tls_args(cert: &std::path::Path, key: &std::path::Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The common name of the certificate a new connection to `url` is given: a new client each
/// time, since a client that resumes a TLS session is not sent the certificate again.
fn served_name(ca: &TestCa, url: &str) -> String {
    let response = fresh_connections(ca)
        .get(url)
        .send()
        .expect("https request");
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("TLS info");
    let der = info.peer_certificate().expect("a peer certificate");
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("X.509");
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A client that opens a new connection (and handshake) for every request.
fn fresh_connections(ca: &TestCa) -> reqwest::blocking::Client {
    let pem = std::fs::read(ca.ca_pem()).expect("CA");
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA"))
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// Replaces `to`'s content the way certificate tools do: a new file renamed over the old.
fn replace(from: &std::path::Path, to: &std::path::Path) {
    let staged = to.with_extension("new");
    std::fs::copy(from, &staged).expect("stage");
    std::fs::rename(&staged, to).expect("rename");
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// While four clients call the hub without a pause (two on kept-alive connections, two with
/// a new handshake each time), the certificate is replaced on disk, then replaced by a key
/// that does not match, then by an expired one, then replaced and announced with SIGHUP: no
/// request fails, new handshakes get each good certificate within the watch interval, and
/// the bad ones are logged and never served.
#[test]
fn certificates_are_reloaded_under_load_and_bad_ones_are_kept_out() {
    let ca = TestCa::new();
    let (first, first_key) = ca.issue("first");
    let (second, second_key) = ca.issue("second");
    let (third, _third_key) = ca.issue("third");
    let (expired, expired_key) = ca.issue_expired("expired");
    let (fourth, fourth_key) = ca.issue("fourth");
    let live = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (live.path().join("hub.pem"), live.path().join("hub.key"));
    std::fs::copy(&first, &cert).expect("copy");
    std::fs::copy(&first_key, &key).expect("copy");
    let mut args = tls_args(&cert, &key);
    args.extend(["--issuer".into(), "https://hub.test:{port}".into()]);
    let hub = Hub::start_tls(&ca.ca_pem(), &as_strs(&args));
    let url = hub.endpoint("/healthz");
    let fresh = fresh_connections(&ca);
    // Under its name, an https issuer tells browsers to stay on https.
    let port = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port");
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(ca.ca_pem())
        .args(["--resolve", &format!("hub.test:{port}:127.0.0.1")])
        .arg(format!("https://hub.test:{port}/healthz"))
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    assert_eq!(served_name(&ca, &url), "first");

    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let http = if i < 2 {
                http_client(Some(&ca.ca_pem()))
            } else {
                fresh.clone()
            };
            let (url, stop, done, failed, failures) = (
                url.clone(),
                stop.clone(),
                done.clone(),
                failed.clone(),
                failures.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match http.get(&url).send() {
                        Ok(response) if response.status() == 200 => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut list) = failures.lock() {
                                list.push(format!("{other:?}"));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let within = Duration::from_secs(8);

    // A new pair on disk: served within the watch interval.
    replace(&second_key, &key);
    replace(&second, &cert);
    assert!(
        poll(within, || served_name(&ca, &url) == "second"),
        "the new certificate was not served:\n{}",
        hub.output()
    );
    // A certificate whose key is not in the key file: logged, the old pair stays.
    replace(&third, &cert);
    assert!(
        poll(within, || hub
            .output()
            .contains("does not belong to the certificate")),
        "a mismatched pair was not reported:\n{}",
        hub.output()
    );
    assert_eq!(served_name(&ca, &url), "second");
    // An expired pair: logged, the old pair stays.
    replace(&expired_key, &key);
    replace(&expired, &cert);
    assert!(
        poll(within, || hub.output().contains("expired on 2020")),
        "an expired certificate was not reported:\n{}",
        hub.output()
    );
    assert_eq!(served_name(&ca, &url), "second");
    // A good pair announced with SIGHUP (whether or not the watch saw it first).
    replace(&fourth_key, &key);
    replace(&fourth, &cert);
    let signalled = Command::new("kill")
        .args(["-HUP", &hub.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(signalled.success());
    assert!(
        poll(within, || hub
            .output()
            .contains("TLS certificate reloaded (SIGHUP)")),
        "SIGHUP did not reload:\n{}",
        hub.output()
    );
    assert_eq!(served_name(&ca, &url), "fourth");

    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker");
    }
    let output = hub.output();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads: {:?}\n{output}",
        failures.lock().map(|l| l.clone()).unwrap_or_default()
    );
    assert!(done.load(Ordering::Relaxed) > 100, "too few requests ran");
    assert!(
        count(&output, "still serving the previous one") >= 2,
        "{output}"
    );
}

/// A certificate that cannot be served stops `keyway serve` before it listens, naming the
/// file and the reason; so does half of a pair.
#[test]
fn serve_refuses_an_expired_mismatched_or_missing_certificate() {
    let ca = TestCa::new();
    let (good, good_key) = ca.issue("good");
    let (expired, expired_key) = ca.issue_expired("old");
    let (_other, other_key) = ca.issue("other");
    let data = tempfile::tempdir().expect("temp dir");
    let refused = |args: &[String]| {
        let output = keyway()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run keyway serve");
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let shown = |p: &std::path::Path| p.display().to_string();
    let why = refused(&tls_args(&expired, &expired_key));
    assert!(
        why.contains(&shown(&expired)) && why.contains("expired on 2020-01-02"),
        "{why}"
    );
    let why = refused(&tls_args(&good, &other_key));
    assert!(
        why.contains(&shown(&good)) && why.contains(&shown(&other_key)),
        "{why}"
    );
    let why = refused(&tls_args(&good, &ca.dir().join("missing.key")));
    assert!(why.contains("missing.key"), "{why}");
    // The CA's certificate file holds no private key.
    let why = refused(&tls_args(&good, &ca.ca_pem()));
    assert!(why.contains("no PEM private key"), "{why}");
    let why = refused(&["--tls-cert".into(), shown(&good)]);
    assert!(why.contains("--tls-key"), "{why}");
    // A key flattened onto one line: refused, and not one run of its text is repeated.
    let pem = std::fs::read_to_string(&other_key).expect("key");
    let flat = ca.dir().join("flat.key");
    std::fs::write(&flat, pem.replace('\n', " ")).expect("write");
    let why = refused(&tls_args(&good, &flat));
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for start in (0..body.len().saturating_sub(12)).step_by(4) {
        assert!(
            !why.contains(&body[start..start + 12]),
            "the key leaked: {why}"
        );
    }
    assert!(why.contains("one line"), "{why}");
    // A chain in the wrong order (the CA first) is named as such, not as a wrong key.
    let reversed = ca.dir().join("reversed.pem");
    let mut chain = std::fs::read(ca.ca_pem()).expect("CA");
    chain.extend(std::fs::read(&good).expect("cert"));
    std::fs::write(&reversed, chain).expect("write");
    let why = refused(&tls_args(&reversed, &good_key));
    assert!(why.contains("must come first"), "{why}");
    // keyway.toml's tls_cert and tls_key are read like the flags.
    let config = ca.dir().join("keyway.toml");
    std::fs::write(&config, format!("tls_cert = {:?}\n", shown(&expired))).expect("write");
    let why = refused(&["--config".into(), shown(&config)]);
    assert!(why.contains("needs --tls-key"), "{why}");
    std::fs::write(
        &config,
        format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            shown(&expired),
            shown(&expired_key)
        ),
    )
    .expect("write");
    let why = refused(&["--config".into(), shown(&config)]);
    assert!(why.contains("expired on 2020-01-02"), "{why}");
}

/// curl (HTTP/2 and HTTP/1.1), Python requests and openid-client reach an https hub through
/// a private CA, and are refused without it; the hub's issuer, HSTS and cookies follow;
/// `keyway link submit --ca-file` sends a hash file to it.
#[test]
fn stock_clients_speak_to_an_https_hub_through_a_private_ca() {
    if !available(
        "stock_clients_speak_to_an_https_hub_through_a_private_ca",
        python_missing().or_else(|| node_module_missing("openid-client")),
    ) {
        return;
    }
    let ca = TestCa::new();
    let (cert, key) = ca.issue("hub");
    let hub = Hub::start_tls(&ca.ca_pem(), &as_strs(&tls_args(&cert, &key)));
    let output = hub.output_once("listening on https://127.0.0.1:");
    assert!(
        output.contains("listening on https://127.0.0.1:"),
        "{output}"
    );
    assert!(
        output.contains(&format!("issuer:   {}", hub.url)),
        "{output}"
    );
    let client = hub.create_client("partner", &["client_credentials"], "link:submit read", &[]);
    let (id, secret) = (
        str_field(&client, "client_id"),
        str_field(&client, "client_secret"),
    );

    let metadata = hub.endpoint("/.well-known/openid-configuration");
    let ca_pem = ca.ca_pem().display().to_string();
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--cacert",
                &ca_pem,
                flag,
                "-D",
                "-",
                "-o",
                "/dev/null",
            ])
            .args(["-w", "%{http_version}", &metadata])
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "curl {flag}: {text}");
        assert!(text.ends_with(version), "curl {flag}: {text}");
        // A loopback issuer gets no HSTS: browsers would pin every localhost site.
        assert!(
            !text
                .to_ascii_lowercase()
                .contains("strict-transport-security"),
            "{text}"
        );
    }
    let untrusted = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", &metadata])
        .output()
        .expect("run curl");
    assert_eq!(
        untrusted.status.code(),
        Some(60),
        "curl trusted an unknown CA"
    );
    // Plain http to the https port is told so, instead of a TLS alert.
    let plain = http_client(None)
        .get(hub.url.replace("https://", "http://") + "/healthz")
        .send()
        .expect("plain http to the https port");
    assert_eq!(plain.status(), 400);
    assert!(
        plain
            .text()
            .unwrap_or_default()
            .contains("This port speaks https")
    );
    // Browser cookies over https are __Host- cookies.
    let page = hub
        .http
        .get(hub.endpoint("/login"))
        .send()
        .expect("GET /login");
    let cookies: Vec<_> = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-keyway_browser=") && c.contains("; Secure")),
        "{cookies:?}"
    );

    let env = [
        ("KEYWAY_HUB_URL", hub.url.as_str()),
        ("KEYWAY_CA_FILE", ca_pem.as_str()),
        ("KEYWAY_CLIENT_ID", id),
        ("KEYWAY_CLIENT_SECRET", secret),
    ];
    let mut python = Command::new(python());
    python.arg(interop_dir("python").join("https_client.py"));
    run_client(&hub, "python/https_client.py", &mut python, &env);
    let browser = interop_dir("browser");
    let mut node = Command::new("node");
    node.arg(browser.join("openid_client_tls.mjs"))
        .current_dir(&browser)
        .env("NODE_EXTRA_CA_CERTS", &ca_pem);
    run_client(&hub, "browser/openid_client_tls.mjs", &mut node, &env);

    link_submit_over_tls(&hub, &ca, id, secret);
}

fn run_client(hub: &Hub, what: &str, command: &mut Command, env: &[(&str, &str)]) {
    for (name, value) in env {
        command.env(name, value);
    }
    command
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    let (status, output) = run_with_timeout(command, Duration::from_secs(120));
    eprintln!("--- {what} ---\n{output}");
    assert!(
        status.is_some_and(|s| s.success()),
        "{what} failed:\n{output}\n--- hub ---\n{}",
        hub.output()
    );
}

/// `link submit` needs `--ca-file` for a hub whose CA is private, and says so without it.
fn link_submit_over_tls(hub: &Hub, ca: &TestCa, id: &str, secret: &str) {
    hub.cli_json(&["link", "partner", "create", "--code", "TLS", "--client", id]);
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("secret");
    write_secret(&secret_file, &format!("{secret}\n"));
    let input = dir.path().join("hashes.csv");
    std::fs::write(&input, format!("PATID,F_L_D_S\np1,{}\n", "ab".repeat(32))).expect("input");
    let submit = |ca_file: Option<&std::path::Path>| {
        let mut command = keyway();
        command
            .args([
                "link",
                "submit",
                "--quiet",
                "--hub",
                &hub.url,
                "--client-id",
                id,
            ])
            .arg("--client-secret-file")
            .arg(&secret_file)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(dir.path().join("links.csv"));
        if let Some(path) = ca_file {
            command.arg("--ca-file").arg(path);
        }
        command.output().expect("run link submit")
    };
    let without = submit(None);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        !without.status.success() && stderr.contains("--ca-file"),
        "{stderr}"
    );
    let with = submit(Some(&ca.ca_pem()));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let links = std::fs::read_to_string(dir.path().join("links.csv")).expect("links");
    assert!(links.lines().count() == 2, "{links}");
}

/// SIGHUP (what `systemctl reload` sends) never stops a hub, TLS or not.
#[test]
fn sighup_does_not_stop_a_hub_without_tls() {
    let mut hub = Hub::start();
    let signalled = Command::new("kill")
        .args(["-HUP", &hub.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(signalled.success());
    std::thread::sleep(Duration::from_millis(300));
    let ready = hub
        .http
        .get(hub.endpoint("/readyz"))
        .send()
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let (status, _) = hub.terminate();
    assert!(status.success());
}
