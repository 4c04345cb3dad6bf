//! `keyway link partner create` and `keyway link submit` against a running hub.

use crate::harness::{Hub, keyway, str_field};

fn h(n: u32) -> String {
    format!("{n:08x}").repeat(8)
}

#[test]
fn partner_create_then_submit_writes_links_and_errors() {
    let hub = Hub::start();
    let client = hub.create_client("flm", &["client_credentials"], "link:submit", &[]);
    let id = str_field(&client, "client_id").to_string();
    let partner = hub.cli_json(&[
        "link", "partner", "create", "--code", "FLM", "--client", &id,
    ]);
    assert_eq!(partner["code"], "FLM");
    let listed = hub.cli_json(&["link", "partner", "list"]);
    assert_eq!(listed[0]["client_id"], id.as_str());

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    write_secret(
        &secret,
        &format!("{}\n", str_field(&client, "client_secret")),
    );
    let input = dir.path().join("hashes.csv");
    let mut text = String::from("PATID,F_L_D_R,F_L_D_S\r\n");
    for i in 0..25u32 {
        text.push_str(&format!("p{i},{},{}\r\n", h(i), h(1000 + i)));
    }
    text.push_str("bad,xyz,\r\n");
    std::fs::write(&input, text).unwrap();
    let output = dir.path().join("links.csv");
    let errors = dir.path().join("errors.csv");
    let submit = |out: &std::path::Path| {
        keyway()
            .args([
                "link",
                "submit",
                "--hub",
                &hub.endpoint(""),
                "--client-id",
                &id,
            ])
            .arg("--client-secret-file")
            .arg(&secret)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(out)
            .arg("--errors")
            .arg(&errors)
            .args(["--batch-size", "10", "--quiet"])
            .output()
            .unwrap()
    };
    let run = submit(&output);
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let links = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = links.lines().collect();
    assert_eq!(lines[0], "PATID,UUID,FLAG,REASON");
    assert_eq!(lines.len(), 26, "{links}");
    assert!(
        lines[1].starts_with("p0,") && lines[1].contains(",NEW,"),
        "{links}"
    );
    let refused = std::fs::read_to_string(&errors).unwrap();
    assert!(refused.contains("27,bad,"), "{refused}");

    // Idempotent: a second run writes the same links.
    let again = dir.path().join("again.csv");
    assert_eq!(submit(&again).status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), links);

    let stats = hub.cli_json(&["link", "stats"]);
    assert_eq!(stats["records"], 25, "{stats}");

    // A file that still holds identifiers never leaves the site.
    std::fs::write(&input, "PATID,FIRST,F_L_D_S\np1,Aly,x\n").unwrap();
    let refused = submit(&dir.path().join("none.csv"));
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("identifying"));
    assert!(!dir.path().join("none.csv").exists());
}

#[test]
fn formula_patids_are_neutralised_in_links_and_refused_files() {
    let hub = Hub::start();
    let client = hub.create_client("csv", &["client_credentials"], "link:submit", &[]);
    let id = str_field(&client, "client_id").to_string();
    hub.cli_json(&[
        "link", "partner", "create", "--code", "CSV", "--client", &id,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    write_secret(&secret, str_field(&client, "client_secret"));
    let input = dir.path().join("hashes.csv");
    // "'-5" is how `keyway link hash` writes patid -5.
    let text = format!(
        "PATID,F_L_D_S\n=cmd|' /C calc'!A0,{}\n\"'-5\",{}\n+1,{}\n@bad,xyz\n",
        h(1),
        h(2),
        h(3)
    );
    std::fs::write(&input, text).unwrap();
    let (output, errors) = (dir.path().join("links.csv"), dir.path().join("refused.csv"));
    let run = keyway()
        .args([
            "link",
            "submit",
            "--quiet",
            "--hub",
            &hub.endpoint(""),
            "--client-id",
            &id,
        ])
        .arg("--client-secret-file")
        .arg(&secret)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--errors")
        .arg(&errors)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let links = std::fs::read_to_string(&output).unwrap();
    let patids: Vec<&str> = links
        .lines()
        .skip(1)
        .map(|l| l.split(",\"").next().unwrap())
        .collect();
    assert!(links.contains("\n\"'=cmd|' /C calc'!A0\","), "{links}");
    assert!(links.contains("\n\"'-5\","), "{links}");
    assert!(links.contains("\n\"'+1\","), "{links}");
    assert_eq!(patids.len(), 3, "{links}");
    let refused = std::fs::read_to_string(&errors).unwrap();
    assert!(refused.contains("\n5,\"'@bad\","), "{refused}");
    // --strict writes its report with the same guard.
    let strict = dir.path().join("strict.csv");
    let run = keyway()
        .args([
            "link",
            "submit",
            "--quiet",
            "--strict",
            "--hub",
            &hub.endpoint(""),
            "--client-id",
            &id,
        ])
        .arg("--client-secret-file")
        .arg(&secret)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(dir.path().join("unused.csv"))
        .arg("--errors")
        .arg(&strict)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let report = std::fs::read_to_string(&strict).unwrap();
    assert!(report.contains("\n5,\"'@bad\","), "{report}");
}

#[test]
fn strict_submit_sends_nothing_from_a_file_with_a_bad_row() {
    let hub = Hub::start();
    let client = hub.create_client("site", &["client_credentials"], "link:submit", &[]);
    let id = str_field(&client, "client_id").to_string();
    hub.cli_json(&[
        "link", "partner", "create", "--code", "SITE", "--client", &id,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    write_secret(&secret, str_field(&client, "client_secret"));
    let input = dir.path().join("hashes.csv");
    let output = dir.path().join("links.csv");
    let errors = dir.path().join("errors.csv");
    let submit = || {
        keyway()
            .args([
                "link",
                "submit",
                "--strict",
                "--quiet",
                "--hub",
                &hub.endpoint(""),
            ])
            .args(["--client-id", &id])
            .arg("--client-secret-file")
            .arg(&secret)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&output)
            .arg("--errors")
            .arg(&errors)
            .output()
            .unwrap()
    };
    // A patid with a comma and a newline travels quoted (RFC 4180) and comes back intact.
    let good = format!("PATID,F_L_D_S\np1,{}\n\"p,2\nb\",{}\n", h(1), h(2));
    std::fs::write(&input, format!("{good}p3,xyz\np1,{}\n", h(3))).unwrap();
    let refused = submit();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing was submitted"));
    let report = std::fs::read_to_string(&errors).unwrap();
    assert!(
        report.contains("5,p3,F_L_D_S: not a SHA-256 hash"),
        "{report}"
    );
    assert!(
        report.contains("6,p1,duplicate patid (first on line 2)"),
        "{report}"
    );
    assert!(!output.exists());
    assert_eq!(hub.cli_json(&["link", "stats"])["records"], 0);

    std::fs::write(&input, good).unwrap();
    let run = submit();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut reader = csv::Reader::from_path(&output).unwrap();
    let patids: Vec<String> = reader
        .records()
        .map(|r| r.unwrap().get(0).unwrap().to_string())
        .collect();
    assert_eq!(patids, ["p1", "p,2\nb"]);
    assert_eq!(hub.cli_json(&["link", "stats"])["records"], 2);
}

/// The hub killed (SIGKILL) while a submission streams: after a restart, submitting the same
/// file again gives every patid one UUID, the same as an uninterrupted run would keep, and
/// nothing is stored twice.
#[test]
fn a_hub_killed_mid_submission_loses_and_duplicates_nothing() {
    let mut hub = Hub::start();
    let client = hub.create_client("site", &["client_credentials"], "link:submit", &[]);
    let id = str_field(&client, "client_id").to_string();
    hub.cli_json(&[
        "link", "partner", "create", "--code", "SITE", "--client", &id,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    write_secret(&secret, str_field(&client, "client_secret"));
    let input = dir.path().join("hashes.csv");
    let rows = 60_000u32;
    let mut text = String::from("PATID,F_L_D_R,F_L_D_S\n");
    for i in 0..rows {
        text.push_str(&format!("p{i},{},{}\n", h(i), h(1_000_000 + i)));
    }
    std::fs::write(&input, text).unwrap();
    let url = hub.endpoint("");
    let submit = |out: &std::path::Path| {
        keyway()
            .args(["link", "submit", "--quiet", "--hub", &url])
            .args(["--client-id", &id, "--batch-size", "500", "--attempts", "1"])
            .arg("--client-secret-file")
            .arg(&secret)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = dir.path().join("first.csv");
    let mut running = submit(&first);
    // Kill the hub once some batches are stored but well before the end.
    let started = std::time::Instant::now();
    loop {
        let stats = hub.cli_json(&["link", "stats"]);
        if stats["records"].as_u64().unwrap_or(0) >= 1_000 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "no progress: {stats}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    hub.kill_and_restart(&[]);
    let status = running.wait().unwrap();
    let linked_before = hub.cli_json(&["link", "stats"])["records"]
        .as_u64()
        .unwrap();
    if linked_before < u64::from(rows) {
        assert!(
            !status.success(),
            "an interrupted submission must not claim success"
        );
        assert!(!first.exists(), "no partial output file");
    }

    let second = dir.path().join("second.csv");
    let status = submit(&second).wait().unwrap();
    assert!(status.success());
    let stats = hub.cli_json(&["link", "stats"]);
    assert_eq!(stats["records"], u64::from(rows), "{stats}");
    let mut reader = csv::Reader::from_path(&second).unwrap();
    let mut uuids = std::collections::HashSet::new();
    for record in reader.records() {
        let record = record.unwrap();
        assert!(matches!(&record[2], "NEW" | "LINKED"), "{record:?}");
        assert!(
            uuids.insert(record[1].to_string()),
            "a UUID given twice: {record:?}"
        );
    }
    assert_eq!(uuids.len(), rows as usize);
    // A third run answers the same UUIDs again.
    let third = dir.path().join("third.csv");
    assert!(submit(&third).wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(&third).unwrap(),
        std::fs::read_to_string(&second).unwrap()
    );
}

/// A secret file as a careful operator writes it: readable by its owner only.
pub(crate) fn write_secret(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `link submit` against `hub` with `secret`, for the refusals made before anything is sent:
/// the failed run's standard error.
fn submit_refused(hub: &str, secret: &std::path::Path) -> String {
    let dir = secret.parent().unwrap();
    let input = dir.join("hashes.csv");
    std::fs::write(&input, format!("PATID,F_L_D_S\np1,{}\n", "ab".repeat(32))).unwrap();
    let run = keyway()
        .args([
            "link",
            "submit",
            "--quiet",
            "--hub",
            hub,
            "--client-id",
            "c",
        ])
        .arg("--client-secret-file")
        .arg(secret)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(dir.join("links.csv"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(!run.status.success(), "{stderr}");
    stderr
}

/// `--client-secret-file` says chmod 600, and means it: a secret others can read is refused,
/// naming the file, its mode and the fix, before anything is sent.
#[cfg(unix)]
#[test]
fn a_client_secret_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = submit_refused("http://127.0.0.1:9", &secret);
    assert!(
        stderr.contains(&secret.display().to_string())
            && stderr.contains("0644")
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// `--hub 127.0.0.1:8080` (no scheme) says what is needed instead of failing obscurely.
#[test]
fn a_hub_address_without_a_scheme_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    write_secret(&secret, "0123456789abcdef0123456789abcdef");
    let stderr = submit_refused("127.0.0.1:8080", &secret);
    assert!(
        stderr.contains("--hub 127.0.0.1:8080")
            && stderr.contains("http:// or https://")
            && stderr.contains("e.g. http://127.0.0.1:8080"),
        "{stderr}"
    );
    // https:// to a hub that speaks plain http, and a port nobody listens on, in plain words.
    let hub = crate::harness::Hub::start();
    let stderr = submit_refused(&hub.url.replace("http://", "https://"), &secret);
    assert!(
        stderr.contains("does not answer TLS (is it http://"),
        "{stderr}"
    );
    let stderr = submit_refused(
        &format!("http://127.0.0.1:{}", crate::harness::free_port()),
        &secret,
    );
    assert!(stderr.contains("nothing listens there"), "{stderr}");
}
