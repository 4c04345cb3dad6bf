//! `keyway data check | schemas` on the shipped example and on broken files.

use crate::harness::{keyway, repo_root};

#[test]
fn the_example_schema_is_valid_and_mistakes_are_located() {
    let example = repo_root().join("examples/crm/schemas.yaml");
    let out = keyway()
        .args(["data", "check"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 entities (Contact, Organization)"));
    let out = keyway()
        .args(["data", "schemas", "--json"])
        .arg(&example)
        .output()
        .unwrap();
    let schemas: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schemas[0]["name"], "Contact");
    assert!(
        schemas[0]["read_scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "crm.read")
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "entities:\n  Contact:\n    properties:\n      age: { type: integer, maxLength: 3 }\n",
    )
    .unwrap();
    let out = keyway().args(["data", "check"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Contact.properties.age: maxLength and pattern apply only to type string"),
        "{stderr}"
    );
    std::fs::write(
        &bad,
        "entities:\n  Contact:\n    properties:\n      age: { type: integer, colour: red }\n",
    )
    .unwrap();
    let out = keyway().args(["data", "check"]).arg(&bad).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.yaml:4:"),
        "syntax errors carry line:column"
    );
}
