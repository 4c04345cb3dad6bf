//! `keyway data check | schemas` on the shipped example and on broken files.

use serde_json::{Value, json};

use crate::harness::{Hub, keyway, repo_root, str_field};
use crate::oauth::access_token;

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

/// The "done when", through the real binary: a hub serving the example schemas, a
/// `crm.read` token refused a POST, a `contact.readwrite` token creating, filtering, paging,
/// patching and deleting; then the operator's NDJSON export of what is left.
#[test]
fn the_tour_works_end_to_end_and_export_writes_ndjson() {
    let example = repo_root().join("examples/crm/schemas.yaml");
    let example = example.to_str().unwrap();
    let hub = Hub::start_with(&["--schemas", example]);
    let reader = hub.create_client("reader", &["client_credentials"], "crm.read", &[]);
    let writer = hub.create_client(
        "writer",
        &["client_credentials"],
        "contact.readwrite contact.read admin.read",
        &[],
    );
    let token = |client: &Value, scope: &str| {
        access_token(
            &hub,
            str_field(client, "client_id"),
            str_field(client, "client_secret"),
            scope,
        )
    };
    let read_token = token(&reader, "crm.read");
    let write_token = token(&writer, "contact.readwrite contact.read");
    // Salaries are written by a token that may read them (a property one cannot read is
    // undeclared for one's writes too, docs/data.md).
    let payroll_token = token(&writer, "contact.readwrite contact.read admin.read");
    let contacts = hub.endpoint("/api/Contact");

    let refused = hub
        .http
        .post(&contacts)
        .bearer_auth(&read_token)
        .json(&json!({"firstName": "Ada", "lastName": "Lovelace"}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    let mut ids = Vec::new();
    for (i, city) in ["Ada", "Grace", "Edsger", "Barbara", "Alan"]
        .iter()
        .enumerate()
    {
        let created = hub
            .http
            .post(&contacts)
            .bearer_auth(&payroll_token)
            .json(&json!({"firstName": city, "lastName": "Tour", "score": i * 10, "salary": 1000}))
            .send()
            .unwrap();
        assert_eq!(created.status(), 201);
        assert!(created.headers().contains_key("location"));
        let body: Value = created.json().unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let page: Value = hub
        .http
        .get(&contacts)
        .query(&[
            ("$filter", "score ge 20"),
            ("$orderby", "score desc"),
            ("$top", "2"),
        ])
        .header("prefer", "odata.maxpagesize=1")
        .bearer_auth(&write_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert_eq!(page["value"][0]["firstName"], "Alan");
    assert!(page["value"][0].get("salary").is_none(), "needs admin.read");
    let next = page["@odata.nextLink"].as_str().unwrap();
    let rest: Value = hub
        .http
        .get(next)
        .bearer_auth(&write_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(rest["value"][0]["firstName"], "Barbara");

    let item = hub.endpoint(&format!("/api/Contact({})", ids[0]));
    let current = hub
        .http
        .get(&item)
        .bearer_auth(&write_token)
        .send()
        .unwrap();
    let etag = current.headers()["etag"].to_str().unwrap().to_string();
    let patched = hub
        .http
        .patch(&item)
        .bearer_auth(&write_token)
        .header("If-Match", &etag)
        .json(&json!({"status": "customer"}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    let stale = hub
        .http
        .delete(&item)
        .bearer_auth(&write_token)
        .header("If-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(stale.status(), 412);
    let deleted = hub
        .http
        .delete(hub.endpoint(&format!("/api/Contact({})", ids[1])))
        .bearer_auth(&write_token)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // The operator's export: every remaining item, all properties, id order.
    let out = hub.cli(&["data", "export", "contact", "--schemas", example]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let mut exported: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert!(exported.windows(2).all(|w| w[0] < w[1]), "id order");
    exported.sort_unstable();
    let mut expected: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|i| *i != ids[1])
        .collect();
    expected.sort_unstable();
    assert_eq!(exported, expected);
    assert!(
        lines.iter().all(|l| l["salary"].as_f64() == Some(1000.0)),
        "operator sees every property"
    );
    assert!(lines.iter().any(|l| l["status"] == "customer"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("high.ndjson");
    let out = hub.cli(&[
        "data",
        "export",
        "Contact",
        "--schemas",
        example,
        "--filter",
        "score ge 30",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 2);

    for (args, needle) in [
        (vec!["Nobody"], "declares no entity \"Nobody\""),
        (vec!["Contact", "--filter", "score eq"], "$filter"),
        (vec!["Contact", "--filter", "colour eq 'red'"], "colour"),
    ] {
        let mut full = vec!["data", "export"];
        full.extend(args);
        full.extend(["--schemas", example]);
        let out = hub.cli(&full);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{full:?}: {stderr}");
    }
}

/// python-odata, an OData V4 client, builds its entity classes from `/api/$metadata` and
/// creates, filters, orders and reads Contacts through them, unmodified.
#[test]
fn an_odata_v4_client_works_from_the_metadata() {
    run_odata_client(
        "data::an_odata_v4_client_works_from_the_metadata",
        "odata",
        "odata_v4.py",
        "/api/",
    );
}

/// SAP's pyodata, an OData V2 client, builds its model from `/api/v2/$metadata` and creates,
/// reads, filters (V2 literals and functions), counts, expands, changes and deletes, unmodified.
#[test]
fn pyodata_works_against_the_v2_service() {
    run_odata_client(
        "data::pyodata_works_against_the_v2_service",
        "pyodata",
        "odata_v2.py",
        "/api/v2/",
    );
}

/// Runs the Python OData client `script` (importing `module`) against `root` of a hub serving
/// the CRM example, with a `crm.readwrite` token; skipped (or failed, when interop is
/// required) if the module is missing.
fn run_odata_client(test: &str, module: &str, script: &str, root: &str) {
    use crate::interop::{available, interop_dir, python, run_script};
    let missing = std::process::Command::new(python())
        .args(["-c", &format!("import {module}, requests")])
        .output()
        .map_or(true, |o| !o.status.success())
        .then(|| format!("{module} is not installed (scripts/install-test-deps.sh)"));
    if !available(test, missing) {
        return;
    }
    let example = repo_root().join("examples/crm/schemas.yaml");
    let hub = Hub::start_with(&["--schemas", example.to_str().unwrap()]);
    let client = hub.create_client(module, &["client_credentials"], "crm.readwrite", &[]);
    let token = access_token(
        &hub,
        str_field(&client, "client_id"),
        str_field(&client, "client_secret"),
        "crm.readwrite",
    );
    let mut command = std::process::Command::new(python());
    command.arg(interop_dir("python").join(script));
    run_script(
        &hub,
        &format!("python/{script}"),
        &mut command,
        &[
            ("KEYWAY_API_URL", &hub.endpoint(root)),
            ("KEYWAY_TOKEN", &token),
        ],
    );
}

/// `[data] page_size` in keyway.toml sets the server's page size; a nonsense size stops serve.
#[test]
fn the_page_size_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyway.toml");
    std::fs::write(&config, "[data]\npage_size = 2\n").unwrap();
    let example = repo_root().join("examples/crm/schemas.yaml");
    let hub = Hub::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--schemas",
        example.to_str().unwrap(),
    ]);
    let client = hub.create_client("pages", &["client_credentials"], "crm.readwrite", &[]);
    let token = access_token(
        &hub,
        str_field(&client, "client_id"),
        str_field(&client, "client_secret"),
        "crm.readwrite",
    );
    let contacts = hub.endpoint("/api/Contact");
    for name in ["Ada", "Grace", "Alan"] {
        let created = hub
            .http
            .post(&contacts)
            .bearer_auth(&token)
            .json(&json!({"firstName": name, "lastName": "X"}))
            .send()
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let page: Value = hub
        .http
        .get(&contacts)
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 2, "{page}");
    assert!(page["@odata.nextLink"].is_string(), "{page}");

    std::fs::write(&config, "[data]\npage_size = 0\n").unwrap();
    let refused = keyway()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("[data] page_size = 0"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `$metadata` as CSDL XML is valid against OASIS's own CSDL 4.01 schemas (edmx.xsd and
/// edm.xsd, from OASIS's `odata-csdl` npm package), and as CSDL JSON against OASIS's JSON
/// Schema for it (ajv), for a writer and for a reader (whose document carries the Core and
/// Capabilities annotations).
#[test]
fn metadata_validates_against_the_oasis_csdl_schemas() {
    use crate::interop::{available, interop_dir};
    let schemas = interop_dir("browser").join("node_modules/odata-csdl/schemas/edmx.xsd");
    let xmllint = std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = if !xmllint {
        Some("xmllint is not installed (libxml2-utils)".to_string())
    } else if !schemas.exists() || !interop_dir("browser").join("node_modules/ajv").exists() {
        Some(format!("{} is missing (npm ci)", schemas.display()))
    } else {
        None
    };
    if !available(
        "data::metadata_validates_against_the_oasis_csdl_schemas",
        missing,
    ) {
        return;
    }
    let example = repo_root().join("examples/crm/schemas.yaml");
    let hub = Hub::start_with(&["--schemas", example.to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    for scope in ["crm.readwrite admin.read", "contact.read"] {
        let client = hub.create_client("csdl", &["client_credentials"], scope, &[]);
        let token = access_token(
            &hub,
            str_field(&client, "client_id"),
            str_field(&client, "client_secret"),
            scope,
        );
        let xml = hub
            .http
            .get(hub.endpoint("/api/$metadata"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .text()
            .unwrap();
        let file = dir.path().join("metadata.xml");
        std::fs::write(&file, &xml).unwrap();
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&schemas)
            .arg(&file)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.contains("validates"),
            "{scope}: {said}\n{xml}"
        );
        let json = hub
            .http
            .get(hub.endpoint("/api/$metadata?$format=json"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .text()
            .unwrap();
        let file = dir.path().join("metadata.json");
        std::fs::write(&file, &json).unwrap();
        let out = std::process::Command::new("node")
            .arg("csdl_json.mjs")
            .arg(&file)
            .current_dir(interop_dir("browser"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("valid CSDL JSON"),
            "{scope}: {said}{}\n{json}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A second client library, npm's odata-query, builds the queries (object filters, in-lists,
/// lambdas, paths, nested expand options, keys) and every answer is checked against the OData
/// JSON Format 4.01 rules: context URLs, counts, next links followed to the end, annotations,
/// ETags, OData errors (`tests/interop/browser/odata_query.mjs`).
#[test]
fn odata_query_built_urls_get_odata_json_answers() {
    use crate::interop::{available, interop_dir};
    let module = interop_dir("browser").join("node_modules/odata-query");
    let missing = (!module.exists()).then(|| format!("{} is missing (npm ci)", module.display()));
    if !available(
        "data::odata_query_built_urls_get_odata_json_answers",
        missing,
    ) {
        return;
    }
    let example = repo_root().join("examples/crm/schemas.yaml");
    let hub = Hub::start_with(&["--schemas", example.to_str().unwrap()]);
    let client = hub.create_client("odata-query", &["client_credentials"], "crm.readwrite", &[]);
    let token = access_token(
        &hub,
        str_field(&client, "client_id"),
        str_field(&client, "client_secret"),
        "crm.readwrite",
    );
    let post = |entity: &str, body: Value| -> Value {
        let response = hub
            .http
            .post(hub.endpoint(&format!("/api/{entity}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().unwrap()
    };
    let acme = post("Organization", json!({"name": "Acme"}));
    let globex = post("Organization", json!({"name": "Globex"}));
    post("Organization", json!({"name": "Initech"}));
    for (first, status, score, org) in [
        ("Ann", "lead", 10, Some(&acme)),
        ("Bob", "customer", 70, Some(&acme)),
        ("Cid", "customer", 90, Some(&globex)),
        ("Eve", "prospect", 50, None),
    ] {
        let mut body =
            json!({"firstName": first, "lastName": "S", "status": status, "score": score});
        if let Some(org) = org {
            body["organizationId"] = org["id"].clone();
        }
        post("Contact", body);
    }
    let out = std::process::Command::new("node")
        .arg("odata_query.mjs")
        .arg(hub.endpoint("/api"))
        .arg(&token)
        .current_dir(interop_dir("browser"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("every answer follows OData JSON 4.01"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
