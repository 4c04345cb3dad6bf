//! `POST /link/v1/batches`: a hash file streamed in, `PATID,UUID,FLAG,REASON` streamed out.
//!
//! The body is read incrementally and linked in chunks of [`CHUNK`] records, one transaction
//! each; answers are sent as soon as a chunk commits. A database failure mid-batch aborts the
//! response (the client sees a truncated transfer and resubmits: linking is idempotent).

use std::collections::HashMap;
use std::io;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use keyway_link::batch::{ANSWER_HEADER, BatchParser, Format, Item, write_answer};
use tokio::sync::mpsc;

use super::{SCOPE_SUBMIT, authorize_caller, unavailable};
use crate::AppState;
use crate::caller::TokiCall;
use crate::errors::problem;

/// Records per linking transaction. Large, because each commit rewrites every B-tree page
/// its random hash and UUID keys touched: 10,000-record transactions spent most of their time
/// writing the WAL. The hub-wide link lock is held for a chunk (a few seconds at most).
pub const CHUNK: usize = 100_000;
/// Largest batch body accepted.
pub const MAX_BATCH_BYTES: u64 = 2 << 30;
/// Answer bytes buffered before they are sent.
const FLUSH_BYTES: usize = 256 * 1024;

fn bad_request(detail: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, "Bad Request", detail)
}

fn input_format(headers: &HeaderMap) -> Option<Format> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/csv");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/csv" => Some(Format::Csv),
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => Some(Format::Ndjson),
        _ => None,
    }
}

fn answer_format(headers: &HeaderMap) -> Format {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if accept.contains("ndjson") || accept.contains("jsonl") {
        Format::Ndjson
    } else {
        Format::Csv
    }
}

pub async fn submit(
    State(state): State<AppState>,
    toki: TokiCall,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match authorize_caller(&state, &headers, &toki, SCOPE_SUBMIT).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let partner = match state.link.partner_for_client(caller.client_id()).await {
        Ok(Some(partner)) => partner,
        Ok(None) => {
            return problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this client is not bound to a linkage partner (keyway link partner create)",
            );
        }
        Err(err) => {
            tracing::warn!(error = %err, "partner lookup failed");
            return unavailable();
        }
    };
    let Some(format) = input_format(&headers) else {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "send text/csv or application/x-ndjson",
        );
    };
    let answer = answer_format(&headers);
    let mut stream = body.into_data_stream();
    let mut parser = BatchParser::new(format);
    let mut items = Vec::new();
    let mut read: u64 = 0;
    let mut ended = false;
    // Read up to the header first, so a refused header gets a proper 400.
    while !parser.started() && !ended {
        match stream.next().await {
            Some(Ok(bytes)) => {
                read += bytes.len() as u64;
                if let Err(err) = parser.feed(&bytes, &mut items) {
                    return bad_request(&err.to_string());
                }
            }
            Some(Err(err)) => return bad_request(&format!("cannot read the body: {err}")),
            None => {
                if let Err(err) = parser.finish(&mut items) {
                    return bad_request(&err.to_string());
                }
                ended = true;
            }
        }
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let batch = Batch {
        state,
        partner,
        answer,
        parser,
        read,
        ended,
        tx,
    };
    tokio::spawn(batch.run(stream, items));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let content_type = match answer {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Ndjson => "application/x-ndjson",
    };
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One batch being linked in the background while its answer streams out.
struct Batch {
    state: AppState,
    partner: String,
    answer: Format,
    parser: BatchParser,
    read: u64,
    ended: bool,
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl Batch {
    async fn run(
        mut self,
        mut stream: impl Stream<Item = Result<Bytes, axum::Error>> + Unpin,
        mut pending: Vec<Item>,
    ) {
        let mut out = Vec::with_capacity(FLUSH_BYTES * 2);
        if self.answer == Format::Csv {
            out.extend_from_slice(ANSWER_HEADER.as_bytes());
        }
        loop {
            while let Some(split) = chunk_end(&pending, self.ended) {
                let rest = pending.split_off(split);
                let chunk = std::mem::replace(&mut pending, rest);
                if let Err(err) = self.link(chunk, &mut out).await {
                    self.abort(err).await;
                    return;
                }
                if out.len() >= FLUSH_BYTES && !self.send(&mut out).await {
                    return;
                }
            }
            if self.ended {
                break;
            }
            match stream.next().await {
                Some(Ok(bytes)) => {
                    self.read += bytes.len() as u64;
                    if self.read > MAX_BATCH_BYTES {
                        self.abort(format!("the batch exceeds {MAX_BATCH_BYTES} bytes"))
                            .await;
                        return;
                    }
                    if let Err(err) = self.parser.feed(&bytes, &mut pending) {
                        self.abort(err.to_string()).await;
                        return;
                    }
                }
                Some(Err(err)) => {
                    // The client went away mid-batch; what was linked stays linked.
                    tracing::info!(error = %err, partner = %self.partner, "batch body cut");
                    return;
                }
                None => {
                    if let Err(err) = self.parser.finish(&mut pending) {
                        self.abort(err.to_string()).await;
                        return;
                    }
                    self.ended = true;
                }
            }
        }
        self.send(&mut out).await;
    }

    /// Links the records of `chunk` and writes an answer for every item, in order.
    async fn link(&self, chunk: Vec<Item>, out: &mut Vec<u8>) -> Result<(), String> {
        // The records move to the linker; the rejected rows wait in their place (None marks
        // where a record's decision goes).
        let mut records = Vec::with_capacity(chunk.len());
        let mut order = Vec::with_capacity(chunk.len());
        for item in chunk {
            match item {
                Item::Record { record, .. } => {
                    records.push(record);
                    order.push(None);
                }
                Item::Rejected {
                    line,
                    patid,
                    reason,
                } => order.push(Some((line, patid, reason))),
            }
        }
        let now = self.state.auth.clock().now_ms();
        let decisions = self
            .state
            .link
            .link_chunk(&self.partner, &records, now)
            .await
            .map_err(|e| e.to_string())?;
        let mut decisions = decisions.into_iter();
        // Counted per chunk: a metrics look-up per record is measurable at 100,000 records.
        let mut counts: HashMap<&'static str, u64> = HashMap::new();
        for slot in order {
            match slot {
                None => {
                    if let Some(d) = decisions.next() {
                        *counts.entry(d.flag.as_str()).or_default() += 1;
                        write_answer(
                            self.answer,
                            out,
                            &d.patid,
                            &d.uuid,
                            d.flag.as_str(),
                            &d.reason,
                        );
                    }
                }
                Some((line, patid, reason)) => {
                    *counts.entry("ERROR").or_default() += 1;
                    let reason = format!("line {line}: {reason}");
                    write_answer(self.answer, out, &patid, "", "ERROR", &reason);
                }
            }
        }
        for (flag, count) in counts {
            ::metrics::counter!("keyway_link_records_total", "flag" => flag).increment(count);
        }
        Ok(())
    }

    /// Sends what is buffered; false when the client has gone.
    async fn send(&self, out: &mut Vec<u8>) -> bool {
        if out.is_empty() {
            return true;
        }
        let bytes = Bytes::from(std::mem::take(out));
        self.tx.send(Ok(bytes)).await.is_ok()
    }

    /// Ends the answer with an error, so the client sees an incomplete transfer.
    async fn abort(&self, reason: String) {
        tracing::warn!(partner = %self.partner, %reason, "batch aborted");
        let _ = self.tx.send(Err(io::Error::other(reason))).await;
    }
}

/// Where the next chunk ends: after the [`CHUNK`]-th record, or everything once the body ended.
fn chunk_end(pending: &[Item], ended: bool) -> Option<usize> {
    let mut records = 0;
    for (i, item) in pending.iter().enumerate() {
        if matches!(item, Item::Record { .. }) {
            records += 1;
            if records == CHUNK {
                return Some(i + 1);
            }
        }
    }
    (ended && !pending.is_empty()).then_some(pending.len())
}
