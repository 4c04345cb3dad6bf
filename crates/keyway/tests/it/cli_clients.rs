//! `keyway client …` and `keyway keys …` against a running hub.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Hub, poll, str_field};
use crate::oauth::{access_token, client_credentials, get_json, introspect, jwks_kids, jwt_parts};

/// The hub caches clients for up to a second; CLI changes must show within this.
const CLI_CHANGE_VISIBLE: Duration = Duration::from_secs(3);

fn is_invalid_client(hub: &Hub, id: &str, secret: &str) -> bool {
    let answer = client_credentials(hub, id, secret, "read");
    answer.status == 401 && answer.body["error"] == "invalid_client"
}

fn issues_token(hub: &Hub, id: &str, secret: &str) -> bool {
    client_credentials(hub, id, secret, "read").status == 200
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {list}"))
        .iter()
        .map(|c| c["client_id"].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn client_create_list_show_rotate_delete() {
    let hub = Hub::start();
    let created = hub.create_client("svc-a", &["client_credentials"], "read write", &[]);
    let id = str_field(&created, "client_id").to_string();
    let secret = str_field(&created, "client_secret").to_string();
    assert_eq!(created["name"], "svc-a");
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(created["scope"], "read write");
    assert!(
        issues_token(&hub, &id, &secret),
        "a fresh client gets a token"
    );

    let other = hub.create_client("svc-b", &["client_credentials"], "read", &[]);
    let listed = hub.cli_json(&["client", "list"]);
    let listed_ids = ids(&listed);
    assert!(listed_ids.contains(&id.as_str()), "{listed}");
    assert!(
        listed_ids.contains(&str_field(&other, "client_id")),
        "{listed}"
    );
    assert!(
        !listed.to_string().contains(&secret),
        "client list must not print secrets: {listed}"
    );

    let shown = hub.cli_json(&["client", "show", &id]);
    assert_eq!(shown["client_id"], id.as_str());
    assert_eq!(shown["name"], "svc-a");
    assert_eq!(shown["scope"], "read write");
    assert!(
        shown.get("client_secret").is_none(),
        "show prints no secret: {shown}"
    );

    let rotated = hub.cli_json(&["client", "rotate-secret", &id]);
    assert_eq!(rotated["client_id"], id.as_str());
    let new_secret = str_field(&rotated, "client_secret").to_string();
    assert_ne!(new_secret, secret, "rotation must issue a different secret");
    assert!(
        poll(CLI_CHANGE_VISIBLE, || is_invalid_client(&hub, &id, &secret)),
        "the old secret still works {CLI_CHANGE_VISIBLE:?} after rotate-secret"
    );
    assert!(
        poll(CLI_CHANGE_VISIBLE, || issues_token(&hub, &id, &new_secret)),
        "the new secret does not work: {:?}",
        client_credentials(&hub, &id, &new_secret, "read")
    );

    // By its name, as `show` and `update` take it: the id is what is told.
    let deleted = hub.cli_json(&["client", "delete", "svc-a"]);
    assert_eq!(deleted["deleted"], id.as_str());
    assert!(
        poll(CLI_CHANGE_VISIBLE, || is_invalid_client(
            &hub,
            &id,
            &new_secret
        )),
        "a deleted client still gets tokens {CLI_CHANGE_VISIBLE:?} later"
    );
    let listed = hub.cli_json(&["client", "list"]);
    assert!(!ids(&listed).contains(&id.as_str()), "{listed}");
    let show = hub.cli(&["client", "show", &id, "--json"]);
    assert!(!show.status.success(), "showing a deleted client must fail");
    assert!(
        issues_token(
            &hub,
            str_field(&other, "client_id"),
            str_field(&other, "client_secret")
        ),
        "deleting one client must not touch another"
    );
}

#[test]
fn client_create_public_and_code_clients() {
    let hub = Hub::start();
    let code = hub.create_client(
        "web",
        &["authorization_code", "refresh_token"],
        "openid read",
        &["--redirect-uri", "http://127.0.0.1:9/callback"],
    );
    assert!(code["client_secret"].is_string(), "confidential: {code}");
    assert_eq!(
        code["redirect_uris"],
        serde_json::json!(["http://127.0.0.1:9/callback"])
    );
    let public = hub.create_client(
        "spa",
        &["authorization_code"],
        "openid",
        &["--redirect-uri", "http://127.0.0.1:9/cb", "--public"],
    );
    assert!(
        public.get("client_secret").is_none(),
        "public client got a secret: {public}"
    );
    assert_eq!(public["token_endpoint_auth_method"], "none");
}

#[test]
fn keys_rotate_and_list() {
    let hub = Hub::start();
    let client = hub.create_client("svc", &["client_credentials"], "read", &[]);
    let (id, secret) = (
        str_field(&client, "client_id"),
        str_field(&client, "client_secret"),
    );

    let before = hub.cli_json(&["keys", "list"]);
    let state_of = |keys: &Value, state: &str| -> Vec<String> {
        keys.as_array()
            .unwrap_or_else(|| panic!("keys list is not an array: {keys}"))
            .iter()
            .filter(|k| k["state"] == state)
            .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let old_current = state_of(&before, "current");
    assert_eq!(old_current.len(), 1, "one current key: {before}");
    let old_kid = old_current[0].clone();
    assert_eq!(state_of(&before, "next").len(), 1, "one next key: {before}");

    let old_token = access_token(&hub, id, secret, "read");
    assert_eq!(jwt_parts(&old_token).0["kid"], old_kid.as_str());

    let rotated = hub.cli_json(&["keys", "rotate"]);
    let signing = str_field(&rotated, "signing_kid").to_string();
    let next = str_field(&rotated, "next_kid").to_string();
    assert_ne!(signing, old_kid);
    assert_ne!(next, signing);

    let after = hub.cli_json(&["keys", "list"]);
    assert_eq!(
        state_of(&after, "current"),
        vec![signing.clone()],
        "{after}"
    );
    assert_eq!(state_of(&after, "next"), vec![next.clone()], "{after}");
    assert!(state_of(&after, "retired").contains(&old_kid), "{after}");

    // The running hub picks the rotation up on its next upkeep tick (every 2 s).
    assert!(
        poll(Duration::from_secs(6), || jwks_kids(&hub).contains(&next)),
        "the hub never published the new next key {next}: {:?}",
        jwks_kids(&hub)
    );
    let kids = jwks_kids(&hub);
    assert!(
        kids.contains(&signing),
        "JWKS lacks the new signing key: {kids:?}"
    );
    assert!(
        kids.contains(&old_kid),
        "JWKS dropped the retired key too early: {kids:?}"
    );

    let fresh = access_token(&hub, id, secret, "read");
    assert_eq!(
        jwt_parts(&fresh).0["kid"],
        signing.as_str(),
        "new tokens use the new key"
    );
    let old = introspect(&hub, id, secret, &old_token);
    assert_eq!(old["active"], true, "a token signed before rotation: {old}");
    let new = introspect(&hub, id, secret, &fresh);
    assert_eq!(new["active"], true, "{new}");
}

#[test]
fn keys_toki_prints_the_identity_the_hub_publishes() {
    let hub = Hub::start();
    let printed = hub.cli_json(&["keys", "toki"]);
    let published = get_json(&hub, "/toki/v1/hub");
    assert_eq!(
        printed["toki_key"], published["toki_key"],
        "{printed} vs {published}"
    );
    // The service id is the issuer as configured for the command: this hub was started with
    // `--listen` on a free port, the CLI without it.
    assert!(str_field(&printed, "service").starts_with("http://127.0.0.1:"));
    assert!(
        str_field(&printed, "toki_key").starts_with("keyway-ed25519 "),
        "{printed}"
    );
    // The key is sealed in the store, not left in a file.
    assert!(!hub.data_dir().join("toki-hub.key").exists());
}

/// `--scope "a,b"` is two scopes, as `--grant a,b` is two grants.
#[test]
fn commas_separate_scopes_as_they_separate_grants() {
    let hub = crate::harness::Hub::start();
    let client = hub.create_client(
        "commas",
        &["client_credentials,authorization_code"],
        "read,write",
        &["--redirect-uri", "http://127.0.0.1:9/cb"],
    );
    let id = crate::harness::str_field(&client, "client_id");
    let shown = hub.cli_json(&["client", "show", id]);
    assert_eq!(shown["scope"], "read write", "{shown}");
}

/// `keyway client update` changes what it is told, keeps the rest, and the running hub
/// follows: a removed scope is refused, an added one granted.
#[test]
fn client_update_changes_a_running_hubs_client() {
    let hub = Hub::start();
    let created = hub.create_client("billing", &["client_credentials"], "read write", &[]);
    let id = str_field(&created, "client_id").to_string();
    let secret = str_field(&created, "client_secret").to_string();

    let updated = hub.cli_json(&[
        "client",
        "update",
        &id,
        "--name",
        "invoicing",
        "--add-scope",
        "audit,read",
        "--remove-scope",
        "write",
    ]);
    assert_eq!(updated["name"], "invoicing");
    assert_eq!(updated["scope"], "audit read");
    assert_eq!(
        updated["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert!(poll(CLI_CHANGE_VISIBLE, || {
        client_credentials(&hub, &id, &secret, "write").body["error"] == "invalid_scope"
    }));
    assert_eq!(client_credentials(&hub, &id, &secret, "audit").status, 200);
    // The secret is unchanged.
    assert!(issues_token(&hub, &id, &secret));

    // Redirect URIs: added, removed, and a URI it does not have is named.
    let web = hub.create_client(
        "web",
        &["authorization_code"],
        "openid",
        &["--redirect-uri", "http://127.0.0.1:3000/cb"],
    );
    let web_id = str_field(&web, "client_id").to_string();
    let updated = hub.cli_json(&[
        "client",
        "update",
        &web_id,
        "--add-redirect-uri",
        "https://app.example/cb",
        "--remove-redirect-uri",
        "http://127.0.0.1:3000/cb",
    ]);
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://app.example/cb"])
    );
    let missing = hub.cli(&[
        "client",
        "update",
        &web_id,
        "--remove-redirect-uri",
        "https://other.example/cb",
    ]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("no redirect URI \"https://other.example/cb\"")
    );

    // The registration rules still hold, and the way a client authenticates cannot change.
    for (args, expected) in [
        (
            vec!["--redirect-uri", "http://evil.example/cb"],
            "http on a loopback host",
        ),
        (vec!["--grant", "password"], "unsupported grant"),
        (
            vec!["--jwks-uri", "https://keys.example/jwks.json"],
            "cannot change",
        ),
    ] {
        let mut full = vec!["client", "update", web_id.as_str()];
        full.extend(&args);
        let out = hub.cli(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // A name with a terminal escape sequence is refused (names are printed on terminals).
    let escape = hub.cli(&["client", "update", &web_id, "--name", "\u{1b}[31mRED\u{7}"]);
    assert!(!escape.status.success());
    assert!(String::from_utf8_lossy(&escape.stderr).contains("without control characters"));
    // Nothing to change, or a scope to remove it does not have, is said plainly; and nothing
    // changed above.
    let nothing = hub.cli(&["client", "update", &web_id]);
    assert!(!nothing.status.success());
    assert!(
        String::from_utf8_lossy(&nothing.stderr)
            .contains("nothing to change: give at least one of --name")
    );
    let typo = hub.cli(&["client", "update", &web_id, "--remove-scope", "opneid"]);
    assert!(String::from_utf8_lossy(&typo.stderr).contains("has no scope \"opneid\" to remove"));
    let shown = hub.cli_json(&["client", "show", &web_id]);
    assert_eq!(
        shown["redirect_uris"],
        serde_json::json!(["https://app.example/cb"])
    );
}

/// `keyway user set-password` replaces the password (the rules of `user create` hold).
#[test]
fn user_set_password_replaces_the_password() {
    let hub = Hub::start();
    hub.cli_json_with_stdin(
        &["user", "create", "--username", "alice", "--password-stdin"],
        "first-password\n",
    );
    let short = hub.cli_with_stdin(
        &["user", "set-password", "alice", "--password-stdin"],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
    let set = hub.cli_json_with_stdin(
        &["user", "set-password", "alice", "--password-stdin"],
        "second-password\n",
    );
    assert_eq!(set["password_set"], true);
    let nobody = hub.cli_with_stdin(
        &["user", "set-password", "bob", "--password-stdin"],
        "whatever-pw\n",
    );
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("user bob"));
}

/// `--require-par` on create and update, shown by `client show`.
#[test]
fn a_client_can_be_made_to_push_its_requests() {
    let hub = Hub::start();
    let created = hub.create_client(
        "strict",
        &["authorization_code"],
        "openid",
        &["--redirect-uri", "https://app.example/cb", "--require-par"],
    );
    assert_eq!(created["require_pushed_authorization_requests"], true);
    let id = str_field(&created, "client_id").to_string();
    let updated = hub.cli_json(&["client", "update", &id, "--require-par", "false"]);
    assert_eq!(updated["require_pushed_authorization_requests"], false);
    assert_eq!(updated["require_signed_request_object"], false);
    let updated = hub.cli_json(&["client", "update", &id, "--require-signed-request", "true"]);
    assert_eq!(updated["require_signed_request_object"], true);
    let updated = hub.cli_json(&["client", "update", &id, "--require-dpop", "true"]);
    assert_eq!(updated["dpop_bound_access_tokens"], true);
}

/// `--profile g2d1` prints a made signing secret once; the store holds it sealed with the
/// hub's master key, which only `serve` makes: without it an admin command says where it
/// looked and makes no key of its own (it would not be the hub's).
/// A g2d1-profile client (the hub makes it a signing secret, sealed under the master key).
fn g2d1_client(hub: &Hub) -> Value {
    hub.create_client(
        "shop",
        &["authorization_code"],
        "openid",
        &[
            "--redirect-uri",
            "https://shop.example/cb",
            "--profile",
            "g2d1",
        ],
    )
}

#[test]
fn g2d1_clients_and_the_master_key() {
    let hub = Hub::start();
    let key_file = hub.data_dir().join("master.key");
    assert!(key_file.exists(), "serve makes master.key");
    let made = g2d1_client(&hub);
    assert_eq!(made["profile"], "g2d1", "{made}");
    assert_eq!(made["has_signing_secret"], true);
    assert!(str_field(&made, "signing_secret").len() >= 32, "{made}");
    let shown = hub.cli_json(&["client", "show", str_field(&made, "client_id")]);
    assert!(
        shown.get("signing_secret").is_none(),
        "shown once only: {shown}"
    );

    // A short secret file is refused, naming the file.
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.secret");
    keyway_kernel::write_private_file(dir.path(), &short, b"too short\n").unwrap();
    let out = hub.cli(&[
        "client",
        "update",
        str_field(&made, "client_id"),
        "--signing-secret-file",
        &short.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("short.secret") && stderr.contains("at least 32"),
        "{stderr}"
    );

    // Without the hub's key, nothing sealed can be made or read, and no key appears.
    let moved = hub.data_dir().join("master.key.moved");
    std::fs::rename(&key_file, &moved).unwrap();
    let out = hub.cli(&[
        "client",
        "create",
        "--name",
        "other",
        "--grant",
        "authorization_code",
        "--redirect-uri",
        "https://other.example/cb",
        "--profile",
        "g2d1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("no master key at")
            && stderr.contains("master.key"),
        "{stderr}"
    );
    assert!(!key_file.exists(), "an admin command made a master key");
    // Another key is refused: the store knows the id of the one its secrets are sealed with.
    keyway_kernel::write_private_file(
        hub.data_dir(),
        &key_file,
        b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    let out = hub.cli(&["client", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("sealed with key"),
        "{stderr}"
    );
    std::fs::rename(&moved, &key_file).unwrap();
    assert!(hub.cli(&["client", "list"]).status.success());

    // A hub whose key file is gone does not make a new one: nothing sealed would open.
    let mut hub = hub;
    hub.terminate();
    std::fs::rename(&key_file, &moved).unwrap();
    let out = crate::harness::keyway()
        .arg("--data-dir")
        .arg(hub.data_dir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("sealed with key") && stderr.contains("restore"),
        "{stderr}"
    );
    assert!(
        !key_file.exists(),
        "serve made a master key for a store that has one"
    );
}

/// `--login-types` restricts a client (and `all` lifts it); `user link` / `user show` manage
/// upstream identities, with errors that name the cause.
#[test]
fn login_types_and_upstream_links() {
    let hub = Hub::start();
    let created = hub.create_client(
        "SSO app",
        &["authorization_code"],
        "openid",
        &[
            "--redirect-uri",
            "https://app.example/cb",
            "--login-types",
            "password,corp",
        ],
    );
    let id = str_field(&created, "client_id").to_string();
    assert_eq!(
        created["login_types"],
        serde_json::json!(["password", "corp"])
    );
    let bad = hub.cli(&["client", "update", &id, "--login-types", "Corp SSO"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("login type \"Corp SSO\""));
    let updated = hub.cli_json(&["client", "update", &id, "--login-types", "corp"]);
    assert_eq!(updated["login_types"], serde_json::json!(["corp"]));
    let lifted = hub.cli_json(&["client", "update", &id, "--login-types", "all"]);
    assert!(lifted.get("login_types").is_none(), "{lifted}");

    hub.create_user("alice", "correct horse battery");
    let linked = hub.cli_json(&[
        "user",
        "link",
        "alice",
        "--upstream",
        "corp",
        "--subject",
        "248289761001",
    ]);
    assert_eq!(linked["subject"], "248289761001");
    let shown = hub.cli_json(&["user", "show", "alice"]);
    assert_eq!(
        shown["upstream_identities"][0]["upstream"], "corp",
        "{shown}"
    );
    for (args, expected) in [
        (
            vec!["bob", "--upstream", "corp", "--subject", "1"],
            "not found: user bob",
        ),
        (
            vec!["alice", "--upstream", "password", "--subject", "1"],
            "--upstream \"password\"",
        ),
        (
            vec!["alice", "--upstream", "corp", "--subject", ""],
            "--subject",
        ),
        (
            vec!["alice", "--upstream", "corp", "--subject", "248289761001"],
            "already linked",
        ),
    ] {
        let mut full = vec!["user", "link"];
        full.extend(&args);
        let out = hub.cli(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// `keyway keys rotate-master --new FILE` seals every secret under the new key in one go: the
/// hub starts with the new key only, and keeps its signing keys, toki identity and clients'
/// signing secrets.
#[test]
fn the_master_key_is_rotated() {
    let mut hub = Hub::start();
    let made = g2d1_client(&hub);
    let toki_before = hub.cli_json(&["keys", "toki"]);
    let kids_before = hub.cli_json(&["keys", "list"]);
    let dir = tempfile::tempdir().unwrap();
    let new_key = dir.path().join("new.key");
    keyway_kernel::write_private_file(
        dir.path(),
        &new_key,
        b"c2V2ZW50ZWVuIHJhbmRvbSBieXRlcyBhbmQgbW9yZSE=\n",
    )
    .unwrap();
    let new_key_arg = new_key.display().to_string();
    let refused = |hub: &Hub, args: &[&str], why: &str| {
        let out = hub.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(why),
            "{args:?}: {stderr}"
        );
    };
    // Not while the hub serves this store: it would go on sealing under the old key.
    refused(
        &hub,
        &["keys", "rotate-master", "--new", &new_key_arg],
        "stopped",
    );
    hub.terminate();
    // The current key is refused as the new one; a bad file is named.
    let default_key = hub.data_dir().join("master.key");
    let old_key = default_key.display().to_string();
    refused(
        &hub,
        &["keys", "rotate-master", "--new", &old_key],
        "is the current master key",
    );
    refused(
        &hub,
        &["keys", "rotate-master", "--new", "/nonexistent/new.key"],
        "/nonexistent/new.key",
    );
    let a_dir = dir.path().display().to_string();
    refused(
        &hub,
        &["keys", "rotate-master", "--new", &a_dir],
        "not a regular file",
    );

    let rotated = hub.cli_json(&["keys", "rotate-master", "--new", &new_key_arg]);
    // Two signing keys, the CSRF, link and toki keys, the client's signing secret.
    assert_eq!(rotated["sealed_again"], 6, "{rotated}");
    // The data directory's default key file now holds the new key; the old one is kept
    // beside it and no longer opens the store.
    assert_eq!(
        std::fs::read(&default_key).unwrap(),
        std::fs::read(&new_key).unwrap()
    );
    let kept = str_field(&rotated, "old_key_kept_at").to_string();
    refused(
        &hub,
        &["client", "list", "--master-key-file", &kept],
        "sealed with key",
    );
    // The hub starts as before: the same keys and identity, and the client's secret opens.
    hub.kill_and_restart(&[]);
    assert_eq!(hub.cli_json(&["keys", "toki"]), toki_before);
    assert_eq!(hub.cli_json(&["keys", "list"]), kids_before);
    let shown = hub.cli_json(&["client", "show", str_field(&made, "client_id")]);
    assert_eq!(shown["has_signing_secret"], true, "{shown}");
    let audit = hub.cli_json(&["audit"]);
    assert!(audit.to_string().contains("keys.rotate-master"), "{audit}");
}
