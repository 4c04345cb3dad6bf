use super::{TokenRequest, TokenResponse, parse_resources};
use crate::tokens::Subject;
use crate::{AuthService, Client, GrantType, OAuthError, ScopeSet};

impl AuthService {
    /// RFC 6749 §4.4. Signs a JWT and touches no database: the client came from the cache.
    pub(crate) async fn client_credentials_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.public || !client.allows(GrantType::ClientCredentials) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the client_credentials grant",
            ));
        }
        // No scope asked: the client gets every scope it is allowed (RFC 6749 §3.3 default).
        let scope = match request.single("scope")? {
            Some(text) => {
                let asked = ScopeSet::parse(text)?;
                asked.require_within(&client.scopes)?;
                asked
            }
            None => client.scopes.clone(),
        };
        let mut audience = parse_resources(&request.all("resource"))?;
        if !audience.is_empty() {
            self.refuse_claimed_resources(&client.client_id, &audience)
                .await?;
        }
        if audience.is_empty() {
            audience.push(self.config.default_audience.clone());
        }
        let subject = Subject {
            sub: &client.client_id,
            client_id: &client.client_id,
            username: None,
            auth_time: None,
            login_method: None,
            sid: None,
            cnf: dpop,
            act: None,
            transmitted_from: None,
            not_after: None,
        };
        let scope_text = scope.to_string();
        let (access_token, _) = self.mint_access_token(&subject, &scope_text, audience, None)?;
        Ok(TokenResponse {
            access_token,
            token_type: super::token_type(dpop),
            expires_in: self.config.access_token_ttl,
            scope: scope_text,
            refresh_token: None,
            id_token: None,
            coder: None,
            refresh_coder_token: None,
            issued_token_type: None,
        })
    }
}
