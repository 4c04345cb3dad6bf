//! `keyway group …`: groups of users; `keyway-admins` holds the hub's administrators.

use super::{open_service, print_json, when};
use crate::cli::GroupCommand;
use crate::settings::Settings;

pub(crate) async fn run(settings: Settings, command: GroupCommand) -> anyhow::Result<()> {
    let service = open_service(&settings).await?;
    match command {
        GroupCommand::Create { name, json } => {
            let group = service.create_group(&name).await?;
            if json.json {
                print_json(&group)?;
            } else {
                println!("created group {}", group.name);
            }
        }
        GroupCommand::Delete { name } => {
            service.delete_group(&name).await?;
            println!("deleted group {name}");
        }
        GroupCommand::List(flag) => {
            let groups = service.list_groups().await?;
            if flag.json {
                print_json(&groups)?;
            } else if groups.is_empty() {
                println!(
                    "no groups (keyway group create NAME; keyway group add keyway-admins USER)"
                );
            } else {
                println!("{:<24} {:<8} MEMBERS", "GROUP", "COUNT");
                for g in groups {
                    println!(
                        "{:<24} {:<8} {}",
                        g.name,
                        g.members.len(),
                        g.members.join(" ")
                    );
                }
            }
        }
        GroupCommand::Show { name, json } => {
            let group = service.show_group(&name).await?;
            if json.json {
                print_json(&group)?;
            } else {
                println!("group:    {}", group.name);
                println!("members:  {}", group.members.join(" "));
                println!("scopes:   {}", service.group_scopes(&name).await?.join(" "));
                println!("created:  {}", when(group.created_at));
            }
        }
        GroupCommand::Add { group, username } => {
            if service.add_group_member(&group, &username).await? {
                println!("added {username} to {group}");
            } else {
                println!("{username} is in {group} already");
            }
        }
        GroupCommand::Grant { group, scope } => {
            service.grant_group_scopes(&group, &scope).await?;
            println!("granted {scope} to the members of {group}");
        }
        GroupCommand::Revoke { group, scope } => {
            let removed = service.revoke_group_scopes(&group, &scope).await?;
            println!("took {removed} scope(s) from {group}");
        }
        GroupCommand::Remove { group, username } => {
            if service.remove_group_member(&group, &username).await? {
                println!("removed {username} from {group}");
            } else {
                anyhow::bail!("{username} is not in {group} (keyway group show {group})");
            }
        }
    }
    Ok(())
}
