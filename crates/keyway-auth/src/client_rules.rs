//! Trust rules between clients (docs/oauth.md, "Between applications"): client A may hand its
//! users to B (`transmit`), exchange their tokens for B (`exchange`) or call B's API through
//! the gateway (`call`), and only what a rule names. The rule's scopes cap what crosses.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use keyway_store::ClientRuleRecord;
use serde::Serialize;

use crate::{AdminError, AuthService, Client, OAuthError, ScopeSet};

/// How long a rule (or its absence) read from the store is trusted: as long as a client.
const RULE_CACHE_MS: i64 = 1_000;
/// Cached (from, to, purpose) answers at most; bounded by registered clients anyway.
const RULE_CACHE_ENTRIES: usize = 100_000;

/// What a rule lets one client do with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RulePurpose {
    /// Hand a signed-in user over by the front channel (`POST /oauth2/transmit`).
    Transmit,
    /// Exchange a user's token for one meant for the target (RFC 8693).
    Exchange,
    /// Call the target's API through the gateway.
    Call,
}

impl RulePurpose {
    pub fn parse(text: &str) -> Option<RulePurpose> {
        match text {
            "transmit" => Some(RulePurpose::Transmit),
            "exchange" => Some(RulePurpose::Exchange),
            "call" => Some(RulePurpose::Call),
            _ => None,
        }
    }

    /// What the rule lets a client do to another, as a sentence says it ("A may … B").
    pub fn verb(self) -> &'static str {
        match self {
            RulePurpose::Transmit => "hand users to",
            RulePurpose::Exchange => "exchange tokens for",
            RulePurpose::Call => "call",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RulePurpose::Transmit => "transmit",
            RulePurpose::Exchange => "exchange",
            RulePurpose::Call => "call",
        }
    }
}

/// A rule as `keyway client rules` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientRule {
    pub from: String,
    pub to: String,
    #[serde(rename = "for")]
    pub purpose: RulePurpose,
    /// The scopes that may cross; `None`: whatever the user's token holds.
    pub scope: Option<String>,
    pub created_at: i64,
}

impl ClientRule {
    fn of(record: ClientRuleRecord) -> Result<ClientRule, AdminError> {
        Ok(ClientRule {
            purpose: RulePurpose::parse(&record.purpose)
                .ok_or_else(|| AdminError::Invalid("stored rule purpose".into()))?,
            from: record.from_client,
            to: record.to_client,
            scope: record.scope,
            created_at: record.created_at,
        })
    }

    /// How the audit log names the rule.
    pub fn label(&self) -> String {
        // Every gateway call's audit entry names its rule: no formatting machinery for it.
        [
            &*self.from,
            " -> ",
            &*self.to,
            " for ",
            self.purpose.as_str(),
        ]
        .concat()
    }

    /// The scopes that may cross under this rule, of those `held` (the user's token's).
    pub fn cap(&self, held: &ScopeSet) -> ScopeSet {
        match &self.scope {
            None => held.clone(),
            Some(text) => held.intersection(&ScopeSet::parse(text).unwrap_or_default()),
        }
    }
}

struct CachedRule {
    fetched_at: i64,
    rule: Option<Arc<ClientRule>>,
}

/// Rules read from the store, kept a second (so `keyway client disallow` from another
/// process takes effect within one), and which client each API URL belongs to.
#[derive(Default)]
pub(crate) struct RuleCache {
    rules: RwLock<HashMap<(String, String, RulePurpose), CachedRule>>,
    api_urls: RwLock<Option<ApiUrlIndex>>,
    /// Bumped when this process changes a client: an index read from the store before the
    /// change is not kept.
    index_generation: std::sync::atomic::AtomicU64,
}

/// API URL (without a trailing `/`) → client id, and name → client ids, rebuilt at most
/// once a second when asked.
struct ApiUrlIndex {
    built_at: i64,
    clients: HashMap<String, String>,
    /// (`resemblance_key` of an API URL, its client id).
    resembling: Vec<(String, String)>,
    names: HashMap<String, Vec<String>>,
}

use crate::api_url_key::{api_url_key, resemblance_key, resemblance_keys};

/// Client ids as a refusal lists them: the first ten, then how many more.
pub(crate) fn some_ids(ids: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

impl AuthService {
    /// The rule letting `from` do `purpose` with `to`, through the short-lived cache.
    pub async fn client_rule(
        &self,
        from: &str,
        to: &str,
        purpose: RulePurpose,
    ) -> Result<Option<Arc<ClientRule>>, OAuthError> {
        let now = self.clock.now_ms();
        let key = (from.to_string(), to.to_string(), purpose);
        if let Ok(cache) = self.rules.rules.read()
            && let Some(cached) = cache.get(&key)
            && now - cached.fetched_at < RULE_CACHE_MS
        {
            return Ok(cached.rule.clone());
        }
        let rule = match self.store.client_rule(from, to, purpose.as_str()).await? {
            Some(record) => Some(Arc::new(
                ClientRule::of(record).map_err(OAuthError::server_error)?,
            )),
            None => None,
        };
        if let Ok(mut cache) = self.rules.rules.write() {
            if cache.len() >= RULE_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(
                key,
                CachedRule {
                    fetched_at: now,
                    rule: rule.clone(),
                },
            );
        }
        Ok(rule)
    }

    /// The client whose registered API URL is `url` (RFC 8707 `resource`).
    pub async fn client_by_api_url(&self, url: &str) -> Result<Option<Arc<Client>>, OAuthError> {
        let key = api_url_key(url);
        let found = self
            .look_up(|index| index.clients.get(&key).cloned())
            .await?;
        match found {
            Some(id) => self.client(&id).await,
            None => Ok(None),
        }
    }

    /// Refuses RFC 8707 `resource` values that are (or lie under) another client's registered
    /// API URL: tokens for a client's API are minted only by token exchange and the gateway,
    /// under a rule; otherwise any client could ask for one and skip the rules.
    pub(crate) async fn refuse_claimed_resources(
        &self,
        client_id: &str,
        resources: &[String],
    ) -> Result<(), OAuthError> {
        for resource in resources {
            let keys = resemblance_keys(resource);
            let under = |api: &str| {
                keys.iter()
                    .any(|key| key == api || key.starts_with(&format!("{api}/")))
            };
            let claimed = self
                .look_up(|index| {
                    Some(
                        index
                            .resembling
                            .iter()
                            .any(|(api, owner)| owner != client_id && under(api)),
                    )
                })
                .await?;
            // The owner is not named: a client could map URLs to other clients' ids.
            if claimed == Some(true) {
                return Err(OAuthError::new(
                    crate::ErrorCode::InvalidTarget,
                    format!(
                        "resource {resource:?} is, or reads as, another client's API: tokens \
                         for it come from token exchange or the gateway, under a rule"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The client registered under `name`, when exactly one is.
    pub async fn client_by_name(&self, name: &str) -> Result<Option<Arc<Client>>, OAuthError> {
        let found = self
            .look_up(|index| match index.names.get(name).map(Vec::as_slice) {
                Some([one]) => Some(one.clone()),
                _ => None,
            })
            .await?;
        match found {
            Some(id) => self.client(&id).await,
            None => Ok(None),
        }
    }

    /// The ids of the clients registered under `name` when several are (a name that names
    /// no one client is refused saying so, not as unknown).
    pub async fn clients_sharing_name(&self, name: &str) -> Result<Vec<String>, OAuthError> {
        let ids = self
            .look_up(|index| match index.names.get(name) {
                Some(ids) if ids.len() > 1 => Some(ids.clone()),
                _ => None,
            })
            .await?;
        Ok(ids.unwrap_or_default())
    }

    /// The client `name` (a client_id, or a registered name) names for `caller` doing
    /// `purpose`: by id, by a name only one client has, or by a name several share, the one
    /// of them `caller` has a rule to. `Ok(Err(ids))`: several it has a rule to; `Ok(Ok(None))`:
    /// none (no rule is checked for an id or a unique name: the caller checks the rule).
    pub(crate) async fn client_named_for(
        &self,
        caller: &str,
        name: &str,
        purpose: RulePurpose,
    ) -> Result<Result<Option<Arc<Client>>, Vec<String>>, OAuthError> {
        if let Some(client) = self.client(name).await? {
            return Ok(Ok(Some(client)));
        }
        if let Some(client) = self.client_by_name(name).await? {
            return Ok(Ok(Some(client)));
        }
        let mut ruled = Vec::new();
        for id in self.clients_sharing_name(name).await? {
            if self.client_rule(caller, &id, purpose).await?.is_some() {
                ruled.push(id);
            }
        }
        match ruled.as_slice() {
            [] => Ok(Ok(None)),
            [one] => Ok(Ok(self.client(one).await?)),
            _ => Ok(Err(ruled)),
        }
    }

    /// Makes the next lookup of a name or API URL read the store.
    pub(crate) fn forget_client_index(&self) {
        use std::sync::atomic::Ordering;
        if let Ok(mut slot) = self.rules.api_urls.write() {
            self.rules.index_generation.fetch_add(1, Ordering::SeqCst);
            *slot = None;
        }
    }

    /// Asks the client index (rebuilt from the store when older than a second).
    async fn look_up<T>(
        &self,
        find: impl Fn(&ApiUrlIndex) -> Option<T>,
    ) -> Result<Option<T>, OAuthError> {
        let now = self.clock.now_ms();
        if let Ok(index) = self.rules.api_urls.read()
            && let Some(index) = index.as_ref()
            && now - index.built_at < RULE_CACHE_MS
        {
            return Ok(find(index));
        }
        let generation = self
            .rules
            .index_generation
            .load(std::sync::atomic::Ordering::SeqCst);
        let mut clients = HashMap::new();
        let mut names: HashMap<String, Vec<String>> = HashMap::new();
        let mut resembling = Vec::new();
        for record in self.store.clients().await? {
            let policy: crate::ClientPolicy =
                serde_json::from_str(&record.policy).unwrap_or_default();
            if let Some(api) = policy.api_url {
                resembling.push((resemblance_key(&api), record.client_id.clone()));
                clients.insert(api_url_key(&api), record.client_id.clone());
            }
            names.entry(record.name).or_default().push(record.client_id);
        }
        let index = ApiUrlIndex {
            built_at: now,
            clients,
            resembling,
            names,
        };
        let found = find(&index);
        if let Ok(mut slot) = self.rules.api_urls.write()
            && self
                .rules
                .index_generation
                .load(std::sync::atomic::Ordering::SeqCst)
                == generation
        {
            *slot = Some(index);
        }
        Ok(found)
    }

    /// Refuses an API URL that is the hub's own address, that holds a `.` or `..` segment
    /// (stored as given, it would move the gateway's calls elsewhere), or that another
    /// client's API URL is, lies under or holds, compared as loosely as resources are
    /// (`api_url_key.rs`): `resource=` and the gateway's tokens name one client per URL, and
    /// a resource server checking an audience by prefix must not take one client's token for
    /// another's.
    pub(crate) async fn check_api_url_free(
        &self,
        url: &str,
        client_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        let nested = |a: &str, b: &str| under(a, b) || under(b, a);
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
            .unwrap_or_default();
        if crate::lenient_path::has_dot_segment(path) {
            return Err(AdminError::Invalid(format!(
                "API URL {url:?} holds a `.` or `..` segment: give the path it leads to"
            )));
        }
        // Either scheme: the hub's host and port are the hub's.
        let key = resemblance_key(url);
        if nested(&key, &resemblance_key(&self.config.issuer)) {
            return Err(AdminError::Invalid(format!(
                "API URL {url:?} is this hub's own address ({}): give the client's API",
                self.config.issuer
            )));
        }
        for record in self.store.clients().await? {
            if Some(record.client_id.as_str()) == client_id {
                continue;
            }
            let policy: crate::ClientPolicy =
                serde_json::from_str(&record.policy).unwrap_or_default();
            let Some(theirs) = policy.api_url.as_deref() else {
                continue;
            };
            let their_key = resemblance_key(theirs);
            if their_key == key {
                return Err(AdminError::Conflict(format!(
                    "API URL {url:?} is client {}'s already: each client has its own",
                    record.client_id
                )));
            }
            if nested(&key, &their_key) {
                return Err(AdminError::Conflict(format!(
                    "API URL {url:?} and client {}'s ({theirs}) lie one under the other: a \
                     resource server checking audiences by prefix would take one's tokens for \
                     the other's",
                    record.client_id
                )));
            }
        }
        Ok(())
    }

    /// A registered client named by its id or, when no id matches, by its unique name.
    pub async fn client_by_id_or_name(&self, name: &str) -> Result<Arc<Client>, AdminError> {
        if let Some(client) = self.client(name).await.map_err(oauth_to_admin)? {
            return Ok(client);
        }
        let named: Vec<_> = self
            .store
            .clients()
            .await?
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        match named.as_slice() {
            [one] => Ok(self
                .client(&one.client_id)
                .await
                .map_err(oauth_to_admin)?
                .ok_or_else(|| AdminError::NotFound(format!("client {name:?}")))?),
            [] => Err(AdminError::NotFound(format!(
                "client {name:?}: no client has this id or name (`keyway client list` shows them)"
            ))),
            many => Err(AdminError::Invalid(format!(
                "{} clients are named {name:?}: give a client_id ({})",
                many.len(),
                many.iter()
                    .map(|c| c.client_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Lets `from` do `purpose` with `to`, crossing at most `scope` (`None`: the user's own
    /// scopes); replaces the rule for the same pair and purpose.
    pub async fn allow_client(
        &self,
        from: &str,
        to: &str,
        purpose: RulePurpose,
        scope: Option<&str>,
    ) -> Result<ClientRule, AdminError> {
        let source = self.client_by_id_or_name(from).await?;
        let target = self.client_by_id_or_name(to).await?;
        if source.client_id == target.client_id {
            return Err(AdminError::Invalid(format!(
                "a rule is between two clients; {from:?} and {to:?} are the same client"
            )));
        }
        let scope = match scope.map(str::trim) {
            None => None,
            Some("") => {
                return Err(AdminError::Invalid(
                    "--scope is empty: give the scopes that may cross, or leave --scope out to \
                     let the user's own pass"
                        .into(),
                ));
            }
            Some(text) => Some(
                ScopeSet::parse(&text.replace(',', " "))
                    .map_err(|e| AdminError::Invalid(e.description))?
                    .to_string(),
            ),
        };
        check_target_for(&target, purpose)?;
        let rule = ClientRuleRecord {
            from_client: source.client_id.clone(),
            to_client: target.client_id.clone(),
            purpose: purpose.as_str().to_string(),
            scope,
            created_at: self.clock.now_secs(),
        };
        let replaced = self.store.put_client_rule(&rule).await?;
        let rule = ClientRule::of(rule)?;
        self.forget_rule(&rule.from, &rule.to, purpose);
        self.audit_change(
            "rule.allow",
            &rule.label(),
            Some(match (&rule.scope, replaced) {
                (Some(scope), false) => format!("scope {scope}"),
                (Some(scope), true) => format!("replaced; scope {scope}"),
                (None, false) => "the user's own scopes".to_string(),
                (None, true) => "replaced; the user's own scopes".to_string(),
            }),
        )
        .await;
        Ok(rule)
    }

    /// Removes the rule letting `from` do `purpose` with `to`.
    pub async fn disallow_client(
        &self,
        from: &str,
        to: &str,
        purpose: RulePurpose,
    ) -> Result<(), AdminError> {
        let source = self.client_by_id_or_name(from).await?;
        let target = self.client_by_id_or_name(to).await?;
        let removed = self
            .store
            .delete_client_rule(&source.client_id, &target.client_id, purpose.as_str())
            .await?;
        if !removed {
            return Err(AdminError::NotFound(format!(
                "no rule lets {from} {} {to} (`keyway client rules` lists them)",
                purpose.verb()
            )));
        }
        self.forget_rule(&source.client_id, &target.client_id, purpose);
        let label = format!(
            "{} -> {} for {}",
            source.client_id,
            target.client_id,
            purpose.as_str()
        );
        self.audit_change("rule.disallow", &label, None).await;
        Ok(())
    }

    /// Every rule.
    pub async fn client_rules(&self) -> Result<Vec<ClientRule>, AdminError> {
        self.store
            .client_rules()
            .await?
            .into_iter()
            .map(ClientRule::of)
            .collect()
    }

    fn forget_rule(&self, from: &str, to: &str, purpose: RulePurpose) {
        if let Ok(mut cache) = self.rules.rules.write() {
            cache.remove(&(from.to_string(), to.to_string(), purpose));
        }
    }
}

/// What the target must have registered for a rule's purpose to work.
fn check_target_for(target: &Client, purpose: RulePurpose) -> Result<(), AdminError> {
    let id = &target.client_id;
    match purpose {
        RulePurpose::Transmit if target.policy.transmit_url.is_none() => {
            Err(AdminError::Invalid(format!(
                "client {id} has no transmit URL to receive users at: \
                 keyway client update {id} --transmit-url URL"
            )))
        }
        RulePurpose::Transmit if target.public => Err(AdminError::Invalid(format!(
            "client {id} is public: it cannot redeem a transmitted code without credentials"
        ))),
        RulePurpose::Transmit if !target.allows(crate::GrantType::AuthorizationCode) => {
            Err(AdminError::Invalid(format!(
                "client {id} cannot redeem the code a transmit gives it: keyway client update \
                 {id} --grant authorization_code (with a --redirect-uri)"
            )))
        }
        RulePurpose::Call if target.policy.api_url.is_none() => Err(AdminError::Invalid(format!(
            "client {id} has no API URL to call: keyway client update {id} --api-url URL"
        ))),
        _ => Ok(()),
    }
}

fn oauth_to_admin(err: OAuthError) -> AdminError {
    AdminError::Invalid(err.description)
}
