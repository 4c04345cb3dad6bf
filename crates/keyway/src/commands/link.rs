//! `keyway link …`: the partner side of record linkage.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use keyway_link::{ColumnMap, HashJob, HashKey, Rule, hash_csv};
use zeroize::Zeroizing;

use super::{PartialSuccess, print_json};
use crate::cli::{LinkCommand, LinkHashArgs};

/// The partner-side commands (no hub store needed).
pub(crate) async fn run(command: LinkCommand) -> anyhow::Result<()> {
    match command {
        LinkCommand::Hash(args) => hash(args),
        LinkCommand::Submit(args) => super::link_submit::run(args).await,
        other => anyhow::bail!("{other:?} needs the hub's store"),
    }
}

/// A file written under a temporary name and renamed into place only when complete.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub(crate) fn create(dest: &Path) -> anyhow::Result<AtomicFile> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub(crate) fn writer(&mut self) -> &mut BufWriter<File> {
        #[allow(clippy::expect_used)] // present until commit() consumes self
        self.writer.as_mut().expect("file is open")
    }

    pub(crate) fn commit(mut self) -> anyhow::Result<()> {
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
        }
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot move output into {}", self.dest.display()))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn read_secret(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    // A linkage key others can read is refused, not warned about: it is the partner's secret.
    let mut bytes =
        Zeroizing::new(keyway_kernel::read_private_file(path).context("--secret-file")?);
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.len() < 16 {
        anyhow::bail!("the secret in {} is shorter than 16 bytes", path.display());
    }
    Ok(bytes)
}

fn hash(args: LinkHashArgs) -> anyhow::Result<()> {
    let key = match (&args.secret_file, &args.salt) {
        (Some(path), _) => HashKey::Secret(read_secret(path)?),
        (None, salt) => HashKey::Salt(salt.clone().unwrap_or_default()),
    };
    let job = HashJob {
        rules: Rule::parse_list(&args.rules)?,
        key,
        columns: ColumnMap::parse(&args.columns)?,
        strict: args.strict,
    };
    let input =
        File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if args.quiet || args.json.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(size);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} hashing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    };
    let mut output = AtomicFile::create(&args.output)?;
    let mut errors = match &args.errors {
        Some(path) => Some(AtomicFile::create(path)?),
        None => None,
    };
    let summary = {
        let errors_writer = errors.as_mut().map(|e| e.writer() as &mut dyn Write);
        hash_csv(
            &job,
            BufReader::with_capacity(1 << 20, input),
            output.writer(),
            errors_writer,
            &mut |bytes| bar.set_position(bytes),
        )?
    };
    bar.finish_and_clear();
    output.commit()?;
    if let Some(errors) = errors {
        errors.commit()?;
    }
    if args.json.json {
        print_json(&summary)?;
    } else if !args.quiet {
        eprintln!(
            "hashed {} of {} rows into {} ({} rejected, {} rule cells left empty)",
            summary.written,
            summary.rows,
            args.output.display(),
            summary.rejected,
            summary.skipped_cells
        );
    }
    if summary.rejected > 0 {
        let report = match &args.errors {
            Some(path) => format!("see {}", path.display()),
            None => "use --errors FILE for the list".into(),
        };
        return Err(PartialSuccess(match summary.rejected {
            1 => format!("1 row was rejected; {report}"),
            n => format!("{n} rows were rejected; {report}"),
        })
        .into());
    }
    Ok(())
}
