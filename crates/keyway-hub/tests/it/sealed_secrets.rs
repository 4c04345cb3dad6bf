//! The hub's secrets live in the store sealed under the master key (issue 19). A data
//! directory of an older hub — signing and toki keys in files, the CSRF and link keys in the
//! clear in `settings` — is sealed into the store at the first start, keeping every key.

use keyway_auth::SystemEntropy;
use keyway_auth::jose::{SigningKey, jwk_thumbprint};
use keyway_store::{KeyState, SigningKeyRecord, Store};
use keyway_toki::TokiKeyPair;

fn options(dir: &std::path::Path) -> keyway_hub::HubOptions {
    keyway_hub::HubOptions {
        data_dir: dir.join("data"),
        database_url: format!("sqlite://{}", dir.join("data/keyway.db").display()),
        auth: keyway_auth::AuthConfig::new("http://127.0.0.1:1"),
        schemas: None,
        allow_drop_columns: false,
        link_rule_priority: None,
        trusted_proxies: Vec::new(),
        connections: keyway_hub::ConnectionLimits::default(),
        upstreams: Vec::new(),
        gateway: keyway_hub::GatewayOptions::default(),
    }
}

#[tokio::test]
async fn an_older_hubs_key_files_and_clear_settings_are_sealed_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path());
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
        assert!(
            !key_file.exists() && !toki_file.exists(),
            "{start}: files removed"
        );
        let store = auth.store();
        for name in ["csrf_key", "link_key", "toki_hub_key"] {
            let value = store.setting(name).await.unwrap().unwrap();
            assert!(value.starts_with("v1."), "{start}: {name} sealed: {value}");
        }
        for record in store.signing_keys().await.unwrap() {
            let sealed = record.private_key.unwrap();
            assert!(sealed.starts_with("v1."), "{start}: {}", record.kid);
        }
        store.close().await;
        drop(hub);
    }
}
