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
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::when(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::when(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
