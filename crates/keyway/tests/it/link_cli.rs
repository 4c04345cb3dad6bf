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
    std::fs::write(
        &secret,
        format!("{}\n", str_field(&client, "client_secret")),
    )
    .unwrap();
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
fn strict_submit_sends_nothing_from_a_file_with_a_bad_row() {
    let hub = Hub::start();
    let client = hub.create_client("site", &["client_credentials"], "link:submit", &[]);
    let id = str_field(&client, "client_id").to_string();
    hub.cli_json(&[
        "link", "partner", "create", "--code", "SITE", "--client", &id,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, str_field(&client, "client_secret")).unwrap();
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
