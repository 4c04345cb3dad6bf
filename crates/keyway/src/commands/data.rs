//! `keyway data …`: schema files for the data API.

use keyway_data::{Entity, SchemaSet};
use serde_json::{Value, json};

use super::print_json;
use crate::cli::DataCommand;

pub(crate) fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Check { file, json } => {
            let set = SchemaSet::load(&file)?;
            if json.json {
                print_json(
                    &json!({ "valid": true, "entities": set.entities().map(|e| e.name.clone()).collect::<Vec<_>>() }),
                )?;
            } else {
                let names: Vec<&str> = set.entities().map(|e| e.name.as_str()).collect();
                println!(
                    "{}: valid, {} entities ({})",
                    file.display(),
                    set.len(),
                    names.join(", ")
                );
            }
        }
        DataCommand::Schemas { file, json } => {
            let set = SchemaSet::load(&file)?;
            if json.json {
                print_json(&set.entities().map(describe).collect::<Vec<_>>())?;
            } else {
                for entity in set.entities() {
                    println!("{}  /api/{}", entity.name, entity.name);
                    println!("  read:  {}", entity.scopes_to_read().join(" | "));
                    println!("  write: {}", entity.scopes_to_write().join(" | "));
                    for p in &entity.properties {
                        let mut notes = Vec::new();
                        if p.required {
                            notes.push("required".to_string());
                        }
                        if p.filterable {
                            notes.push("indexed".to_string());
                        }
                        if let Some(scope) = &p.read_scope {
                            notes.push(format!("visible with {scope}"));
                        }
                        println!(
                            "  - {:<20} {:<10} {}",
                            p.name,
                            p.kind.as_str(),
                            notes.join(", ")
                        );
                    }
                }
            }
        }
        DataCommand::Export(_) => {
            anyhow::bail!("`keyway data export` needs the hub's settings (internal dispatch error)")
        }
    }
    Ok(())
}

fn describe(entity: &Entity) -> Value {
    json!({
        "name": entity.name,
        "groups": entity.groups,
        "read_scopes": entity.scopes_to_read(),
        "write_scopes": entity.scopes_to_write(),
        "properties": entity.properties.iter().map(|p| json!({
            "name": p.name,
            "type": p.kind.as_str(),
            "required": p.required,
            "filterable": p.filterable,
            "scope": p.read_scope,
        })).collect::<Vec<_>>(),
    })
}
