//! Revoked access tokens. Access tokens are JWTs verified without the database; the few that
//! are revoked early (RFC 7009, or a family killed by refresh-token reuse) are listed here by
//! `jti`, reloaded from the store every maintenance tick so every hub process agrees. A
//! revoked token family is one entry, `family:ID`, that covers every token whose `jti` is
//! `ID.random` (those minted in the family).

use std::collections::HashSet;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub(crate) struct RevocationList {
    /// Revoked `jti`s and `family:ID` entries.
    jtis: RwLock<HashSet<String>>,
    /// Whether any family is listed: when none is, no marker is made to look up.
    families: std::sync::atomic::AtomicBool,
}

impl RevocationList {
    /// Whether the token `jti` is revoked, by itself, with its family, or with the token it
    /// was derived from: a token minted from another (token exchange, the gateway) has the
    /// other's jti and `.random` as its own, so revoking the other (RFC 7009) ends it too.
    pub(crate) fn contains(&self, jti: &str) -> bool {
        let check = |set: &HashSet<String>| {
            set.contains(jti)
                || jti
                    .rsplit_once('.')
                    .is_some_and(|(parent, _)| set.contains(parent))
                || (self.families.load(std::sync::atomic::Ordering::Relaxed)
                    && jti.split_once('.').is_some_and(|(family, _)| {
                        set.contains(&keyway_store::family_marker(family))
                    }))
        };
        match self.jtis.read() {
            Ok(set) => check(&set),
            Err(poisoned) => check(&poisoned.into_inner()),
        }
    }

    pub(crate) fn insert(&self, jti: &str) {
        if let Ok(mut set) = self.jtis.write() {
            set.insert(jti.to_string());
        }
    }

    pub(crate) fn replace(&self, jtis: Vec<String>) {
        let fresh: HashSet<String> = jtis.into_iter().collect();
        let families = fresh.iter().any(|jti| jti.starts_with("family:"));
        if let Ok(mut set) = self.jtis.write() {
            *set = fresh;
            self.families
                .store(families, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RevocationList;

    #[test]
    fn a_family_marker_revokes_the_familys_tokens_only() {
        let list = RevocationList::default();
        list.replace(vec!["lone-jti".into(), keyway_store::family_marker("famA")]);
        assert!(list.contains("lone-jti"));
        assert!(list.contains("famA.x9"));
        assert!(!list.contains("famB.x9"));
        assert!(!list.contains("famA"));
        list.replace(vec!["lone-jti".into()]);
        assert!(!list.contains("famA.x9"));
    }

    #[test]
    fn a_revoked_token_revokes_the_tokens_derived_from_it() {
        let list = RevocationList::default();
        list.replace(vec!["famA.parent".into(), "lone".into()]);
        assert!(list.contains("famA.parent.derived"));
        assert!(list.contains("lone.derived"));
        assert!(!list.contains("famA.other.derived"));
        assert!(!list.contains("famA.other"));
    }
}
