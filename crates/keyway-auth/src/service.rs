use crate::pending_seal::RequestSeal;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use keyway_store::{ClientRecord, Store};

use crate::clients::{ClientInfo, parse_jwks};
use crate::remote_jwks::RemoteJwksCache;
use crate::revocation::RevocationList;
use crate::verified::VerifiedTokens;
use crate::{
    AdminError, AuthConfig, Client, Clock, Entropy, JwksSource, KeyRing, LoginThrottle, NewClient,
    OAuthError, RegisteredClient, SecretString, random_hex, random_token, sha256_hex,
};

/// How long a client read from the store is trusted before it is read again. Short, so that
/// `keyway client delete` or `rotate-secret` from the CLI takes effect within a second, and
/// long enough that the token path does not read the database per request.
const CLIENT_CACHE_MS: i64 = 1_000;

/// A client read from the store, with the time (ms) it was read; `None` caches "unknown".
struct CachedClient {
    fetched_at: i64,
    client: Option<Arc<Client>>,
}

/// The authorization server. Cheap to share behind an `Arc`.
pub struct AuthService {
    pub(crate) store: Store,
    pub(crate) config: AuthConfig,
    pub(crate) keys: KeyRing,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    clients: RwLock<HashMap<String, CachedClient>>,
    pub(crate) revoked: RevocationList,
    pub throttle: LoginThrottle,
    /// Concurrent argon2 verifications (each holds ~19 MiB and a core for ~50 ms).
    pub(crate) password_checks: tokio::sync::Semaphore,
    pub(crate) csrf_key: aws_lc_rs::hmac::Key,
    pub(crate) request_seal: RequestSeal,
    pub(crate) jwks_source: Option<Arc<dyn JwksSource>>,
    pub(crate) remote_jwks: RemoteJwksCache,
    pub(crate) verified: VerifiedTokens,
    pub(crate) dpop_seen: crate::dpop::SeenProofs,
    pub(crate) dpop_nonces: crate::dpop_nonce::DpopNonces,
    /// `None` for an admin command on a hub that has not made its key yet: nothing sealed
    /// can exist then, and sealing says where the key was looked for.
    pub(crate) master_key: Option<crate::MasterKey>,
    master_key_path: std::path::PathBuf,
    /// Upstream OpenID Connect providers people may sign in through (keyway.toml).
    pub(crate) upstreams: Arc<Vec<crate::UpstreamProvider>>,
    pub(crate) upstream_http: Option<Arc<dyn crate::UpstreamHttp>>,
    pub(crate) upstream_cache: crate::upstream::UpstreamCache,
    pub(crate) login_seal: crate::upstream::LoginSeal,
    /// Seals the ticket between a password and its second factor.
    pub(crate) second_factor_seal: crate::second_factor::TicketSeal,
    /// Wrong second-factor codes per account, from every address.
    pub(crate) code_failures: crate::second_factor::CodeFailures,
    /// The WebAuthn relying party (passkeys), or why there is none.
    pub(crate) passkeys: crate::passkeys::RelyingParty,
    /// Where back-channel logout tokens go (`None`: nowhere, e.g. in unit tests).
    pub(crate) logout_delivery: Option<Arc<dyn crate::LogoutDelivery>>,
    /// The audit log's writer (queued when serving, direct otherwise).
    pub(crate) audit: crate::audit::AuditLog,
    /// Who makes this service's admin changes, as the audit log names them.
    pub(crate) admin_actor: String,
    /// Trust rules between clients, cached like clients.
    pub(crate) rules: crate::client_rules::RuleCache,
    /// Tokens the gateway forwards calls with, per caller token and target.
    pub(crate) gateway_tokens: crate::gateway::GatewayTokens,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthService({})", self.config.issuer)
    }
}

/// The lease of the one node doing a cluster's shared upkeep.
pub(crate) const UPKEEP_LEASE: &str = "upkeep";
/// Held this long unless renewed: the hub renews it every second, so a dead holder is
/// replaced within 10 s.
const UPKEEP_LEASE_MS: i64 = 10_000;

impl AuthService {
    /// Opens the service on `store`, creating signing keys in `data_dir` on first start.
    pub async fn start(
        store: Store,
        config: AuthConfig,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<AuthService, AdminError> {
        config.validate().map_err(AdminError::Invalid)?;
        let keys = KeyRing::new(data_dir);
        store.set_access_token_ttl(
            store
                .longest_access_token_ttl(config.access_token_ttl)
                .await?,
        );
        let master_key_path = config
            .master_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("master.key"));
        let mut create = config.create_master_key && config.master_key_file.is_none();
        if create && !master_key_path.exists() {
            // A store that already has a key's id lost its key file: a new key would not open
            // anything, so say so instead of making one.
            if let Some(id) = store.setting(crate::master_key::KEY_ID_SETTING).await? {
                return Err(AdminError::MasterKey(format!(
                    "no master key at {}, but this store's secrets are sealed with key {id}: \
                     restore that key file (from the backup of the data directory) or point \
                     master_key_file / KEYWAY_MASTER_KEY_FILE at it",
                    master_key_path.display()
                )));
            }
            create = true;
        }
        let master_key = if create || master_key_path.exists() {
            let key = crate::MasterKey::load_or_create(&master_key_path, create, entropy.as_ref())?;
            key.check_against(&store).await?;
            Some(key)
        } else if config.master_key_file.is_some() {
            return Err(AdminError::MasterKey(format!(
                "master key {}: no such file (master_key_file / KEYWAY_MASTER_KEY_FILE must name \
                 an existing key: openssl rand -base64 32 > FILE; chmod 600 FILE)",
                master_key_path.display()
            )));
        } else {
            None
        };
        // Without the master key (an admin command before the hub's first start) nothing this
        // process seals outlives it, so a key of its own does.
        let csrf_secret = match &master_key {
            Some(key) => {
                crate::hub_secrets::open_or_create(
                    &store,
                    key,
                    entropy.as_ref(),
                    crate::hub_secrets::CSRF_KEY,
                    None,
                    || Ok(crate::hub_secrets::fresh_token(entropy.as_ref())),
                )
                .await?
            }
            None => zeroize::Zeroizing::new(crate::hub_secrets::fresh_token(entropy.as_ref())),
        };
        let csrf_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &csrf_secret);
        let request_seal = RequestSeal::new(&csrf_key).ok_or_else(|| {
            AdminError::Invalid("cannot derive the pending-request sealing key".into())
        })?;
        let dpop_nonces = crate::dpop_nonce::DpopNonces::new(&csrf_key);
        let now = clock.now_secs();
        if let Some(key) = &master_key {
            let sealer = crate::keys::KeySealer {
                key,
                entropy: entropy.as_ref(),
            };
            keys.ensure(&store, config.signing_alg, now, sealer).await?;
        }
        let sealer = master_key.as_ref().map(|key| crate::keys::KeySealer {
            key,
            entropy: entropy.as_ref(),
        });
        keys.reload(&store, now, sealer).await?;
        let login_seal = crate::upstream::LoginSeal::new(&csrf_key).ok_or_else(|| {
            AdminError::Invalid("cannot derive the upstream sign-in sealing key".into())
        })?;
        let second_factor_seal =
            crate::second_factor::TicketSeal::new(&csrf_key).ok_or_else(|| {
                AdminError::Invalid("cannot derive the second-factor sealing key".into())
            })?;
        let passkeys = crate::passkeys::RelyingParty::new(&config.issuer, &csrf_key)
            .ok_or_else(|| AdminError::Invalid("cannot derive the passkey sealing key".into()))?;
        let service = AuthService {
            store,
            config,
            keys,
            clock,
            entropy,
            clients: RwLock::new(HashMap::new()),
            revoked: RevocationList::default(),
            throttle: LoginThrottle::default(),
            password_checks: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            csrf_key,
            request_seal,
            jwks_source: None,
            remote_jwks: RemoteJwksCache::default(),
            verified: VerifiedTokens::default(),
            dpop_seen: crate::dpop::SeenProofs::default(),
            dpop_nonces,
            master_key,
            master_key_path,
            upstreams: Arc::new(Vec::new()),
            upstream_http: None,
            logout_delivery: None,
            second_factor_seal,
            passkeys,
            code_failures: Default::default(),
            upstream_cache: crate::upstream::UpstreamCache::default(),
            login_seal,
            audit: Default::default(),
            admin_actor: "hub".to_string(),
            rules: Default::default(),
            gateway_tokens: Default::default(),
        };
        service.refresh_revocations().await?;
        Ok(service)
    }

    /// Lets `private_key_jwt` clients registered with a `jwks_uri` authenticate.
    pub fn with_jwks_source(mut self, source: Arc<dyn JwksSource>) -> AuthService {
        self.jwks_source = Some(source);
        self
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn entropy(&self) -> &dyn Entropy {
        self.entropy.as_ref()
    }

    /// The clock, shared (components that outlive a call, such as the toki layer).
    pub fn clock_source(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The entropy source, shared.
    pub fn entropy_source(&self) -> Arc<dyn Entropy> {
        self.entropy.clone()
    }

    /// Gives up the upkeep lease if this node holds it (a node stopping): another node takes
    /// it over at once instead of 10 s later, and admin commands that need every node stopped
    /// can tell.
    pub async fn release_upkeep_lease(&self) {
        if let Err(err) = self
            .store
            .release_lease(UPKEEP_LEASE, &self.config.node_id)
            .await
        {
            tracing::warn!(error = %err, "giving up the upkeep lease failed");
        }
    }

    /// Periodic upkeep: picks up key changes made by the CLI or other nodes, rotates keys when
    /// due, and reloads the access-token revocation list. Work that must run on one node of a
    /// cluster at a time (rotation; the hub's purging) is done by the holder of the upkeep
    /// lease, which this call takes or renews: the answer is whether this node holds it.
    pub async fn maintain(&self) -> Result<bool, AdminError> {
        if let Some(key) = &self.master_key {
            key.check_still_current(&self.store).await?;
        }
        let now = self.clock.now_secs();
        self.keys
            .reload(&self.store, now, self.key_sealer())
            .await?;
        let leads = self
            .store
            .try_lease(
                UPKEEP_LEASE,
                &self.config.node_id,
                self.clock.now_ms(),
                UPKEEP_LEASE_MS,
            )
            .await?;
        if leads
            && self
                .keys
                .rotation_due(now, self.config.key_rotation_interval)
        {
            let rotated = self
                .keys
                .rotate(
                    &self.store,
                    self.config.signing_alg,
                    now,
                    self.config.longest_token_lifetime(),
                    self.require_key_sealer()?,
                )
                .await;
            match rotated {
                Ok(kid) => tracing::info!(%kid, "signing key rotated on schedule"),
                // Another hub process (or the CLI) rotated first: take its result.
                Err(AdminError::Conflict(_)) => {
                    self.keys
                        .reload(&self.store, now, self.key_sealer())
                        .await?
                }
                Err(other) => return Err(other),
            }
        }
        self.refresh_revocations().await?;
        Ok(leads)
    }

    /// This process's name in the cluster.
    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    pub(crate) async fn refresh_revocations(&self) -> Result<(), AdminError> {
        let now = self.clock.now_secs();
        let jtis = self.store.revoked_access_tokens(now).await?;
        self.revoked.replace(jtis);
        Ok(())
    }

    /// Looks a client up through the short-lived cache.
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<Client>>, OAuthError> {
        let now = self.clock.now_ms();
        if let Ok(cache) = self.clients.read()
            && let Some(cached) = cache.get(client_id)
            && now - cached.fetched_at < CLIENT_CACHE_MS
        {
            return Ok(cached.client.clone());
        }
        let client = match self.store.client(client_id).await? {
            Some(record) => Some(Arc::new(
                self.client_from_record(record)
                    .map_err(OAuthError::server_error)?,
            )),
            None => None,
        };
        if let Ok(mut cache) = self.clients.write() {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(
                client_id.to_string(),
                CachedClient {
                    fetched_at: now,
                    client: client.clone(),
                },
            );
        }
        Ok(client)
    }

    /// Reads a stored client, opening its sealed signing secret with the master key.
    pub(crate) fn client_from_record(
        &self,
        mut record: ClientRecord,
    ) -> Result<Client, AdminError> {
        let sealed = record.signing_secret.take();
        let mut client = Client::from_record(record)?;
        if let Some(sealed) = sealed {
            let context = signing_secret_context(&client.client_id);
            let opened = self.master_key()?.open(&context, &sealed)?;
            let text = String::from_utf8(opened.to_vec())
                .map_err(|_| AdminError::Crypto(format!("{context} is not text")))?;
            client.signing_secret = Some(SecretString::new(text));
        }
        Ok(client)
    }

    /// False once the store's secrets were sealed under another master key while this
    /// process ran (it must be restarted with the new key file).
    pub fn master_key_current(&self) -> bool {
        self.master_key.as_ref().is_none_or(|key| !key.is_retired())
    }

    /// What seals signing keys, when this process has the master key.
    pub(crate) fn key_sealer(&self) -> Option<crate::keys::KeySealer<'_>> {
        self.master_key.as_ref().map(|key| crate::keys::KeySealer {
            key,
            entropy: self.entropy.as_ref(),
        })
    }

    fn require_key_sealer(&self) -> Result<crate::keys::KeySealer<'_>, AdminError> {
        Ok(crate::keys::KeySealer {
            key: self.master_key()?,
            entropy: self.entropy.as_ref(),
        })
    }

    pub(crate) fn master_key(&self) -> Result<&crate::MasterKey, AdminError> {
        self.master_key.as_ref().ok_or_else(|| {
            AdminError::MasterKey(format!(
                "no master key at {}: `keyway serve` makes it on its first start (start the hub \
                 once), or give the hub's key with master_key_file / KEYWAY_MASTER_KEY_FILE",
                self.master_key_path.display()
            ))
        })
    }

    fn seal_signing_secret(
        &self,
        client_id: &str,
        secret: &SecretString,
    ) -> Result<String, AdminError> {
        self.master_key()?.seal(
            &signing_secret_context(client_id),
            secret.expose().as_bytes(),
            self.entropy.as_ref(),
        )
    }

    /// Drops what this process caches of `client_id`, and the index of names and API URLs
    /// (a change made here shows at once; one made by another process within a second).
    fn forget_client(&self, client_id: &str) {
        if let Ok(mut cache) = self.clients.write() {
            cache.remove(client_id);
        }
        self.forget_client_index();
    }

    /// Registers a client; the secret (if any) is returned once and stored only as a digest.
    pub async fn create_client(&self, new: NewClient) -> Result<RegisteredClient, AdminError> {
        let (grants, method) = new.validate()?;
        let now = self.clock.now_secs();
        // Hex, not base64url: an id that starts with '-' would read as a flag on command lines.
        let client_id = random_hex(self.entropy.as_ref(), 16);
        let secret = (method == crate::AuthMethod::ClientSecretBasic)
            .then(|| SecretString::new(random_token(self.entropy.as_ref(), 32)));
        let stored = StoredFields::of(&new, &grants)?;
        if let Some(url) = &new.policy.api_url {
            self.check_api_url_free(url, None).await?;
        }
        if let Some(given) = &new.signing_secret {
            crate::clients::check_signing_secret(given)?;
        }
        if new.public
            && (new.signing_secret.is_some()
                || new.policy.profile == Some(crate::ClientProfile::G2d1))
        {
            return Err(AdminError::Invalid(
                "a public client cannot keep a signing secret (it runs where users can read \
                 it): register the g2d1 client as confidential"
                    .into(),
            ));
        }
        // A g2d1 client registered without a secret gets one, shown once.
        let made_secret = (new.signing_secret.is_none()
            && new.policy.profile == Some(crate::ClientProfile::G2d1))
        .then(|| SecretString::new(random_token(self.entropy.as_ref(), 32)));
        let signing_secret = match new.signing_secret.as_ref().or(made_secret.as_ref()) {
            Some(secret) => Some(self.seal_signing_secret(&client_id, secret)?),
            None => None,
        };
        let record = ClientRecord {
            client_id: client_id.clone(),
            name: stored.name,
            secret_hash: secret.as_ref().map(|s| sha256_hex(s.expose())),
            public_client: new.public,
            auth_method: method.as_str().into(),
            grant_types: stored.grant_types,
            scope: stored.scope,
            redirect_uris: stored.redirect_uris,
            jwks: new.jwks.clone(),
            jwks_uri: new.jwks_uri.clone(),
            policy: serde_json::to_string(&new.policy)
                .map_err(|e| AdminError::Invalid(e.to_string()))?,
            created_at: now,
            updated_at: now,
            signing_secret,
        };
        self.store.insert_client(&record).await?;
        self.forget_client(&client_id);
        self.audit_change(
            "client.create",
            &client_id,
            Some(format!("name {:?}", new.name)),
        )
        .await;
        Ok(RegisteredClient {
            client: self.client_from_record(record)?,
            client_secret: secret,
            signing_secret: made_secret,
        })
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientInfo>, AdminError> {
        self.store
            .clients()
            .await?
            .into_iter()
            .map(|r| self.client_from_record(r).map(|c| c.info()))
            .collect()
    }

    pub async fn show_client(&self, client_id: &str) -> Result<ClientInfo, AdminError> {
        let record = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(crate::error::no_such_client(client_id)))?;
        Ok(self.client_from_record(record)?.info())
    }

    /// Changes a client's registered properties under the registration rules. The hub's
    /// client cache holds a client for at most a second, so a running hub applies the change
    /// within that; refresh tokens no longer carry scopes the client lost.
    pub async fn update_client(
        &self,
        client_id: &str,
        update: crate::ClientUpdate,
    ) -> Result<ClientInfo, AdminError> {
        let mut record = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(crate::error::no_such_client(client_id)))?;
        // Its registered fields only: a signing secret that no longer opens must not stop the
        // update that replaces it.
        let current = Client::from_record(record.clone())?;
        let before = current.info();
        let (jwks, jwks_uri) = match (update.jwks, update.jwks_uri) {
            (None, None) => (record.jwks.clone(), record.jwks_uri.clone()),
            (jwks, jwks_uri) => (jwks, jwks_uri),
        };
        let merged = NewClient {
            name: update.name.unwrap_or(current.name),
            grant_types: update.grant_types.unwrap_or_else(|| {
                current
                    .grant_types
                    .iter()
                    .map(|g| g.as_str().to_string())
                    .collect()
            }),
            scope: update.scope.unwrap_or_else(|| current.scopes.to_string()),
            redirect_uris: update.redirect_uris.unwrap_or(current.redirect_uris),
            public: record.public_client,
            jwks,
            jwks_uri,
            policy: crate::ClientPolicy {
                require_pushed_requests: update
                    .require_pushed_requests
                    .unwrap_or(current.policy.require_pushed_requests),
                require_signed_requests: update
                    .require_signed_requests
                    .unwrap_or(current.policy.require_signed_requests),
                require_dpop: update.require_dpop.unwrap_or(current.policy.require_dpop),
                login_types: update
                    .login_types
                    .unwrap_or_else(|| current.policy.login_types.clone()),
                require_mfa: update.require_mfa.unwrap_or(current.policy.require_mfa),
                post_logout_redirect_uris: update
                    .post_logout_redirect_uris
                    .unwrap_or_else(|| current.policy.post_logout_redirect_uris.clone()),
                backchannel_logout_uri: update
                    .backchannel_logout_uri
                    .unwrap_or_else(|| current.policy.backchannel_logout_uri.clone()),
                transmit_url: update
                    .transmit_url
                    .unwrap_or_else(|| current.policy.transmit_url.clone()),
                api_url: update
                    .api_url
                    .unwrap_or_else(|| current.policy.api_url.clone()),
                ..current.policy.clone()
            },
            signing_secret: None,
        };
        let (grants, method) = merged.validate()?;
        if let Some(url) = &merged.policy.api_url {
            self.check_api_url_free(url, Some(client_id)).await?;
        }
        if method.as_str() != record.auth_method {
            return Err(AdminError::Invalid(format!(
                "client {client_id} authenticates with {}; that cannot change (this update would \
                 make it {}): register a new client instead",
                record.auth_method,
                method.as_str()
            )));
        }
        let stored = StoredFields::of(&merged, &grants)?;
        record.name = stored.name;
        record.grant_types = stored.grant_types;
        record.scope = stored.scope;
        record.redirect_uris = stored.redirect_uris;
        record.jwks = merged.jwks;
        record.jwks_uri = merged.jwks_uri;
        record.policy = serde_json::to_string(&merged.policy)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        record.updated_at = self.clock.now_secs();
        if let Some(secret) = &update.signing_secret {
            crate::clients::check_signing_secret(secret)?;
            record.signing_secret = Some(self.seal_signing_secret(client_id, secret)?);
        }
        if !self.store.update_client(&record).await? {
            return Err(AdminError::NotFound(crate::error::no_such_client(
                client_id,
            )));
        }
        self.forget_client(client_id);
        let updated = self.client_from_record(record)?.info();
        let changed = changed_fields(&before, &updated);
        let changed = match (changed.is_empty(), update.signing_secret.is_some()) {
            (_, true) => format!("{} signing_secret", changed.join(" "))
                .trim()
                .to_string(),
            (true, false) => "nothing".to_string(),
            (false, false) => changed.join(" "),
        };
        self.audit_change("client.update", client_id, Some(changed))
            .await;
        Ok(updated)
    }

    /// Issues a new secret; the old one stops working at once.
    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<SecretString, AdminError> {
        let record = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(crate::error::no_such_client(client_id)))?;
        if record.auth_method != crate::AuthMethod::ClientSecretBasic.as_str() {
            return Err(AdminError::Invalid(format!(
                "client {client_id} authenticates with {}, not a secret",
                record.auth_method
            )));
        }
        let secret = SecretString::new(random_token(self.entropy.as_ref(), 32));
        let now = self.clock.now_secs();
        self.store
            .set_client_secret(client_id, &sha256_hex(secret.expose()), now)
            .await?;
        self.forget_client(client_id);
        self.audit_change("client.rotate-secret", client_id, None)
            .await;
        Ok(secret)
    }

    /// Deletes a client, revoking everything issued to it.
    pub async fn delete_client(&self, client_id: &str) -> Result<(), AdminError> {
        let now = self.clock.now_secs();
        if !self.store.delete_client(client_id, now).await? {
            return Err(AdminError::NotFound(crate::error::no_such_client(
                client_id,
            )));
        }
        self.forget_client(client_id);
        self.refresh_revocations().await?;
        self.audit_change("client.delete", client_id, None).await;
        Ok(())
    }

    /// Registers a transfer public key (`keyway-ed25519 BASE64`, already validated by the
    /// caller, with its fingerprint) for an existing client.
    pub async fn add_client_key(
        &self,
        client_id: &str,
        public_key: &str,
        fingerprint: &str,
    ) -> Result<(), AdminError> {
        if self.store.client(client_id).await?.is_none() {
            return Err(AdminError::NotFound(crate::error::no_such_client(
                client_id,
            )));
        }
        self.store
            .insert_client_key(&keyway_store::ClientKeyRecord {
                client_id: client_id.to_string(),
                fingerprint: fingerprint.to_string(),
                public_key: public_key.to_string(),
                created_at: self.clock.now_secs(),
            })
            .await?;
        self.audit_change("client.add-key", client_id, Some(fingerprint.to_string()))
            .await;
        Ok(())
    }

    /// Transfer keys registered for one client (or all clients).
    pub async fn client_transfer_keys(
        &self,
        client_id: Option<&str>,
    ) -> Result<Vec<keyway_store::ClientKeyRecord>, AdminError> {
        Ok(self.store.client_keys(client_id).await?)
    }

    /// Rotates the signing key now (`keyway keys rotate`): the published next key signs, a
    /// new next key is published. The key id that now signs.
    pub async fn rotate_signing_key(&self) -> Result<String, AdminError> {
        let now = self.clock.now_secs();
        let kid = self
            .keys
            .rotate(
                &self.store,
                self.config.signing_alg,
                now,
                self.config.longest_token_lifetime(),
                self.require_key_sealer()?,
            )
            .await?;
        self.audit_change("keys.rotate", &kid, None).await;
        Ok(kid)
    }

    /// Validates a JWK Set file before it is attached to a client.
    pub fn check_jwks(text: &str) -> Result<usize, AdminError> {
        parse_jwks(text).map(|keys| keys.len())
    }
}

/// A validated registration as the store keeps it.
struct StoredFields {
    name: String,
    grant_types: String,
    scope: String,
    redirect_uris: String,
}

impl StoredFields {
    fn of(client: &NewClient, grants: &[crate::GrantType]) -> Result<StoredFields, AdminError> {
        let scope = crate::ScopeSet::parse(&client.scope)
            .map_err(|e| AdminError::Invalid(e.description))?;
        Ok(StoredFields {
            name: client.name.trim().to_string(),
            grant_types: grants
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            scope: scope.to_string(),
            redirect_uris: serde_json::to_string(&client.redirect_uris)
                .map_err(|e| AdminError::Invalid(e.to_string()))?,
        })
    }
}

/// What a client's sealed signing secret is bound to: a value copied to another client's row
/// does not open there.
pub(crate) fn signing_secret_context(client_id: &str) -> String {
    format!("signing secret of client {client_id}")
}

/// The members of a client's registration that differ between two readings, by name.
fn changed_fields(before: &ClientInfo, after: &ClientInfo) -> Vec<String> {
    let (Ok(serde_json::Value::Object(before)), Ok(serde_json::Value::Object(after))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = after
        .iter()
        .filter(|(name, value)| before.get(*name) != Some(*value))
        .map(|(name, _)| name.clone())
        .chain(before.keys().filter(|n| !after.contains_key(*n)).cloned())
        .collect();
    names.sort();
    names
}
