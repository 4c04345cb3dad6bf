use std::collections::BTreeSet;
use std::fmt;

use crate::OAuthError;

/// A set of scope tokens (RFC 6749 §3.3), kept sorted so equal sets print equally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses a space-separated scope string. Each token must be 1*( %x21 / %x23-5B / %x5D-7E ).
    pub fn parse(text: &str) -> Result<ScopeSet, OAuthError> {
        let mut set = BTreeSet::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return Err(OAuthError::invalid_scope(format!(
                    "scope token {token:?} has characters RFC 6749 §3.3 does not allow"
                )));
            }
            set.insert(token.to_string());
        }
        Ok(ScopeSet(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The tokens of `self` missing from `allowed`.
    pub fn not_in(&self, allowed: &ScopeSet) -> Vec<&str> {
        self.0
            .iter()
            .filter(|s| !allowed.0.contains(*s))
            .map(String::as_str)
            .collect()
    }

    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).cloned().collect())
    }

    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Checks `self ⊆ allowed`, naming the first scope that is not.
    pub fn require_within(&self, allowed: &ScopeSet) -> Result<(), OAuthError> {
        match self.not_in(allowed).first() {
            None => Ok(()),
            Some(extra) => Err(OAuthError::invalid_scope(format!(
                "scope {extra:?} is not allowed for this client"
            ))),
        }
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorts_and_dedupes() {
        let set = ScopeSet::parse("b a  b").ok();
        assert_eq!(set.map(|s| s.to_string()), Some("a b".to_string()));
    }

    #[test]
    fn rejects_quotes_and_backslashes() {
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
    }

    #[test]
    fn subset_check_names_extra_scope() {
        let allowed = ScopeSet::parse("read write").unwrap_or_default();
        let asked = ScopeSet::parse("read admin").unwrap_or_default();
        let err = asked.require_within(&allowed).err().map(|e| e.description);
        assert_eq!(
            err.as_deref(),
            Some("scope \"admin\" is not allowed for this client")
        );
    }
}
