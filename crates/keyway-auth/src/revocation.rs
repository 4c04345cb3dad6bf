//! Revoked access tokens. Access tokens are JWTs verified without the database; the few that
//! are revoked early (RFC 7009, or a family killed by refresh-token reuse) are listed here by
//! `jti`, reloaded from the store every maintenance tick so every hub process agrees.

use std::collections::HashSet;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub(crate) struct RevocationList {
    jtis: RwLock<HashSet<String>>,
}

impl RevocationList {
    pub(crate) fn contains(&self, jti: &str) -> bool {
        match self.jtis.read() {
            Ok(set) => set.contains(jti),
            Err(poisoned) => poisoned.into_inner().contains(jti),
        }
    }

    pub(crate) fn insert(&self, jti: &str) {
        if let Ok(mut set) = self.jtis.write() {
            set.insert(jti.to_string());
        }
    }

    pub(crate) fn replace(&self, jtis: Vec<String>) {
        let fresh: HashSet<String> = jtis.into_iter().collect();
        if let Ok(mut set) = self.jtis.write() {
            *set = fresh;
        }
    }
}
