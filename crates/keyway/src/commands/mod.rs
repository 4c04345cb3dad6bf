pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod client;
pub(crate) mod data;
pub(crate) mod data_export;
pub(crate) mod group;
pub(crate) mod keys;
pub(crate) mod link;
pub(crate) mod link_admin;
pub(crate) mod link_strict;
pub(crate) mod link_submit;
pub(crate) mod link_submit_read;
pub(crate) mod restore;
pub(crate) mod serve;
pub(crate) mod shell_help;
pub(crate) mod store_marker;
pub(crate) mod transfer;
pub(crate) mod user;

use std::sync::Arc;

use anyhow::Context;
use keyway_auth::{AuthService, SystemClock, SystemEntropy};
use keyway_store::{Store, StoreError};

use crate::settings::Settings;

/// Opens the hub's store for an admin command. Only `keyway serve` creates a store: run from
/// the wrong directory, a command must say where it looked, not make an empty one there.
pub(crate) async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    match Store::open_existing(&settings.database).await {
        Ok(store) => Ok(store),
        Err(StoreError::NotCreated(place)) => Err(anyhow::anyhow!(
            "no keyway store at {place} ({}). `keyway serve` creates the store on its first \
             start; other commands only use it. Point this command at the hub's: --data-dir \
             DIR, KEYWAY_DATA_DIR=DIR, --database URL or --config keyway.toml",
            settings.where_from()
        )),
        Err(err) => {
            Err(err).with_context(|| format!("cannot open the store {}", settings.shown_database()))
        }
    }
}

/// The store setting where `keyway serve` records the issuer it serves as.
pub(crate) const HUB_ISSUER: &str = "hub_issuer";

/// Opens the hub's store and authorization service for an admin command.
pub(crate) async fn open_service(settings: &Settings) -> anyhow::Result<AuthService> {
    let store = open_store(settings).await?;
    // Without --issuer, the admin commands speak for the issuer the hub last served as (it
    // records it at start), not for a default address the hub may not be on.
    let served_as = match &settings.issuer {
        Some(_) => None,
        None => store.setting(HUB_ISSUER).await?,
    };
    let mut config = settings.auth_config_as(&settings.listen, served_as.as_deref())?;
    // Only the hub makes its master key; a key made here would not be the hub's.
    config.create_master_key = false;
    let service = AuthService::start(
        store,
        config,
        &settings.data_dir,
        Arc::new(SystemClock),
        Arc::new(SystemEntropy::default()),
    )
    .await?;
    // Ending a user's sessions tells their clients (back-channel logout) before the command
    // returns; a client that cannot be reached is reported on stderr.
    let private_ca = match std::env::var_os("KEYWAY_CA_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| settings.file.ca_file.clone())
    {
        Some(path) => keyway_hub::read_ca_file(&path)?,
        None => Vec::new(),
    };
    let delivery = keyway_hub::HttpLogoutDelivery::new(false, &private_ca)?;
    Ok(service
        .with_logout_delivery(Arc::new(delivery))
        .with_admin_actor(admin_actor()))
}

/// How the audit log names whoever runs an admin command: `cli:` and the process's user (from
/// its uid, which the environment cannot change), with the name the environment claims beside
/// it when that differs (`sudo`, a shared account).
fn admin_actor() -> String {
    let os_user = process_user();
    let claimed = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
    let name = match (os_user, claimed) {
        (Some(os), Some(env)) if os != env => format!("{os} (USER={env})"),
        (Some(os), _) => os,
        (None, Some(env)) => format!("? (USER={env})"),
        (None, None) => "unknown".to_string(),
    };
    // The name is printed by `keyway audit`: no control characters.
    let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("cli:{name}")
}

/// The name of the process's real user: its uid (/proc/self/status) looked up in /etc/passwd.
fn process_user() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| format!("uid:{uid}")))
}

/// The command did its work but not all of it (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PartialSuccess(pub String);

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Formats a Unix time (seconds) as RFC 3339 UTC for people.
pub(crate) fn when(secs: i64) -> String {
    keyway_kernel::rfc3339::format_unix_secs(secs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::when(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::when(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
