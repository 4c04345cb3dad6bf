//! Runs the real `keyway` binary: `keyway serve` on a free port with a temporary data dir
//! (killed when dropped), and the admin CLI against the same data dir.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_keyway");

/// Variables that would point a command at another hub's configuration.
pub(crate) const KEYWAY_VARS: [&str; 11] = [
    "KEYWAY_CONFIG",
    "KEYWAY_DATA_DIR",
    "KEYWAY_DATABASE",
    "KEYWAY_ISSUER",
    "KEYWAY_LOG_FORMAT",
    "KEYWAY_LISTEN",
    "KEYWAY_SCHEMAS",
    "KEYWAY_TLS_CERT",
    "KEYWAY_TLS_KEY",
    "KEYWAY_CA_FILE",
    "KEYWAY_WORKERS",
];

/// A `keyway` command with a clean `KEYWAY_*` environment.
pub(crate) fn keyway() -> Command {
    let mut command = Command::new(BIN);
    for var in KEYWAY_VARS {
        command.env_remove(var);
    }
    command
}

/// Runs `command` to the end; it must succeed. Its stdout.
pub(crate) fn stdout_of(command: &mut Command) -> String {
    let out = command.output().expect("run keyway");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A loopback port nobody listens on right now, below the kernel's ephemeral range: a port
/// handed to another program to bind later (HAProxy's front, a hub's) could otherwise be
/// taken meanwhile as the local end of any outgoing connection on the machine (it was, by
/// one of the tests' own). Random, so that tests running at once rarely pick the same.
pub(crate) fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_from.max(10_100));
    for _ in 0..100 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let span = u64::from(high - low);
        let port = low + u16::try_from(hasher.finish() % span).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Copies a child's pipe into `sink` on a thread, so the child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("output lock")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

/// The tests' HTTP client: no redirects followed, 15 s per request, trusting `ca_pem` too.
pub(crate) fn http_client(ca_pem: Option<&Path>) -> reqwest::blocking::Client {
    // reqwest is built with rustls but no default crypto provider (the hub picks one).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut builder = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .tls_info(true);
    if let Some(path) = ca_pem {
        let pem = std::fs::read(path).expect("read the test CA");
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA"));
    }
    builder.build().expect("HTTP client")
}

/// Polls `check` every 100 ms until it holds or `timeout` passes; whether it held.
pub(crate) fn poll(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `keyway serve`.
pub(crate) struct Hub {
    pub url: String,
    pub http: reqwest::blocking::Client,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl Hub {
    /// Starts a hub and waits until `/readyz` answers 200.
    pub(crate) fn start() -> Hub {
        Hub::start_with(&[])
    }

    /// Starts a hub with extra `keyway serve` arguments (`{port}` in one is the hub's port).
    pub(crate) fn start_with(extra: &[&str]) -> Hub {
        Hub::start_using(http_client(None), extra)
    }

    /// Starts a hub over https (`extra` has `--tls-cert` and `--tls-key`) whose certificate
    /// the CA in `ca_pem` signed; its `url` is `https://127.0.0.1:PORT`.
    pub(crate) fn start_tls(ca_pem: &Path, extra: &[&str]) -> Hub {
        Hub::start_using(http_client(Some(ca_pem)), extra)
    }

    fn start_using(http: reqwest::blocking::Client, extra: &[&str]) -> Hub {
        // The port is free when picked but could be taken before the hub binds it: try again.
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("temporary data dir");
            let mut hub = Hub::spawn(dir, free_port(), http.clone(), extra);
            match hub.wait_ready() {
                Ok(()) => return hub,
                Err(output) if output.contains("cannot listen") => continue,
                Err(output) => panic!("keyway serve did not become ready:\n{output}"),
            }
        }
        panic!("keyway serve could not bind a free port in 5 attempts");
    }

    fn spawn(
        dir: tempfile::TempDir,
        port: u16,
        http: reqwest::blocking::Client,
        extra: &[&str],
    ) -> Hub {
        let listen = format!("127.0.0.1:{port}");
        // `{port}` in an argument is the port picked here (`--issuer http://localhost:{port}`).
        let extra: Vec<String> = extra
            .iter()
            .map(|arg| arg.replace("{port}", &port.to_string()))
            .collect();
        // Over TLS, certificate reloads are logged (at info) for the tests to see.
        let tls = extra.iter().any(|arg| arg == "--tls-cert");
        let (scheme, log) = if tls {
            ("https", "warn,keyway_hub::tls=info")
        } else {
            ("http", "warn")
        };
        let mut child = keyway()
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(dir.path())
            .args(&extra)
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keyway serve");
        let output = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            drain(child.stdout.take().expect("stdout"), output.clone()),
            drain(child.stderr.take().expect("stderr"), output.clone()),
        ];
        Hub {
            url: format!("{scheme}://{listen}"),
            http,
            child: Some(child),
            output,
            readers,
            dir,
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let readyz = format!("{}/readyz", self.url);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                self.join_readers();
                return Err(format!("exited with {status}:\n{}", self.output()));
            }
            if let Ok(response) = self.http.get(&readyz).send()
                && response.status() == 200
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("no 200 from {readyz} in 30 s:\n{}", self.output()))
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Everything the hub printed once it printed `text` (or after 10 s): `/readyz` can
    /// answer before the reader threads have drained the start-up lines.
    pub(crate) fn output_once(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = self.output();
            if output.contains(text) || Instant::now() > deadline {
                return output;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the hub printed so far (stdout and stderr).
    pub(crate) fn output(&self) -> String {
        self.output.lock().expect("output lock").clone()
    }

    pub(crate) fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the hub with SIGKILL (no shutdown of any kind) if it runs, then starts a new one on
    /// the same data dir and address, and waits until it is ready.
    pub(crate) fn kill_and_restart(&mut self, extra: &[&str]) {
        // (Or starts it again after `terminate`.)
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.join_readers();
        }
        let listen = self.url.trim_start_matches("http://").to_string();
        let mut child = keyway()
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(self.dir.path())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keyway serve");
        self.readers = vec![
            drain(child.stdout.take().expect("stdout"), self.output.clone()),
            drain(child.stderr.take().expect("stderr"), self.output.clone()),
        ];
        self.child = Some(child);
        if let Err(output) = self.wait_ready() {
            panic!("the restarted hub did not become ready:\n{output}");
        }
    }

    /// Kills the hub with SIGKILL (no shutdown of any kind); `kill_and_restart` starts it
    /// again.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.join_readers();
        }
    }

    /// The process id of the running hub.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("hub is running").id()
    }

    /// Sends SIGTERM and waits (10 s at most) for the hub to exit: its status and output.
    pub(crate) fn terminate(&mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let mut child = self.child.take().expect("hub is running");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the hub") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the hub did not stop within 10 s of SIGTERM:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.join_readers();
        (status, self.output())
    }

    /// Runs `keyway ARGS --data-dir DIR` with `stdin` as its standard input.
    pub(crate) fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = keyway()
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keyway");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        child.wait_with_output().expect("keyway output")
    }

    /// Runs `keyway ARGS --data-dir DIR` with an empty standard input.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, "")
    }

    /// Runs `keyway ARGS --json`, asserts success and parses its output.
    pub(crate) fn cli_json(&self, args: &[&str]) -> Value {
        self.cli_json_with_stdin(args, "")
    }

    pub(crate) fn cli_json_with_stdin(&self, args: &[&str], stdin: &str) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let output = self.cli_with_stdin(&args, stdin);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "keyway {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("keyway {args:?} printed invalid JSON ({e}):\n{stdout}"))
    }

    /// `keyway client create … --json`; the printed client (with `client_secret` if any).
    pub(crate) fn create_client(
        &self,
        name: &str,
        grants: &[&str],
        scope: &str,
        extra: &[&str],
    ) -> Value {
        let mut args = vec!["client", "create", "--name", name, "--scope", scope];
        for grant in grants {
            args.extend(["--grant", grant]);
        }
        args.extend(extra);
        self.cli_json(&args)
    }

    /// `keyway user create --username U --password-stdin --json`.
    pub(crate) fn create_user(&self, username: &str, password: &str) -> Value {
        self.cli_json_with_stdin(
            &["user", "create", "--username", username, "--password-stdin"],
            &format!("{password}\n"),
        )
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_readers();
    }
}

/// A string field of a JSON value, or a panic naming the field and the value.
pub(crate) fn str_field<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field:?} in {value}"))
}

/// The repository root (this crate is at crates/keyway).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Runs `command` with a time limit; its status (None when it was killed) and combined output.
pub(crate) fn run_with_timeout(
    command: &mut Command,
    limit: Duration,
) -> (Option<ExitStatus>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let output = Arc::new(Mutex::new(String::new()));
    let readers = [
        drain(child.stdout.take().expect("stdout"), output.clone()),
        drain(child.stderr.take().expect("stderr"), output.clone()),
    ];
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let text = output.lock().expect("output lock").clone();
    (status, text)
}
