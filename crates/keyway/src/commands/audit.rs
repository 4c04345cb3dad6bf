//! `keyway audit`: the audit log, oldest first.

use keyway_kernel::rfc3339;

use super::{open_service, print_json};
use crate::cli::AuditArgs;
use crate::settings::Settings;

pub(crate) async fn run(settings: Settings, args: AuditArgs) -> anyhow::Result<()> {
    if !(1..=100_000).contains(&args.limit) {
        anyhow::bail!("--limit {}: give 1 to 100000", args.limit);
    }
    let service = open_service(&settings).await?;
    let now_ms = service.clock().now_ms();
    let since = match args.since.as_deref() {
        Some(text) => since_ms(text, now_ms)?,
        None => 0,
    };
    let events = service.latest_audit_events(since, args.limit).await?;
    if args.json.json {
        print_json(&events)?;
    } else if events.is_empty() {
        println!(
            "no audit entries{}",
            if args.since.is_some() {
                " since then"
            } else {
                ""
            }
        );
    } else {
        // People read names: clients and users are shown by name beside their ids.
        let clients = super::client::client_names(&service).await?;
        let users: std::collections::HashMap<String, String> = service
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.user_id, u.username))
            .collect();
        for event in &events {
            let e = &event.entry;
            let actor = clients.get(&e.actor).unwrap_or(&e.actor);
            let target = e
                .target
                .as_ref()
                .map(|t| clients.get(t).unwrap_or(t).clone());
            let user = e.user_id.as_ref().map(|u| match users.get(u) {
                Some(name) => format!("{name} ({u})"),
                None => u.clone(),
            });
            let mut line = format!(
                "{} {:<8} {:<20} {}",
                super::when(e.at_ms.div_euclid(1000)),
                e.outcome,
                e.action,
                actor
            );
            if e.occurrences > 1 {
                line.push_str(&format!(" ×{}", e.occurrences));
            }
            for (label, value) in [
                ("target", &target),
                ("user", &user),
                ("rule", &e.rule),
                ("why", &e.reason),
            ] {
                if let Some(value) = value {
                    line.push_str(&format!(" {label}={value:?}"));
                }
            }
            println!("{line}");
        }
    }
    service.store().close().await;
    Ok(())
}

/// `--since`: an RFC 3339 time, a date (midnight UTC), or an age such as `15m` or `7d`.
fn since_ms(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let unit = match text.chars().last() {
        Some('s') => Some(1_000),
        Some('m') => Some(60_000),
        Some('h') => Some(3_600_000),
        Some('d') => Some(86_400_000),
        _ => None,
    };
    if let Some(unit) = unit
        && let Ok(count) = text[..text.len() - 1].parse::<i64>()
        && (0..=36_500 * 86_400).contains(&count)
    {
        return Ok(now_ms - count * unit);
    }
    if let Ok(stamp) = rfc3339::parse_date_time(text) {
        return Ok(stamp.unix_ms);
    }
    if rfc3339::parse_date(text).is_ok()
        && let Ok(stamp) = rfc3339::parse_date_time(&format!("{text}T00:00:00Z"))
    {
        return Ok(stamp.unix_ms);
    }
    anyhow::bail!(
        "--since {text:?}: give a time (2026-12-05T10:00:00Z), a date (2026-12-05) or an age \
         (90s, 15m, 2h, 7d)"
    )
}

#[cfg(test)]
mod tests {
    use super::since_ms;

    #[test]
    fn since_takes_times_dates_and_ages() {
        let now = 1_800_000_000_000;
        assert_eq!(since_ms("15m", now).unwrap(), now - 900_000);
        assert_eq!(since_ms("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(since_ms("1970-01-02", now).unwrap(), 86_400_000);
        assert_eq!(since_ms("1970-01-01T00:00:01Z", now).unwrap(), 1_000);
        for bad in ["yesterday", "-5m", "5x", "", "2026-13-01"] {
            let err = since_ms(bad, now).unwrap_err().to_string();
            assert!(err.contains("--since"), "{bad}: {err}");
        }
    }
}
