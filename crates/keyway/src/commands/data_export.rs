//! `keyway data export ENTITY`: the operator's NDJSON dump of one entity.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use keyway_data::{DataService, SchemaSet, table_name};

use super::link::AtomicFile;
use crate::cli::{DataCommand, DataExportArgs};
use crate::settings::Settings;

/// Rows fetched per query: large enough to amortise the round trip, small enough to keep
/// memory flat on tables of any size.
const PAGE: u32 = 2000;

pub(crate) async fn run(settings: Settings, command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Export(args) => export(settings, args).await,
        other => super::data::run(other),
    }
}

async fn export(settings: Settings, args: DataExportArgs) -> anyhow::Result<()> {
    let path = args
        .schemas
        .clone()
        .or_else(|| settings.file.schemas.clone())
        .context("no schema file: pass --schemas FILE or set `schemas` in keyway.toml")?;
    let schemas = Arc::new(SchemaSet::load(&path)?);
    let entity = schemas.entity(&args.entity).with_context(|| {
        let names: Vec<&str> = schemas.entities().map(|e| e.name.as_str()).collect();
        format!(
            "{} declares no entity {:?} (it has: {})",
            path.display(),
            args.entity,
            names.join(", ")
        )
    })?;
    let store = super::open_store(&settings).await?;
    let table = table_name(entity);
    if store.table_columns(&table).await?.is_empty() {
        anyhow::bail!(
            "the store has no table {table} yet: start the hub once with --schemas {}",
            path.display()
        );
    }
    let name = entity.name.clone();
    // Export never creates items: ids and clocks are not needed.
    let service = DataService::new(
        store.clone(),
        schemas,
        Arc::new(|| 0),
        Arc::new(String::new),
    );
    let result = match &args.output {
        Some(dest) => {
            let mut file = AtomicFile::create(dest)?;
            let count = write_all(&service, &name, &args, file.writer()).await?;
            file.commit()?;
            eprintln!("exported {count} {name} items to {}", dest.display());
            Ok(())
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            write_all(&service, &name, &args, &mut out).await?;
            out.flush().context("cannot write to stdout")
        }
    };
    store.close().await;
    result
}

async fn write_all(
    service: &DataService,
    entity: &str,
    args: &DataExportArgs,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut after: Option<String> = None;
    let mut count = 0u64;
    loop {
        let page = service
            .export_page(entity, args.filter.as_deref(), after.as_deref(), PAGE)
            .await?;
        for item in &page.items {
            serde_json::to_writer(&mut *out, item)?;
            out.write_all(b"\n")?;
            count += 1;
        }
        match page.next_after {
            Some(id) => after = Some(id),
            None => return Ok(count),
        }
    }
}
