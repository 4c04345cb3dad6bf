pub(crate) mod client;
pub(crate) mod data;
pub(crate) mod data_export;
pub(crate) mod keys;
pub(crate) mod link;
pub(crate) mod link_admin;
pub(crate) mod link_strict;
pub(crate) mod link_submit;
pub(crate) mod link_submit_read;
pub(crate) mod serve;
pub(crate) mod transfer;
pub(crate) mod user;

use std::sync::Arc;

use keyway_auth::{AuthService, SystemClock, SystemEntropy};
use keyway_store::Store;

use crate::settings::Settings;

/// Opens the hub's store and authorization service for an admin command.
pub(crate) async fn open_service(settings: &Settings) -> anyhow::Result<AuthService> {
    keyway_auth::create_data_dir(&settings.data_dir)?;
    let store = Store::open(&settings.database).await?;
    let config = settings.auth_config(&settings.listen)?;
    Ok(AuthService::start(
        store,
        config,
        &settings.data_dir,
        Arc::new(SystemClock),
        Arc::new(SystemEntropy::default()),
    )
    .await?)
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
