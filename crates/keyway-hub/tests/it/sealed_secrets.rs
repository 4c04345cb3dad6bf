//! The hub's secrets live in the store sealed under the master key (issue 19). A data
//! directory of an older hub — signing and toki keys in files, the CSRF and link keys in the
//! clear in `settings` — is sealed into the store at the first start, keeping every key.

use keyway_auth::SystemEntropy;
use keyway_auth::jose::{SigningKey, jwk_thumbprint};
use keyway_store::{KeyState, SigningKeyRecord, Store};
use keyway_toki::TokiKeyPair;
use std::os::unix::fs::PermissionsExt;

/// A hub on SQLite in `dir/data`, as `Hub::open` takes it (no HTTP).
pub(crate) fn sqlite_options(dir: &std::path::Path) -> keyway_hub::HubOptions {
    crate::harness::plain_options(
        &dir.join("data"),
        &format!("sqlite://{}", dir.join("data/keyway.db").display()),
        keyway_auth::AuthConfig::new("http://127.0.0.1:1"),
    )
}

#[tokio::test]
async fn an_older_hubs_key_files_and_clear_settings_are_sealed_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let options = sqlite_options(dir.path());
    let data = options.data_dir.clone();
    keyway_auth::create_data_dir(&data).unwrap();
    let store = Store::open(&options.database_url).await.unwrap();
    // The older hub's signing key: a PKCS#8 file and a row without its private half.
    let entropy = SystemEntropy::default();
    let der = TokiKeyPair::generate(&entropy).unwrap().to_pkcs8().unwrap();
    let mut jwk = SigningKey::from_pkcs8("EdDSA", "", &der)
        .unwrap()
        .public_jwk();
    let kid = jwk_thumbprint(&jwk).unwrap();
    jwk.kid = Some(kid.clone());
    let keys = data.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key_file = keys.join(format!("{kid}.p8"));
    keyway_auth::write_private_file(&keys, &key_file, &der).unwrap();
    store
        .insert_signing_key(&SigningKeyRecord {
            kid: kid.clone(),
            alg: "EdDSA".into(),
            state: KeyState::Current,
            public_jwk: serde_json::to_string(&jwk).unwrap(),
            created_at: 1,
            activated_at: Some(1),
            retired_at: None,
            expires_at: None,
            private_key: None,
        })
        .await
        .unwrap();
    // A retired key's file: its private half is never needed again.
    let retired_der = TokiKeyPair::generate(&entropy).unwrap().to_pkcs8().unwrap();
    let mut retired_jwk = SigningKey::from_pkcs8("EdDSA", "", &retired_der)
        .unwrap()
        .public_jwk();
    let retired_kid = jwk_thumbprint(&retired_jwk).unwrap();
    retired_jwk.kid = Some(retired_kid.clone());
    let retired_file = keys.join(format!("{retired_kid}.p8"));
    keyway_auth::write_private_file(&keys, &retired_file, &retired_der).unwrap();
    store
        .insert_signing_key(&SigningKeyRecord {
            kid: retired_kid,
            alg: "EdDSA".into(),
            state: KeyState::Retired,
            public_jwk: serde_json::to_string(&retired_jwk).unwrap(),
            created_at: 0,
            activated_at: Some(0),
            retired_at: Some(1),
            expires_at: Some(i64::MAX),
            private_key: None,
        })
        .await
        .unwrap();
    // Its toki key file and clear settings.
    let toki = TokiKeyPair::generate(&entropy).unwrap();
    let toki_file = data.join(keyway_hub::TOKI_KEY_FILE);
    keyway_auth::write_private_file(&data, &toki_file, &toki.to_pkcs8().unwrap()).unwrap();
    store
        .set_setting("csrf_key", "older-csrf-key")
        .await
        .unwrap();
    store
        .set_setting("link_key", "older-link-key")
        .await
        .unwrap();
    store.close().await;

    // A loose toki key file stops the hub before anything is imported, naming the file.
    std::fs::set_permissions(&toki_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = match keyway_hub::Hub::open(&options).await {
        Ok(_) => panic!("a 0644 toki key file was imported"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains(&toki_file.display().to_string()), "{err}");
    std::fs::set_permissions(&toki_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let imported = |path: &std::path::Path| {
        let mut name = path.as_os_str().to_owned();
        name.push(".imported");
        std::path::PathBuf::from(name)
    };
    for start in ["upgrade", "restart"] {
        let hub = keyway_hub::Hub::open(&options).await.unwrap();
        let auth = &hub.state.auth;
        assert_eq!(auth.keys().signer().unwrap().kid(), kid, "{start}");
        assert_eq!(hub.state.toki.public_key, toki.public_key(), "{start}");
        let link = auth
            .hub_secret(keyway_auth::LINK_KEY, None, || panic!("a new link key"))
            .await
            .unwrap();
        assert_eq!(link.as_slice(), b"older-link-key", "{start}");
        let csrf = auth
            .hub_secret(keyway_auth::CSRF_KEY, None, || panic!("a new CSRF key"))
            .await
            .unwrap();
        assert_eq!(csrf.as_slice(), b"older-csrf-key", "{start}");
        assert!(
            !key_file.exists() && !toki_file.exists(),
            "{start}: files moved away"
        );
        assert!(
            !retired_file.exists(),
            "{start}: the retired key's file is removed"
        );
        if start == "restart" {
            // Read back sealed from the store: the imported files are gone too.
            assert!(!imported(&key_file).exists() && !imported(&toki_file).exists());
        }
        let store = auth.store();
        for name in ["csrf_key", "link_key", "toki_hub_key"] {
            let value = store.setting(name).await.unwrap().unwrap();
            assert!(value.starts_with("v1."), "{start}: {name} sealed: {value}");
        }
        for record in store.signing_keys().await.unwrap() {
            // The retired key's private half is not kept at all.
            let sealed = record.private_key.unwrap_or_default();
            let retired = record.state == KeyState::Retired;
            assert_eq!(
                sealed.starts_with("v1."),
                !retired,
                "{start}: {}",
                record.kid
            );
        }
        store.close().await;
        drop(hub);
    }
}

/// A node still running when the master key is rotated notices at its next upkeep and seals
/// nothing more under the old key (its secrets would not open anywhere else).
#[tokio::test]
async fn a_node_left_on_the_old_master_key_stops_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let options = sqlite_options(dir.path());
    let hub = keyway_hub::Hub::open(&options).await.unwrap();
    let auth = &hub.state.auth;
    let new_key = crate::harness::new_master_key_file(dir.path());
    let (id, count) = auth.rotate_master_key(&new_key).await.unwrap();
    assert!(count >= 5, "{count}");
    let err = auth.maintain().await.unwrap_err().to_string();
    assert!(
        err.contains(&id) && err.contains("restart it with the new key file"),
        "{err}"
    );
    let err = auth
        .hub_secret("another_secret", None, || Ok(b"fresh".to_vec()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("restart it with the new key file"), "{err}");
    // Its readiness fails, so a load balancer drains it.
    use tower::ServiceExt as _;
    let request = axum::http::Request::get("/readyz")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = hub.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    auth.store().close().await;
}
