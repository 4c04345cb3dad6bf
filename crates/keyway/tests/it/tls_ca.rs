//! A private CA for the TLS tests, made with the `openssl` program as an operator would.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `openssl` program (`KEYWAY_OPENSSL`, default `openssl`).
pub(crate) fn openssl() -> String {
    std::env::var("KEYWAY_OPENSSL").unwrap_or_else(|_| "openssl".into())
}

fn run(dir: &Path, args: &[&str]) {
    let output = Command::new(openssl())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `ca.pem`/`ca.key` in a temporary directory, and server certificates it signs for
/// 127.0.0.1 and localhost.
pub(crate) struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let dir = tempfile::tempdir().expect("temp dir");
        run(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=keyway test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(dir.path().join("index.txt"), "").expect("index");
        std::fs::write(dir.path().join("serial"), "1000\n").expect("serial");
        std::fs::write(dir.path().join("ca.cnf"), CA_CONFIG).expect("ca.cnf");
        TestCa { dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A new key `NAME.key` and its certificate `NAME.pem`, valid from yesterday to tomorrow.
    pub(crate) fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue_between(name, "-1d", "+1d")
    }

    /// As [`TestCa::issue`], a certificate that expired in 2020.
    pub(crate) fn issue_expired(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue_between(name, "20200101000000Z", "20200102000000Z")
    }

    /// `start`/`end`: `-1d`/`+1d` (relative to now) or ASN.1 times (`YYYYMMDDHHMMSSZ`).
    fn issue_between(&self, name: &str, start: &str, end: &str) -> (PathBuf, PathBuf) {
        let now = time_now();
        let at = |spec: &str| match spec {
            "-1d" => asn1(now - 86_400),
            "+1d" => asn1(now + 86_400),
            fixed => fixed.to_string(),
        };
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        run(
            self.dir(),
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:hub.test",
            ],
        );
        run(
            self.dir(),
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-in",
                &csr,
                "-out",
                &pem,
                "-notext",
                "-startdate",
                &at(start),
                "-enddate",
                &at(end),
            ],
        );
        (self.dir().join(pem), self.dir().join(key))
    }
}

/// Just enough of an `openssl ca` configuration: the CSR's names (its subjectAltName) are
/// copied, the rest set here.
const CA_CONFIG: &str = "\
[ca]
default_ca = test
[test]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
x509_extensions = server
[any]
commonName = supplied
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
";

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// `YYYYMMDDHHMMSSZ` for Unix time `t` (UTC): RFC 3339 without its separators.
fn asn1(t: i64) -> String {
    keyway_kernel::rfc3339::format_unix_secs(t).replace(['-', ':', 'T'], "")
}

#[test]
fn asn1_times_are_utc_calendar_times() {
    assert_eq!(asn1(0), "19700101000000Z");
    assert_eq!(asn1(1_767_225_600 + 3_723), "20260101010203Z");
}
