//! `keyway link partner|conflicts|stats`: the hub operator's side of record linkage.

use keyway_auth::{SystemEntropy, random_token};
use keyway_link::LinkService;
use serde_json::json;

use super::{open_service, print_json, when};
use crate::cli::{Admin, LinkCommand, LinkStatsArgs};
use crate::cli_link::LinkPartnerCommand;
use crate::settings::Settings;

pub(crate) async fn run(settings: Settings, command: LinkCommand) -> anyhow::Result<()> {
    let service = open_service(&settings).await?;
    // Partners, conflicts and statistics do not use the link key: one of this process's own
    // keeps the command working before the hub's first start (no master key yet).
    let link = LinkService::open(
        service.store().clone(),
        random_token(&SystemEntropy::default(), 32).as_bytes(),
    )
    .await?;
    match command {
        LinkCommand::Partner(Admin {
            command: LinkPartnerCommand::Create(args),
            ..
        }) => {
            // The client must exist; a partner is attributed everything its client submits.
            let client = service.show_client(&args.client_id).await?;
            if !client.scope.split(' ').any(|s| s == "link:submit") {
                eprintln!(
                    "warning: client {} lacks the scope link:submit; it cannot submit yet",
                    client.client_id
                );
            }
            let now = service.clock().now_ms();
            let partner = link
                .create_partner(&args.code, &args.client_id, now)
                .await?;
            if args.json.json {
                print_json(&json!({
                    "code": partner.code,
                    "client_id": partner.client_id,
                    "created_at": partner.created_at / 1000,
                }))?;
            } else {
                println!(
                    "partner {} bound to client {}",
                    partner.code, partner.client_id
                );
            }
        }
        LinkCommand::Partner(Admin {
            command: LinkPartnerCommand::List(flag),
            ..
        }) => {
            let partners = link.partners().await?;
            if flag.json {
                let list: Vec<_> = partners
                    .iter()
                    .map(|p| json!({"code": p.code, "client_id": p.client_id, "created_at": p.created_at / 1000}))
                    .collect();
                print_json(&list)?;
            } else if partners.is_empty() {
                println!("no partners yet: keyway link partner create --code CODE --client ID");
            } else {
                println!("{:<12} {:<28} CREATED", "CODE", "CLIENT_ID");
                for p in partners {
                    println!(
                        "{:<12} {:<28} {}",
                        p.code,
                        p.client_id,
                        when(p.created_at / 1000)
                    );
                }
            }
        }
        LinkCommand::Conflicts(args) => {
            let rows = link
                .conflicts(args.after, args.limit.clamp(1, 100_000))
                .await?;
            if args.json.json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        json!({
                            "seq": r.seq,
                            "partner": r.partner,
                            "patid": r.patid,
                            "chosen_uuid": r.chosen_uuid,
                            "candidates": serde_json::from_str::<serde_json::Value>(&r.candidates)
                                .unwrap_or_default(),
                            "reason": r.reason,
                            "created_at": r.created_at / 1000,
                        })
                    })
                    .collect();
                print_json(&list)?;
            } else if rows.is_empty() {
                println!("no conflicts");
            } else {
                for r in rows {
                    println!(
                        "#{} {} {} -> {}\n    {}\n    candidates {}",
                        r.seq, r.partner, r.patid, r.chosen_uuid, r.reason, r.candidates
                    );
                }
            }
        }
        LinkCommand::Stats(LinkStatsArgs { json: flag, .. }) => {
            let s = link.stats().await?;
            if flag.json {
                let per: Vec<_> = s
                    .per_partner
                    .iter()
                    .map(|(code, records, collisions, conflicts)| {
                        json!({"partner": code, "records": records, "collisions": collisions, "conflicts": conflicts})
                    })
                    .collect();
                print_json(&json!({
                    "partners": s.partners,
                    "records": s.records,
                    "persons": s.persons,
                    "conflicts": s.conflicts,
                    "per_partner": per,
                }))?;
            } else {
                println!(
                    "partners {}  records {}  persons {}  conflicts {}",
                    s.partners, s.records, s.persons, s.conflicts
                );
                for (code, records, collisions, conflicts) in s.per_partner {
                    println!(
                        "  {code:<12} records {records:<10} collisions {collisions:<8} conflicts {conflicts}"
                    );
                }
            }
        }
        LinkCommand::Hash(_) | LinkCommand::Submit(_) => {
            anyhow::bail!("this command runs without the hub's store")
        }
    }
    Ok(())
}
