//! Access tokens whose signature this process has already checked.
//!
//! Resource servers introspect the same token on every call it rides on; checking its Ed25519
//! signature once is enough. A hit still goes through the expiry and revocation checks, so
//! the cache never makes a dead token live. Bounded: when full it starts over.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::AccessTokenClaims;

const MAX_ENTRIES: usize = 65_536;

#[derive(Default)]
pub(crate) struct VerifiedTokens {
    map: RwLock<HashMap<Box<str>, Arc<AccessTokenClaims>>>,
}

impl VerifiedTokens {
    pub(crate) fn get(&self, token: &str) -> Option<Arc<AccessTokenClaims>> {
        self.map.read().ok()?.get(token).cloned()
    }

    pub(crate) fn insert(&self, token: &str, claims: Arc<AccessTokenClaims>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(token.into(), claims);
        }
    }
}
