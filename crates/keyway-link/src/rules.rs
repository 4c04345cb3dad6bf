//! The hash rules: which normalised fields are concatenated, and how the result is hashed.

use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

use crate::LinkError;

/// A linkage rule. The order of the variants is the column order of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// last + first + dob + race (the legacy code swaps the names in this rule; kept).
    FLDR,
    /// first + last + dob + sex.
    FLDS,
    /// As `F_L_D_R`, names with accents folded (keyway, not legacy).
    FLDRFold,
    /// As `F_L_D_S`, names with accents folded (keyway, not legacy).
    FLDSFold,
}

impl Rule {
    pub const LEGACY: [Rule; 2] = [Rule::FLDR, Rule::FLDS];
    pub const ALL: [Rule; 4] = [Rule::FLDR, Rule::FLDS, Rule::FLDRFold, Rule::FLDSFold];

    pub fn name(self) -> &'static str {
        match self {
            Rule::FLDR => "F_L_D_R",
            Rule::FLDS => "F_L_D_S",
            Rule::FLDRFold => "F_L_D_R_FOLD",
            Rule::FLDSFold => "F_L_D_S_FOLD",
        }
    }

    /// The rule's code in the hub's store (`link_hashes.rule`; docs/linkage.md, "Storage").
    /// Fixed forever: stored rows depend on it.
    pub fn code(self) -> i64 {
        match self {
            Rule::FLDR => 1,
            Rule::FLDS => 2,
            Rule::FLDRFold => 3,
            Rule::FLDSFold => 4,
        }
    }

    /// The rule with store code `code`.
    pub fn from_code(code: i64) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.code() == code)
    }

    pub fn parse(name: &str) -> Result<Rule, LinkError> {
        match name.trim().to_ascii_uppercase().as_str() {
            "F_L_D_R" => Ok(Rule::FLDR),
            "F_L_D_S" => Ok(Rule::FLDS),
            "F_L_D_R_FOLD" => Ok(Rule::FLDRFold),
            "F_L_D_S_FOLD" => Ok(Rule::FLDSFold),
            _ => Err(LinkError::UnknownRule(name.to_string())),
        }
    }

    /// Parses a comma-separated list into the canonical (output) order, without repeats.
    pub fn parse_list(text: &str) -> Result<Vec<Rule>, LinkError> {
        let mut rules = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Rule::parse)
            .collect::<Result<Vec<_>, _>>()?;
        rules.sort();
        rules.dedup();
        if rules.is_empty() {
            return Err(LinkError::UnknownRule(text.to_string()));
        }
        Ok(rules)
    }

    pub fn uses_sex(self) -> bool {
        matches!(self, Rule::FLDS | Rule::FLDSFold)
    }

    pub fn uses_race(self) -> bool {
        matches!(self, Rule::FLDR | Rule::FLDRFold)
    }

    pub fn folds(self) -> bool {
        matches!(self, Rule::FLDRFold | Rule::FLDSFold)
    }
}

/// One person's normalised fields (see `normalize.rs`); empty means missing.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub first: String,
    pub last: String,
    pub first_folded: String,
    pub last_folded: String,
    /// `YYYY-MM-DD` or empty.
    pub dob: String,
    pub sex: String,
    pub race: String,
}

impl Person {
    /// The concatenation a rule hashes, or `false` when the rule is skipped for this person:
    /// a field is empty, sex/race is `NI`/`UN`/`OT`, or race is `07`.
    pub fn rule_input(&self, rule: Rule, out: &mut String) -> bool {
        out.clear();
        let (first, last) = if rule.folds() {
            (&self.first_folded, &self.last_folded)
        } else {
            (&self.first, &self.last)
        };
        if first.is_empty() || last.is_empty() || self.dob.is_empty() {
            return false;
        }
        let unknown = |code: &str| matches!(code, "ni" | "un" | "ot");
        if rule.uses_sex() {
            if self.sex.is_empty() || unknown(&self.sex) {
                return false;
            }
            out.push_str(first);
            out.push_str(last);
            out.push_str(&self.dob);
            out.push_str(&self.sex);
        } else {
            if self.race.is_empty() || unknown(&self.race) || self.race == "07" {
                return false;
            }
            out.push_str(last);
            out.push_str(first);
            out.push_str(&self.dob);
            out.push_str(&self.race);
        }
        true
    }
}

/// How concatenations become hashes.
pub enum HashKey {
    /// Legacy: SHA-256(concatenation + salt); the salt defaults to empty.
    Salt(String),
    /// Keyed: HMAC-SHA256(secret, concatenation), the secret shared by partners only.
    Secret(Zeroizing<Vec<u8>>),
}

enum Keyed {
    Salt(Vec<u8>),
    Hmac(Box<hmac::Key>),
}

/// Hashes rule inputs to lowercase hex.
pub struct RuleHasher {
    keyed: Keyed,
    scratch: Vec<u8>,
}

impl RuleHasher {
    pub fn new(key: &HashKey) -> RuleHasher {
        let keyed = match key {
            HashKey::Salt(salt) => Keyed::Salt(salt.as_bytes().to_vec()),
            HashKey::Secret(secret) => {
                Keyed::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret)))
            }
        };
        RuleHasher {
            keyed,
            scratch: Vec::with_capacity(128),
        }
    }

    /// Writes the 64 lowercase hex digits of the hash of `input` into `out`.
    pub fn hash_hex(&mut self, input: &str, out: &mut [u8; 64]) {
        let digest_bytes: [u8; 32] = match &self.keyed {
            Keyed::Salt(salt) => {
                self.scratch.clear();
                self.scratch.extend_from_slice(input.as_bytes());
                self.scratch.extend_from_slice(salt);
                to_array(digest::digest(&digest::SHA256, &self.scratch).as_ref())
            }
            Keyed::Hmac(key) => to_array(hmac::sign(key, input.as_bytes()).as_ref()),
        };
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in digest_bytes.iter().enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 15)];
        }
    }
}

fn to_array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = bytes.len().min(32);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(hasher: &mut RuleHasher, input: &str) -> String {
        let mut out = [0u8; 64];
        hasher.hash_hex(input, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn aly() -> Person {
        Person {
            first: "aly".into(),
            last: "bee".into(),
            first_folded: "aly".into(),
            last_folded: "bee".into(),
            dob: "2010-01-01".into(),
            sex: "f".into(),
            race: "05".into(),
        }
    }

    /// The example of the legacy documentation.
    #[test]
    fn legacy_example() {
        let mut input = String::new();
        assert!(aly().rule_input(Rule::FLDS, &mut input));
        assert_eq!(input, "alybee2010-01-01f");
        assert!(aly().rule_input(Rule::FLDR, &mut input));
        assert_eq!(input, "beealy2010-01-0105");
        // Vectors computed independently with Python's hashlib/hmac (docs/linkage.md).
        let mut plain = RuleHasher::new(&HashKey::Salt(String::new()));
        assert_eq!(
            hex(&mut plain, "alybee2010-01-01f"),
            "bbd6647bfcad035da8e63339d94d6ce4498ef50cd7908100a78667b56bc46b4d"
        );
        let mut salted = RuleHasher::new(&HashKey::Salt("pepper".into()));
        assert_eq!(
            hex(&mut salted, "alybee2010-01-01f"),
            "490e0efe8338c587d200e6396301bf919b7562b61dad14e367567c42c6a8861c"
        );
        let mut keyed =
            RuleHasher::new(&HashKey::Secret(Zeroizing::new(b"partner-secret".to_vec())));
        assert_eq!(
            hex(&mut keyed, "beealy2010-01-0105"),
            "64a86498a634be298baf053f63a759bd94c75dcae8d30c8a25ad93f424cc6704"
        );
    }

    #[test]
    fn skips() {
        let mut input = String::new();
        let mut p = aly();
        p.race = "07".into();
        assert!(!p.rule_input(Rule::FLDR, &mut input));
        p.race = "ni".into();
        assert!(!p.rule_input(Rule::FLDR, &mut input));
        p.sex = "un".into();
        assert!(!p.rule_input(Rule::FLDS, &mut input));
        p.sex = "a".into();
        assert!(p.rule_input(Rule::FLDS, &mut input));
        p.dob.clear();
        assert!(!p.rule_input(Rule::FLDS, &mut input));
    }

    #[test]
    fn rule_lists_are_canonical() {
        assert_eq!(
            Rule::parse_list("F_L_D_S,F_L_D_R").unwrap(),
            Rule::LEGACY.to_vec()
        );
        assert!(Rule::parse_list("F_L_D_X").is_err());
    }
}
