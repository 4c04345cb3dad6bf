//! Resolves the hub's settings: flags, then `KEYWAY_*` variables (both through clap), then the
//! configuration file, then defaults.

use std::path::{Path, PathBuf};

use anyhow::Context;
use keyway_auth::{AuthConfig, SigningAlg};
use serde::Deserialize;

use crate::cli::GlobalArgs;

/// `keyway.toml`. Unknown keys are refused so a typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub issuer: Option<String>,
    pub log_format: Option<String>,
    /// Schema file of the data API.
    pub schemas: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`ADDR` or `ADDR/PREFIX`).
    pub trusted_proxies: Option<Vec<String>>,
    /// The master key sealing secrets in the store (KEYWAY_MASTER_KEY_FILE overrides it);
    /// default: `master.key` in the data directory, made on first start.
    pub master_key_file: Option<PathBuf>,
    /// Serve https with this certificate chain and key (`--tls-cert`/`--tls-key` override).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A private CA trusted besides the public roots when the hub calls out (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Threads serving connections (`--workers`); default: one per CPU. Wider than the
    /// range so that `workers = 70000` or `-3` get the range named, not a type.
    pub workers: Option<i64>,
    #[serde(default)]
    pub oauth: OAuthFileConfig,
    #[serde(default)]
    pub link: LinkFileConfig,
    #[serde(default)]
    pub login: LoginFileConfig,
    #[serde(default)]
    pub audit: AuditFileConfig,
    #[serde(default)]
    pub gateway: GatewayFileConfig,
    #[serde(default)]
    pub data: DataFileConfig,
}

/// `[data]`: the data API (`/api/…`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataFileConfig {
    /// Rows per page of a collection (server-driven paging; default 1,000).
    pub page_size: Option<u32>,
}

impl DataFileConfig {
    pub(crate) fn page_size(&self) -> anyhow::Result<Option<u32>> {
        match self.page_size {
            Some(size) if !(1..=100_000).contains(&size) => {
                anyhow::bail!("keyway.toml [data] page_size = {size}: give 1 to 100000 rows")
            }
            other => Ok(other),
        }
    }
}

/// `[gateway]`: limits of the platform gateway (`/gateway/{client}/…`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayFileConfig {
    /// Request and response bodies, each (default 16 MiB).
    pub max_body_bytes: Option<u64>,
    /// Connecting to a client's API (default 2,000 ms).
    pub connect_timeout_ms: Option<u64>,
    /// Until a client's API has sent its response head (default 30,000 ms).
    pub response_timeout_ms: Option<u64>,
}

impl GatewayFileConfig {
    pub(crate) fn options(&self) -> anyhow::Result<keyway_hub::GatewayOptions> {
        let mut options = keyway_hub::GatewayOptions::default();
        if let Some(bytes) = self.max_body_bytes {
            if !(1..=(1 << 40)).contains(&bytes) {
                anyhow::bail!("keyway.toml [gateway] max_body_bytes = {bytes}: give 1 to 2^40");
            }
            options.max_body_bytes = bytes;
        }
        for (name, value, slot) in [
            (
                "connect_timeout_ms",
                self.connect_timeout_ms,
                &mut options.connect_timeout,
            ),
            (
                "response_timeout_ms",
                self.response_timeout_ms,
                &mut options.response_timeout,
            ),
        ] {
            if let Some(ms) = value {
                if !(1..=600_000).contains(&ms) {
                    anyhow::bail!("keyway.toml [gateway] {name} = {ms}: give 1 to 600000 ms");
                }
                *slot = std::time::Duration::from_millis(ms);
            }
        }
        Ok(options)
    }
}

/// `[audit]`: how long the audit log keeps its entries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditFileConfig {
    /// Entries older than this many days are deleted (default 365).
    pub retention_days: Option<i64>,
}

/// `[login]`: how people sign in besides the hub's own passwords.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginFileConfig {
    /// `[[login.upstream]]`: upstream OpenID Connect providers.
    #[serde(default)]
    pub upstream: Vec<UpstreamFileConfig>,
    /// Every password sign-in needs a second factor (a TOTP code).
    #[serde(default)]
    pub require_mfa: bool,
}

/// One `[[login.upstream]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpstreamFileConfig {
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (0600: refused when others may read it).
    pub client_secret_file: PathBuf,
    #[serde(default = "default_scopes")]
    pub scopes: String,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// `auto` or `link-only` (the default: nobody gets in unless an admin linked them).
    #[serde(default = "default_provision")]
    pub provision: String,
}

fn default_scopes() -> String {
    "openid profile email".into()
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

fn default_provision() -> String {
    "link-only".into()
}

impl LoginFileConfig {
    /// The configured providers, each checked and its secret read; errors name the file, the
    /// entry and the key.
    pub(crate) fn providers(
        &self,
        file: &Path,
    ) -> anyhow::Result<Vec<keyway_auth::UpstreamProvider>> {
        let mut providers: Vec<keyway_auth::UpstreamProvider> = Vec::new();
        for (i, entry) in self.upstream.iter().enumerate() {
            let place = format!(
                "{}: [[login.upstream]] entry {} (name {:?})",
                file.display(),
                i + 1,
                entry.name
            );
            if providers.iter().any(|p| p.name == entry.name) {
                anyhow::bail!("{place}: name is used by another entry; names must be unique");
            }
            let provision = keyway_auth::Provision::parse(&entry.provision).with_context(|| {
                format!(
                    "{place}: provision {:?}: use \"auto\" or \"link-only\"",
                    entry.provision
                )
            })?;
            // Checked before the secret is read, so a bad name is reported as such.
            if !keyway_auth::valid_login_type_name(&entry.name) || entry.name == "all" {
                anyhow::bail!(
                    "{place}: name must match [a-z0-9_-]{{1,32}} and not be \"all\" (it is \
                     the value of type= and of --login-types)"
                );
            }
            // A relative path is relative to the configuration file, wherever serve runs.
            let secret_file = file
                .parent()
                .unwrap_or(Path::new("."))
                .join(&entry.client_secret_file);
            let secret = keyway_kernel::read_private_file(&secret_file).with_context(|| {
                format!("{place}: client_secret_file {}", secret_file.display())
            })?;
            let secret = String::from_utf8(secret)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|_| anyhow::anyhow!("{place}: client_secret_file is not UTF-8 text"))?;
            let provider = keyway_auth::UpstreamProvider {
                name: entry.name.clone(),
                display_name: entry.display_name.clone(),
                issuer: entry.issuer.clone(),
                client_id: entry.client_id.clone(),
                client_secret: keyway_auth::SecretString::new(secret),
                scopes: entry.scopes.clone(),
                username_claim: entry.username_claim.clone(),
                provision,
            };
            provider
                .validate()
                .map_err(|e| anyhow::anyhow!("{place}: {e}"))?;
            providers.push(provider);
        }
        Ok(providers)
    }
}

/// `[link]`: the hub's record linker.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkFileConfig {
    /// Rules in the order that settles conflicts (rules left out come last).
    pub rule_priority: Option<Vec<String>>,
}

impl LinkFileConfig {
    /// The configured priority, each name checked (`None`: the linker's default).
    pub(crate) fn priority(&self) -> anyhow::Result<Option<Vec<keyway_link::Rule>>> {
        let Some(names) = &self.rule_priority else {
            return Ok(None);
        };
        let mut rules = Vec::with_capacity(names.len());
        for name in names {
            let rule = keyway_link::Rule::parse(name)
                .with_context(|| format!("keyway.toml [link] rule_priority: {name:?}"))?;
            if rules.contains(&rule) {
                anyhow::bail!("keyway.toml [link] rule_priority: {name:?} is listed twice");
            }
            rules.push(rule);
        }
        Ok(Some(rules))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OAuthFileConfig {
    pub access_token_ttl: Option<i64>,
    pub id_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub code_ttl: Option<i64>,
    pub login_session_ttl: Option<i64>,
    pub refresh_grace_ms: Option<i64>,
    pub signing_alg: Option<String>,
    pub key_rotation_interval: Option<i64>,
    pub default_audience: Option<String>,
    /// Every authorization request must be pushed first (RFC 9126).
    pub require_pushed_authorization_requests: Option<bool>,
    /// DPoP proofs must carry a nonce from the hub's `DPoP-Nonce` header (RFC 9449 §8).
    pub require_dpop_nonce: Option<bool>,
    /// Scopes users must hold to get them (exact names or `prefix*`).
    pub user_granted_scopes: Option<Vec<String>>,
}

/// Everything a command needs to reach the hub's store.
#[derive(Debug)]
pub(crate) struct Settings {
    pub data_dir: PathBuf,
    pub database: String,
    pub listen: String,
    pub issuer: Option<String>,
    pub log_format: String,
    pub file: FileConfig,
    /// The configuration file, if one was given (so what it lacks is known to be absent).
    pub config_path: Option<PathBuf>,
    /// Which setting chose the store, for errors that must say where a command looked.
    pub store_source: StoreSource,
    /// `--master-key-file` / `KEYWAY_MASTER_KEY_FILE` (empty: not given).
    pub master_key_file: Option<PathBuf>,
    /// `keyway serve` over TLS: the default issuer is https.
    pub serves_tls: bool,
}

/// Which setting chose the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreSource {
    /// `--database` or `KEYWAY_DATABASE`.
    DatabaseArg,
    /// `--data-dir` or `KEYWAY_DATA_DIR`.
    DataDirArg,
    /// `database` or `data_dir` in the configuration file.
    ConfigFile(PathBuf),
    /// Nothing was set: `./keyway-data`.
    Default,
}

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Settings {
    pub(crate) fn resolve(args: &GlobalArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let config_path = || StoreSource::ConfigFile(args.config.clone().unwrap_or_default());
        let store_source = if args.database.is_some() {
            StoreSource::DatabaseArg
        } else if file.database.is_some() {
            config_path()
        } else if args.data_dir.is_some() {
            StoreSource::DataDirArg
        } else if file.data_dir.is_some() {
            config_path()
        } else {
            StoreSource::Default
        };
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("keyway-data"));
        let database = args
            .database
            .clone()
            .or_else(|| file.database.clone())
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("keyway.db").display()));
        Ok(Settings {
            listen: file.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into()),
            issuer: args.issuer.clone().or_else(|| file.issuer.clone()),
            log_format: args
                .log_format
                .clone()
                .or_else(|| file.log_format.clone())
                .unwrap_or_else(|| "text".into()),
            data_dir,
            database,
            file,
            config_path: args.config.clone(),
            store_source,
            master_key_file: args
                .master_key_file
                .clone()
                .filter(|path| !path.as_os_str().is_empty()),
            serves_tls: false,
        })
    }

    /// Where the store's place came from, with the directory it is relative to.
    pub(crate) fn where_from(&self) -> String {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| "?".into());
        match &self.store_source {
            StoreSource::DatabaseArg => "from --database / KEYWAY_DATABASE".into(),
            StoreSource::DataDirArg => {
                format!("the data directory from --data-dir / KEYWAY_DATA_DIR, in {cwd}")
            }
            StoreSource::ConfigFile(path) => format!("as set in {}", path.display()),
            StoreSource::Default => {
                format!("the default data directory ./keyway-data of the current directory {cwd}")
            }
        }
    }

    /// The database URL without a password, fit to print.
    pub(crate) fn shown_database(&self) -> String {
        keyway_store::redact_url(&self.database)
    }

    /// The OAuth policy: defaults, overridden by the file's `[oauth]` table.
    pub(crate) fn auth_config(&self, listen: &str) -> anyhow::Result<AuthConfig> {
        self.auth_config_as(listen, None)
    }

    /// As [`Settings::auth_config`]; without a configured issuer, `served_as` (the issuer the
    /// running hub recorded) comes before `http://LISTEN`.
    pub(crate) fn auth_config_as(
        &self,
        listen: &str,
        served_as: Option<&str>,
    ) -> anyhow::Result<AuthConfig> {
        let issuer = self
            .issuer
            .clone()
            .or_else(|| served_as.map(str::to_string))
            .unwrap_or_else(|| {
                let scheme = if self.serves_tls { "https" } else { "http" };
                format!("{scheme}://{listen}")
            });
        let mut config = AuthConfig::new(&issuer);
        config.master_key_file = self
            .master_key_file
            .clone()
            .or_else(|| self.file.master_key_file.clone());
        config.require_mfa = self.file.login.require_mfa;
        if let Some(days) = self.file.audit.retention_days {
            if !(1..=36_500).contains(&days) {
                anyhow::bail!("keyway.toml [audit] retention_days = {days}: give 1 to 36500 days");
            }
            config.audit_retention = days * 24 * 3600;
        }
        let o = &self.file.oauth;
        let set = |target: &mut i64, value: Option<i64>| {
            if let Some(v) = value {
                *target = v;
            }
        };
        set(&mut config.access_token_ttl, o.access_token_ttl);
        set(&mut config.id_token_ttl, o.id_token_ttl);
        set(&mut config.refresh_token_ttl, o.refresh_token_ttl);
        set(&mut config.code_ttl, o.code_ttl);
        set(&mut config.login_session_ttl, o.login_session_ttl);
        set(&mut config.refresh_grace_ms, o.refresh_grace_ms);
        set(&mut config.key_rotation_interval, o.key_rotation_interval);
        if let Some(alg) = &o.signing_alg {
            config.signing_alg = SigningAlg::parse(alg)
                .with_context(|| format!("oauth.signing_alg {alg:?}: use EdDSA or ES256"))?;
        }
        if let Some(required) = o.require_pushed_authorization_requests {
            config.require_pushed_requests = required;
        }
        if let Some(required) = o.require_dpop_nonce {
            config.require_dpop_nonce = required;
        }
        if let Some(patterns) = &o.user_granted_scopes {
            for pattern in patterns {
                let name = pattern.strip_suffix('*').unwrap_or(pattern);
                if name.is_empty()
                    || name.contains('*')
                    || keyway_auth::ScopeSet::parse(name).map_or(true, |s| s.iter().count() != 1)
                {
                    anyhow::bail!(
                        "oauth.user_granted_scopes {pattern:?}: a scope name, or a prefix ending \
                         in * (contact.*)"
                    );
                }
            }
            config.user_granted_scopes = patterns.clone();
        }
        if let Some(aud) = &o.default_audience {
            config.default_audience = aud.clone();
        }
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        Ok(config)
    }
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> GlobalArgs {
        GlobalArgs::default()
    }

    #[test]
    fn link_rule_priority_names_are_checked() {
        let parse = |text: &str| toml::from_str::<FileConfig>(text).unwrap().link.priority();
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(
            parse("[link]\nrule_priority = [\"f_l_d_r\", \"F_L_D_S\"]").unwrap(),
            Some(vec![keyway_link::Rule::FLDR, keyway_link::Rule::FLDS])
        );
        let unknown = parse("[link]\nrule_priority = [\"F_L\"]").unwrap_err();
        assert!(
            format!("{unknown:#}").contains("rule_priority: \"F_L\""),
            "{unknown:#}"
        );
        let twice = parse("[link]\nrule_priority = [\"F_L_D_R\", \"f_l_d_r\"]").unwrap_err();
        assert!(twice.to_string().contains("twice"));
    }

    #[test]
    fn defaults_put_sqlite_in_the_data_dir() {
        let s = Settings::resolve(&args()).unwrap();
        assert_eq!(s.database, "sqlite://keyway-data/keyway.db");
        assert_eq!(s.listen, DEFAULT_LISTEN);
        let config = s.auth_config(&s.listen).unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:8080");
    }

    #[test]
    fn flags_override_the_file_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyway.toml");
        std::fs::write(
            &path,
            "data_dir = \"/from/file\"\ndatabase = \"sqlite://f.db\"\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        a.database = Some("postgres://flag/db".into());
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.database, "postgres://flag/db");

        std::fs::write(&path, "data_dri = \"typo\"\n").unwrap();
        assert!(Settings::resolve(&a).is_err());
    }
    /// `[[login.upstream]]` mistakes stop `serve`, naming the file, the entry and the key.
    #[test]
    fn upstream_entries_are_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("corp.secret");
        keyway_kernel::write_private_file(dir.path(), &secret, b"s3cret\n").unwrap();
        let entry = |name: &str, issuer: &str| {
            format!(
                "[[login.upstream]]\nname = \"{name}\"\ndisplay_name = \"Corp\"\nissuer = \
                 \"{issuer}\"\nclient_id = \"keyway\"\nclient_secret_file = \"{}\"\n",
                secret.display()
            )
        };
        let file = Path::new("/etc/keyway.toml");
        let load = |text: &str| {
            toml::from_str::<FileConfig>(text)
                .map_err(anyhow::Error::from)
                .and_then(|f| f.login.providers(file))
        };
        let good = load(&entry("corp", "https://idp.example.com")).unwrap();
        assert_eq!(good[0].client_secret.expose(), "s3cret");
        assert_eq!(good[0].provision, keyway_auth::Provision::LinkOnly);
        let cases = [
            (entry("Corp", "https://idp.example.com"), "[a-z0-9_-]"),
            (entry("password", "https://idp.example.com"), "password"),
            (entry("corp", "http://idp.example.com"), "loopback"),
            (
                entry("corp", "https://a.example") + &entry("corp", "https://b.example"),
                "unique",
            ),
            (
                entry("corp", "https://idp.example.com") + "provision = \"sometimes\"\n",
                "provision",
            ),
        ];
        for (text, why) in cases {
            let err = format!("{:#}", load(&text).unwrap_err());
            assert!(
                err.contains("/etc/keyway.toml: [[login.upstream]] entry"),
                "{err}"
            );
            assert!(err.contains(why), "{why}: {err}");
        }
        let unknown = toml::from_str::<FileConfig>(&(entry("corp", "https://x") + "colour = 1\n"));
        assert!(unknown.unwrap_err().to_string().contains("colour"));
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = format!(
            "{:#}",
            load(&entry("corp", "https://x.example")).unwrap_err()
        );
        assert!(err.contains("client_secret_file"), "{err}");
        std::fs::remove_file(&secret).unwrap();
        let err = format!(
            "{:#}",
            load(&entry("corp", "https://x.example")).unwrap_err()
        );
        assert!(err.contains("client_secret_file"), "{err}");
    }
}
