//! `keyway link submit`: send a hash file to the hub in batches and write the links it answers.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use zeroize::Zeroizing;

use super::link::AtomicFile;
use super::{PartialSuccess, print_json};
use crate::cli_link::LinkSubmitArgs;

/// Why one attempt at a batch failed, and whether trying again may help.
enum Failure {
    Retry(String),
    Token,
    Fatal(anyhow::Error),
}

struct Client {
    http: reqwest::Client,
    hub: String,
    client_id: String,
    secret: Zeroizing<String>,
    token: Option<String>,
}

impl Client {
    async fn token(&mut self) -> anyhow::Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.hub))
            .basic_auth(&self.client_id, Some(self.secret.as_str()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "link:submit"),
            ])
            .send()
            .await
            .map_err(|err| unreachable_hub(&self.hub, err))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let Some(token) = body["access_token"]
            .as_str()
            .filter(|_| status.is_success())
        else {
            anyhow::bail!("the hub refused the client credentials ({status}): {body}");
        };
        self.token = Some(token.to_string());
        Ok(token.to_string())
    }

    /// One attempt: POST the batch, return the answer rows (PATID, UUID, FLAG, REASON).
    async fn send(&mut self, body: &str, rows: usize) -> Result<Vec<[String; 4]>, Failure> {
        let token = self.token().await.map_err(Failure::Fatal)?;
        let response = self
            .http
            .post(format!("{}/link/v1/batches", self.hub))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            self.token = None;
            return Err(Failure::Token);
        }
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Retry(format!("answer cut: {e}")))?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::Retry(format!("{status}: {text}")));
        }
        if !status.is_success() {
            return Err(Failure::Fatal(anyhow::anyhow!(
                "the hub refused the batch ({status}): {text}"
            )));
        }
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let answers: Vec<[String; 4]> = reader
            .records()
            .filter_map(Result::ok)
            // The hub guards cells against formulas; the values are what was sent.
            .map(|r| {
                std::array::from_fn(|i| {
                    keyway_link::read_cell(r.get(i).unwrap_or_default()).to_string()
                })
            })
            .collect();
        if answers.len() != rows {
            return Err(Failure::Retry(format!(
                "the answer has {} rows for {rows} sent",
                answers.len()
            )));
        }
        Ok(answers)
    }

    /// Sends a batch, retrying with backoff.
    async fn send_with_retries(
        &mut self,
        body: &str,
        rows: usize,
        attempts: u32,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<[String; 4]>> {
        let mut delay = Duration::from_millis(500);
        let mut last = String::new();
        for attempt in 1..=attempts.max(1) {
            match self.send(body, rows).await {
                Ok(answers) => return Ok(answers),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Token) => last = "the access token was refused".into(),
                Err(Failure::Retry(reason)) => last = reason,
            }
            if attempt < attempts {
                bar.suspend(|| eprintln!("batch failed ({last}); retrying in {delay:?}"));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
        anyhow::bail!("batch failed after {attempts} attempts: {last}")
    }
}

/// Why the hub could not be reached, in plain words where the cause is a common mistake.
fn unreachable_hub(hub: &str, err: reqwest::Error) -> anyhow::Error {
    let mut chain = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(&err);
    while let Some(current) = cause {
        let text = current.to_string();
        if !chain.contains(&text) {
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&text);
        }
        cause = current.source();
    }
    if chain.contains("UnknownIssuer") {
        return anyhow::anyhow!(
            "cannot reach the hub at {hub}: its TLS certificate is not signed by a CA this \
             machine trusts (a private CA? give its certificate with --ca-file FILE)"
        );
    }
    if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        return anyhow::anyhow!(
            "cannot reach the hub at {hub}: it does not answer TLS (is it http://, not https://?)"
        );
    }
    if chain.contains("Connection refused") {
        return anyhow::anyhow!(
            "cannot reach the hub at {hub}: nothing listens there (connection refused)"
        );
    }
    anyhow::anyhow!("cannot reach the hub's token endpoint at {hub}: {chain}")
}

/// The hub's base URL as given to `--hub`, checked before anything is read or sent.
fn hub_url(given: &str) -> anyhow::Result<String> {
    let lower = given.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        // A hub on this machine is plain http (`keyway serve` speaks no TLS itself).
        let host = lower.split([':', '/']).next().unwrap_or_default();
        let scheme = if matches!(host, "127.0.0.1" | "localhost" | "[" | "::1") {
            "http"
        } else {
            "https"
        };
        anyhow::bail!(
            "--hub {given}: a URL with http:// or https:// is needed, e.g. {scheme}://{given}"
        );
    }
    Ok(given.trim_end_matches('/').to_string())
}

/// The client secret, from a file only its owner can read (`--client-secret-file`).
fn read_secret(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    let bytes =
        Zeroizing::new(keyway_kernel::read_private_file(path).context("--client-secret-file")?);
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("--client-secret-file {}: not UTF-8 text", path.display()))?;
    Ok(Zeroizing::new(text.trim().to_string()))
}

/// Appends one CSV cell, quoted as needed and neutralised against spreadsheet formulas
/// (`keyway_link::csv_cell`, shared by every keyway CSV writer).
pub(crate) fn csv_field(out: &mut String, field: &str) {
    out.push_str(&keyway_link::csv_cell(field));
}

/// The hub numbers lines within the batch (`line N: reason`); the report uses file lines.
fn batch_reason(reason: &str) -> &str {
    match reason.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => reason,
    }
}

pub(crate) async fn run(args: LinkSubmitArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // Checked first: a wrong CA file must not wait for a long precheck to be reported.
    let private_ca = match &args.ca_file {
        Some(path) => keyway_hub::read_ca_file(path).context("--ca-file")?,
        None => Vec::new(),
    };
    if args.strict {
        let bad = super::link_strict::precheck(&args.input, args.errors.as_deref())?;
        if bad > 0 {
            let report = match &args.errors {
                Some(path) => format!("see {}", path.display()),
                None => "use --errors FILE for the list".into(),
            };
            anyhow::bail!("{bad} rows have errors; nothing was submitted (--strict); {report}");
        }
    }
    let (reader, header, size) = super::link_strict::open_hash_file(&args.input)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600));
    let mut client = Client {
        http: keyway_hub::trusting(http, &private_ca)?.build()?,
        hub: hub_url(&args.hub)?,
        client_id: args.client_id.clone(),
        secret: read_secret(&args.client_secret_file)?,
        token: None,
    };
    client.token().await?;
    let bar = if args.quiet || args.json.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(size);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} linking [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    };
    let mut output = AtomicFile::create(&args.output)?;
    writeln!(output.writer(), "PATID,UUID,FLAG,REASON")?;
    let mut errors = match &args.errors {
        Some(path) => {
            let mut file = AtomicFile::create(path)?;
            writeln!(file.writer(), "line,patid,reason")?;
            Some(file)
        }
        None => None,
    };
    let (mut linked, mut rejected, mut total) = (0u64, 0u64, 0u64);
    let mut batches =
        super::link_submit_read::spawn(reader, header, args.input.clone(), args.batch_size);
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        for (line, patid, reason) in &batch.refused {
            rejected += 1;
            total += 1;
            if let Some(errors) = errors.as_mut() {
                let mut row = format!("{line},");
                csv_field(&mut row, patid);
                row.push(',');
                csv_field(&mut row, reason);
                writeln!(errors.writer(), "{row}")?;
            }
        }
        if batch.lines.is_empty() {
            continue;
        }
        let answers = client
            .send_with_retries(&batch.body, batch.lines.len(), args.attempts, &bar)
            .await?;
        for (answer, line) in answers.iter().zip(&batch.lines) {
            total += 1;
            if answer[2] == "ERROR" {
                rejected += 1;
                if let Some(errors) = errors.as_mut() {
                    let mut row = format!("{line},");
                    csv_field(&mut row, &answer[0]);
                    row.push(',');
                    csv_field(&mut row, batch_reason(&answer[3]));
                    writeln!(errors.writer(), "{row}")?;
                }
            } else {
                linked += 1;
                let mut row = String::new();
                for (i, field) in answer.iter().enumerate() {
                    if i > 0 {
                        row.push(',');
                    }
                    csv_field(&mut row, field);
                }
                writeln!(output.writer(), "{row}")?;
            }
        }
        bar.set_position(batch.position);
    }
    bar.finish_and_clear();
    output.commit()?;
    if let Some(errors) = errors {
        errors.commit()?;
    }
    if args.json.json {
        print_json(&serde_json::json!({"rows": total, "linked": linked, "rejected": rejected}))?;
    } else if !args.quiet {
        eprintln!(
            "linked {linked} of {total} rows into {} ({rejected} rejected)",
            args.output.display()
        );
    }
    if rejected > 0 {
        let report = match &args.errors {
            Some(path) => format!("see {}", path.display()),
            None => "use --errors FILE for the list".into(),
        };
        return Err(PartialSuccess(format!("the hub refused {rejected} rows; {report}")).into());
    }
    Ok(())
}
