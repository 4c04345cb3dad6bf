//! `keyway client allow|disallow|rules` between clients, the audit log of what they change,
//! and client names shared by several clients.

use serde_json::Value;

use crate::harness::{Hub, str_field};

/// `keyway client allow|disallow|rules` by client id or name, transmit and API URLs on
/// `client create|update|show`, and `keyway audit` listing what the commands changed.
#[test]
fn rules_between_clients_and_the_audit_log() {
    let hub = Hub::start();
    let a = hub.create_client("app-a", &["client_credentials"], "contact.read", &[]);
    let a_id = str_field(&a, "client_id").to_string();
    let b = hub.cli_json(&[
        "client",
        "create",
        "--name",
        "app-b",
        "--grant",
        "client_credentials",
        "--scope",
        "contact.read",
        "--transmit-url",
        "http://127.0.0.1:9/from-a",
        "--api-url",
        "http://127.0.0.1:9/api",
    ]);
    let b_id = str_field(&b, "client_id").to_string();
    assert_eq!(b["transmit_url"], "http://127.0.0.1:9/from-a");
    assert_eq!(b["api_url"], "http://127.0.0.1:9/api");
    // `show` and `update` take a unique name as well as an id (as docs/oauth.md writes them).
    assert_eq!(
        hub.cli_json(&["client", "show", "app-b"])["client_id"],
        b_id.as_str()
    );
    let renamed = hub.cli_json(&[
        "client",
        "update",
        "app-b",
        "--transmit-url",
        "http://127.0.0.1:9/from-a",
    ]);
    assert_eq!(renamed["client_id"], b_id.as_str());
    let shown = hub.cli(&["client", "show", &b_id]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("api url:       http://127.0.0.1:9/api"),
        "{text}"
    );

    // A transmit rule needs somewhere to arrive; A has none.
    let refused = hub.cli(&[
        "client", "allow", "app-b", "--to", "app-a", "--for", "transmit",
    ]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("--transmit-url"), "{why}");

    let rule = hub.cli_json(&[
        "client",
        "allow",
        "app-a",
        "--to",
        "app-b",
        "--for",
        "exchange",
        "--scope",
        "contact.read",
    ]);
    assert_eq!(rule["from"], a_id.as_str());
    assert_eq!(rule["to"], b_id.as_str());
    assert_eq!(rule["for"], "exchange");
    assert_eq!(rule["scope"], "contact.read");
    hub.cli_json(&["client", "allow", &a_id, "--to", &b_id, "--for", "call"]);
    let rules = hub.cli_json(&["client", "rules"]);
    assert_eq!(rules.as_array().map(Vec::len), Some(2), "{rules}");
    let listed = hub.cli(&["client", "rules"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains(&format!("app-a ({a_id}) may call app-b ({b_id})")),
        "{text}"
    );

    hub.cli_json(&[
        "client", "disallow", "app-a", "--to", "app-b", "--for", "call",
    ]);
    let again = hub.cli(&[
        "client", "disallow", "app-a", "--to", "app-b", "--for", "call",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no rule"));

    // Removing the API URL with '' (and the update is audited with what changed).
    let updated = hub.cli_json(&["client", "update", &b_id, "--api-url", ""]);
    assert_eq!(updated["api_url"], Value::Null);

    let log = hub.cli_json(&["audit", "--since", "1h"]);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "client.create",
            "client.create",
            "client.update",
            "rule.allow",
            "rule.allow",
            "rule.disallow",
            "client.update"
        ],
        "{log}"
    );
    let update = &log[6];
    assert_eq!(update["reason"], "api_url", "{update}");
    assert!(
        update["actor"].as_str().unwrap().starts_with("cli:"),
        "{update}"
    );
    let bad = hub.cli(&["audit", "--since", "last tuesday"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));
}

/// A client given a name in use is registered (or renamed) with a warning naming the other:
/// the name stops naming one client, and gateway calls or exchanges that used it get 409 /
/// `invalid_target` from then on.
#[test]
fn a_shared_client_name_is_warned_about() {
    let hub = Hub::start();
    let first = hub.create_client("orders", &["client_credentials"], "x", &[]);
    let first_id = str_field(&first, "client_id");
    let second = hub.cli(&[
        "client",
        "create",
        "--name",
        "orders",
        "--grant",
        "client_credentials",
        "--scope",
        "x",
    ]);
    assert!(second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("warning: client orders") && said.contains(first_id),
        "{said}"
    );

    let third = hub.create_client("billing", &["client_credentials"], "x", &[]);
    let third_id = str_field(&third, "client_id");
    let renamed = hub.cli(&["client", "update", third_id, "--name", "orders"]);
    assert!(renamed.status.success());
    let said = String::from_utf8_lossy(&renamed.stderr);
    assert!(said.contains("2 other client(s)"), "{said}");
    let unique = hub.cli(&["client", "update", third_id, "--name", "billing"]);
    assert!(unique.status.success());
    assert!(unique.stderr.is_empty(), "{unique:?}");
}
