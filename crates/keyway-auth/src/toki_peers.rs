//! Toki identities: a service is an OAuth client with a registered Ed25519 toki key
//! (docs/toki.md, "Identities at the hub"). The key line is checked by the caller (the CLI
//! parses it with `keyway_toki::TokiPublicKey`); this module only stores and serves it.

use serde::Serialize;

use crate::{AdminError, AuthService};

/// What a service learns about a peer: its toki key and the scopes it is registered with, so
/// that a callee can authorise callers by the hub's registration (`TokiLayer::authorize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokiPeer {
    pub client_id: String,
    /// `keyway-ed25519 BASE64`.
    pub toki_key: String,
    /// The client's registered scopes, space-separated.
    pub scope: String,
    pub created_at: i64,
}

impl AuthService {
    /// Registers (or replaces) the toki key of an existing client.
    pub async fn set_toki_key(&self, client_id: &str, public_key: &str) -> Result<(), AdminError> {
        if self.store.client(client_id).await?.is_none() {
            return Err(AdminError::NotFound(crate::error::no_such_client(
                client_id,
            )));
        }
        self.store
            .set_toki_key(&keyway_store::TokiKeyRecord {
                client_id: client_id.to_string(),
                public_key: public_key.to_string(),
                created_at: self.clock.now_secs(),
            })
            .await?;
        self.audit_change(
            "client.add-toki-key",
            client_id,
            Some(public_key.to_string()),
        )
        .await;
        Ok(())
    }

    /// The registered toki identity of a client; `None` when the client is unknown or has no
    /// toki key (the two are not told apart, so the endpoint does not enumerate clients).
    pub async fn toki_peer(&self, client_id: &str) -> Result<Option<TokiPeer>, AdminError> {
        let Some(key) = self.store.toki_key(client_id).await? else {
            return Ok(None);
        };
        let Some(client) = self.store.client(client_id).await? else {
            return Ok(None);
        };
        Ok(Some(TokiPeer {
            client_id: key.client_id,
            toki_key: key.public_key,
            scope: client.scope,
            created_at: key.created_at,
        }))
    }
}
