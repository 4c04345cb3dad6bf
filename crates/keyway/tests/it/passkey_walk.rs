//! Issue 20's "done when", end to end with real parts: an administrator provisions a person
//! and a group through SCIM, grants the group a scope, and the person, in headless Chromium
//! with a virtual authenticator (`interop/browser/passkey_walk.mjs`), adds a passkey, signs in
//! with it, gets exactly the group's scope, signs in with password + passkey, and logs out of
//! one session (RP-initiated) and then of every session (the hub's "Sign out everywhere").

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Hub, free_port, repo_root, str_field};
use crate::interop::{available, browser_missing, chromium, interop_dir, run_script};

const USERNAME: &str = "carol";
const PASSWORD: &str = "provisioned by SCIM 2";

/// POSTs a SCIM resource with the provisioning token: the created resource.
fn scim_create(hub: &Hub, token: &str, path: &str, body: Value) -> Value {
    let response = hub
        .http
        .post(hub.endpoint(path))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .expect("SCIM request");
    let status = response.status();
    let created: Value = response.json().expect("SCIM JSON");
    assert_eq!(status, 201, "{path}: {created}");
    created
}

#[test]
fn a_scim_provisioned_member_signs_in_with_a_passkey_and_logs_out() {
    let name = "a_scim_provisioned_member_signs_in_with_a_passkey_and_logs_out";
    if !available(name, browser_missing()) {
        return;
    }
    let config = tempfile::tempdir().expect("config dir");
    let config_file = config.path().join("keyway.toml");
    std::fs::write(
        &config_file,
        "[oauth]\nuser_granted_scopes = [\"contact.*\"]\n",
    )
    .expect("keyway.toml");
    // Browsers take no IP address as a WebAuthn RP ID: the hub is `localhost`.
    let hub = Hub::start_with(&[
        "--issuer",
        "http://localhost:{port}",
        "--config",
        &config_file.display().to_string(),
    ]);
    let site = hub.url.replace("127.0.0.1", "localhost");

    let provisioner = hub.create_client("provisioning", &["client_credentials"], "scim", &[]);
    let token: Value = hub
        .http
        .post(hub.endpoint("/oauth2/token"))
        .basic_auth(
            str_field(&provisioner, "client_id"),
            Some(str_field(&provisioner, "client_secret")),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "scim")])
        .send()
        .and_then(|r| r.json())
        .expect("a SCIM token");
    let token = str_field(&token, "access_token");
    let user = scim_create(
        &hub,
        token,
        "/scim/v2/Users",
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": USERNAME,
            "password": PASSWORD,
            "emails": [{"value": "carol@example.com", "primary": true}],
        }),
    );
    scim_create(
        &hub,
        token,
        "/scim/v2/Groups",
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "crm-readers",
            "members": [{"value": str_field(&user, "id")}],
        }),
    );
    let granted = hub.cli(&["group", "grant", "crm-readers", "--scope", "contact.read"]);
    assert!(granted.status.success(), "{granted:?}");

    let callback = format!("http://127.0.0.1:{}/callback", free_port());
    let crm = hub.create_client(
        "CRM",
        &["authorization_code", "refresh_token"],
        "openid contact.read contact.write",
        &["--redirect-uri", &callback, "--public"],
    );
    let artifacts = std::env::var("KEYWAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/artifacts"))
        .join("browser-passkeys");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let browser = interop_dir("browser");
    let mut command = Command::new("node");
    command
        .arg(browser.join("passkey_walk.mjs"))
        .current_dir(&browser);
    run_script(
        &hub,
        "browser/passkey_walk.mjs",
        &mut command,
        &[
            ("KEYWAY_HUB_URL", &site),
            ("KEYWAY_CLIENT_ID", str_field(&crm, "client_id")),
            ("KEYWAY_REDIRECT_URI", &callback),
            ("KEYWAY_USERNAME", USERNAME),
            ("KEYWAY_PASSWORD", PASSWORD),
            ("KEYWAY_CHROMIUM", &chromium()),
            ("KEYWAY_ARTIFACTS", &artifacts.display().to_string()),
        ],
    );
    for shot in [
        "passkey-account.png",
        "passkey-added.png",
        "passkey-login.png",
        "passkey-consent.png",
        "passkey-second-step.png",
        "passkey-logged-out.png",
        "passkey-home.png",
    ] {
        let size = std::fs::metadata(artifacts.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 1000, "screenshot {shot} missing or empty");
    }
    // What the administrator sees afterwards: the passkey, used; no session left.
    let passkeys = hub.cli_json(&["user", "passkey", "list", USERNAME]);
    assert_eq!(passkeys.as_array().map(Vec::len), Some(1), "{passkeys}");
    assert!(passkeys[0]["last_used_at"].is_i64(), "{passkeys}");
    let sessions = hub.cli_json(&["user", "sessions", USERNAME]);
    assert_eq!(sessions, json!([]), "logged out everywhere: {sessions}");
}
