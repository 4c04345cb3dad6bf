//! The Rust `oauth2` crate, unmodified, against the hub.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RefreshToken, Scope, TokenResponse, TokenUrl,
};

use crate::browser::{Browser, log_in_and_allow};
use crate::harness::{TestHub, http, on_every_backend};

const CB: &str = "http://127.0.0.1:9/callback";

#[tokio::test]
async fn oauth2_crate_client_credentials_code_and_refresh() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["client_credentials", "authorization_code", "refresh_token"],
                "read write",
                &[CB],
            )
            .await;
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_uri(AuthUrl::new(hub.url("/oauth2/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(hub.url("/oauth2/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
        let http = http();

        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("read".into()))
            .request_async(&http)
            .await
            .unwrap();
        assert!(token.access_token().secret().split('.').count() == 3);

        hub.user("carol", "carol's passphrase").await;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("read".into()))
            .set_pkce_challenge(challenge)
            .url();
        let mut browser = Browser::new();
        let done = log_in_and_allow(
            &mut browser,
            hub,
            url.as_str(),
            "carol",
            "carol's passphrase",
        )
        .await;
        assert_eq!(
            done.redirect_param("state").as_deref(),
            Some(state.secret().as_str())
        );
        let code = done.redirect_param("code").unwrap();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        let refresh = tokens.refresh_token().unwrap().secret().clone();
        let refreshed = client
            .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
            .request_async(&http)
            .await
            .unwrap();
        assert_ne!(refreshed.refresh_token().unwrap().secret(), &refresh);
    })
    .await;
}
