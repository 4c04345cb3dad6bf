//! The platform gateway's decisions (g2d1 `global_url` → a client's `api_url`): whether a
//! caller may call a target client's API, and the token it is called with — audience the
//! target, `act` the caller, `sub` the user when the caller's token is a user's — minted once
//! per caller token and target and reused until shortly before it expires. The forwarding
//! itself is the hub's (`keyway-hub/src/gateway.rs`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::grants::crossing_scope;
use crate::tokens::Subject;
use crate::{AuthService, Client, RulePurpose};

/// Minted tokens kept at most (caller token × target), in all; beyond, the cache starts over.
const CACHE_ENTRIES: usize = 50_000;
/// A cached token is not handed out within this many seconds of its expiry.
const EXPIRY_MARGIN: i64 = 10;

/// Who calls through the gateway, as the hub authenticated them.
#[derive(Debug, Clone, Copy)]
pub struct GatewayCaller<'a> {
    pub client_id: &'a str,
    /// The user the caller's token was issued for (`None`: the client's own token, or toki).
    pub user_id: Option<&'a str>,
    pub username: Option<&'a str>,
    pub scope: &'a str,
    /// The caller's token (`jti`, `exp`), if it came with one: the minted token is cached
    /// per token and ends with it.
    pub token: Option<(&'a str, i64)>,
}

/// Why a call is refused (the hub answers RFC 9457 problems).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayRefusal {
    /// No such client, or no `call` rule to it: told apart to no one, so that a client cannot
    /// map the hub's other clients.
    #[error("no client {:?} that this client may call: no such client (by client_id or registered name), or no rule lets this client call it", bounded_name(.0))]
    NotCallable(String),
    /// A name several clients this caller may call share.
    #[error("{} clients this client may call are named {:?}: give the client_id of the one to call ({})", .1.len(), bounded_name(.0), crate::client_rules::some_ids(.1))]
    AmbiguousTarget(String, Vec<String>),
    #[error("client {0} has no API URL to call")]
    NoApiUrl(String),
    #[error("{0}")]
    NoScope(String),
    #[error("{0}")]
    Internal(String),
}

/// A name as refusals quote it: at most 64 characters of what the caller sent.
fn bounded_name(name: &str) -> &str {
    match name.char_indices().nth(64) {
        Some((at, _)) => &name[..at],
        None => name,
    }
}

/// What the gateway forwards with.
#[derive(Debug, Clone)]
pub struct GatewayTicket {
    pub target: Arc<Client>,
    pub api_url: String,
    /// `Authorization: Bearer` for the target.
    pub token: Arc<str>,
    pub rule: String,
}

struct CachedToken {
    /// The client whose token it was minted for, and the target it was minted for.
    caller: String,
    target: String,
    /// The target's API URL it was minted for (in its audience): a changed one mints anew.
    api_url: String,
    token: Arc<str>,
    exp: i64,
    /// The rule's scope it was minted under: a changed rule mints anew.
    rule_scope: Option<String>,
}

/// Targets one caller token is kept for; beyond, its list starts over.
const TARGETS_PER_TOKEN: usize = 64;

#[derive(Default)]
pub(crate) struct GatewayTokens {
    tokens: RwLock<Kept>,
}

#[derive(Default)]
struct Kept {
    /// Per caller token (its `jti`): looked up by reference, no key built for a call.
    by_jti: HashMap<String, Vec<CachedToken>>,
    /// Tokens in `by_jti`, all lists together.
    count: usize,
}

impl GatewayTokens {
    /// The token minted for `caller`'s token `jti` and `target` at `api_url`, unless it is
    /// about to expire or was minted under another rule scope.
    fn cached(
        &self,
        (caller, jti): (&str, &str),
        (target, api_url): (&str, &str),
        rule_scope: Option<&str>,
        now: i64,
    ) -> Option<Arc<str>> {
        let cache = self.tokens.read().ok()?;
        cache
            .by_jti
            .get(jti)?
            .iter()
            .find(|c| c.target == target && c.caller == caller)
            .filter(|c| {
                c.exp - EXPIRY_MARGIN > now
                    && c.rule_scope.as_deref() == rule_scope
                    && c.api_url == api_url
            })
            .map(|c| c.token.clone())
    }

    fn keep(&self, jti: &str, entry: CachedToken) {
        let Ok(mut cache) = self.tokens.write() else {
            return;
        };
        if cache.count >= CACHE_ENTRIES {
            *cache = Kept::default();
        }
        let Kept { by_jti, count } = &mut *cache;
        let kept = by_jti.entry(jti.to_string()).or_default();
        let before = kept.len();
        kept.retain(|c| !(c.target == entry.target && c.caller == entry.caller));
        if kept.len() >= TARGETS_PER_TOKEN {
            kept.clear();
        }
        *count = *count + kept.len() + 1 - before;
        kept.push(entry);
    }
}

impl AuthService {
    /// Decides a gateway call from `caller` to `target` (a client id, or a unique registered
    /// name) and gives the token to forward it with.
    pub async fn gateway_ticket(
        &self,
        caller: GatewayCaller<'_>,
        target: &str,
    ) -> Result<GatewayTicket, GatewayRefusal> {
        let internal = |e: crate::OAuthError| GatewayRefusal::Internal(e.description);
        let asked = target;
        let not_callable = || GatewayRefusal::NotCallable(asked.to_string());
        let named = self
            .client_named_for(caller.client_id, asked, RulePurpose::Call)
            .await
            .map_err(internal)?;
        let target = match named {
            Ok(Some(client)) => client,
            Ok(None) => return Err(not_callable()),
            Err(ids) => return Err(GatewayRefusal::AmbiguousTarget(asked.to_string(), ids)),
        };
        // The rule first: a caller without one learns nothing of the target (not whether it
        // exists, nor its id, nor whether it has an API).
        let rule = self
            .client_rule(caller.client_id, &target.client_id, RulePurpose::Call)
            .await
            .map_err(internal)?
            .ok_or_else(not_callable)?;
        let Some(api_url) = target.policy.api_url.clone() else {
            return Err(GatewayRefusal::NoApiUrl(target.client_id.clone()));
        };
        let now = self.clock.now_secs();
        let cached = caller.token.and_then(|(jti, _)| {
            self.gateway_tokens.cached(
                (caller.client_id, jti),
                (&target.client_id, &api_url),
                rule.scope.as_deref(),
                now,
            )
        });
        if let Some(token) = cached {
            return Ok(GatewayTicket {
                token,
                target,
                api_url,
                rule: rule.label(),
            });
        }
        let scope = crossing_scope(&rule, caller.scope, None)
            .map_err(|e| GatewayRefusal::NoScope(e.description))?;
        let subject = Subject {
            sub: caller.user_id.unwrap_or(caller.client_id),
            client_id: caller.client_id,
            username: caller.username,
            auth_time: None,
            cnf: None,
            login_method: None,
            sid: None,
            act: Some(caller.client_id),
            transmitted_from: None,
            not_after: caller.token.map(|(_, exp)| exp),
        };
        // Its jti is the caller token's and more (`revocation.rs`): revoking the caller's
        // token, or its family (the user's logout), revokes it too.
        let family = caller.token.map(|(jti, _)| jti);
        let audience = vec![target.client_id.clone(), api_url.clone()];
        let (token, claims) = self
            .mint_access_token(&subject, &scope.to_string(), audience, family)
            .map_err(internal)?;
        let token: Arc<str> = token.into();
        if let Some((jti, _)) = caller.token {
            self.gateway_tokens.keep(
                jti,
                CachedToken {
                    caller: caller.client_id.to_string(),
                    target: target.client_id.clone(),
                    api_url: api_url.clone(),
                    token: token.clone(),
                    exp: claims.exp,
                    rule_scope: rule.scope.clone(),
                },
            );
        }
        Ok(GatewayTicket {
            token,
            target,
            api_url,
            rule: rule.label(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minted(caller: &str, target: &str, api_url: &str, token: &str) -> CachedToken {
        CachedToken {
            caller: caller.into(),
            target: target.into(),
            api_url: api_url.into(),
            token: token.into(),
            exp: 1_000,
            rule_scope: Some("orders.read".into()),
        }
    }

    #[test]
    fn a_minted_token_is_found_only_for_its_caller_target_api_rule_and_time() {
        let tokens = GatewayTokens::default();
        let rule = Some("orders.read");
        tokens.keep("j1", minted("a", "b", "https://b/api", "t1"));
        tokens.keep("j1", minted("a", "c", "https://c/api", "t2"));
        let found = |caller, target, api, rule, now| {
            tokens
                .cached((caller, "j1"), (target, api), rule, now)
                .map(|t| t.to_string())
        };
        assert_eq!(
            found("a", "b", "https://b/api", rule, 0).as_deref(),
            Some("t1")
        );
        assert_eq!(
            found("a", "c", "https://c/api", rule, 0).as_deref(),
            Some("t2")
        );
        assert_eq!(
            found("x", "b", "https://b/api", rule, 0),
            None,
            "another caller"
        );
        assert_eq!(
            found("a", "b", "https://b/v2", rule, 0),
            None,
            "a changed API URL"
        );
        assert_eq!(
            found("a", "b", "https://b/api", None, 0),
            None,
            "a changed rule"
        );
        let late = 1_000 - EXPIRY_MARGIN;
        assert_eq!(
            found("a", "b", "https://b/api", rule, late),
            None,
            "near its expiry"
        );
        assert_eq!(tokens.tokens.read().unwrap().count, 2);
        // Minted again for the same caller and target: replaced, not added.
        tokens.keep("j1", minted("a", "b", "https://b/api", "t3"));
        assert_eq!(
            found("a", "b", "https://b/api", rule, 0).as_deref(),
            Some("t3")
        );
        assert_eq!(tokens.tokens.read().unwrap().count, 2);
    }

    #[test]
    fn the_cache_is_bounded_in_tokens_not_caller_tokens() {
        let tokens = GatewayTokens::default();
        let targets = TARGETS_PER_TOKEN - 1;
        for jti in 0..=CACHE_ENTRIES / targets {
            for target in 0..targets {
                tokens.keep(
                    &jti.to_string(),
                    minted("a", &target.to_string(), "https://t/api", "t"),
                );
            }
        }
        let kept = tokens.tokens.read().unwrap();
        let total: usize = kept.by_jti.values().map(Vec::len).sum();
        assert_eq!(total, kept.count);
        assert!(kept.count <= CACHE_ENTRIES, "{} tokens kept", kept.count);
    }
}
