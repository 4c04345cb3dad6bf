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

use super::{Submit, unavailable};
use crate::AppState;
use crate::caller::Authorized;
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
    authorized: Authorized<Submit>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = authorized.caller();
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
    let reading = ReadAhead {
        parser,
        read,
        ended,
        partner: partner.clone(),
    };
    let batch = Batch {
        state,
        partner,
        answer,
        tx,
    };
    tokio::spawn(batch.run(reading, stream, items));
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
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
}

/// What the reading half of a batch hands to the linking half.
enum Piece {
    /// Items up to and including the [`CHUNK`]-th record (or the rest of the body).
    Chunk(Vec<Item>),
    /// The body is refused from here on (too large, unreadable); the answer ends with this.
    Abort(String),
    /// The client went away mid-body.
    Cut,
}

impl Batch {
    /// Reads and parses the body in a task of its own, one chunk ahead of the linker: parsing
    /// chunk N+1 on the other core while chunk N is linked took the parse (and upload) off the
    /// linking path.
    async fn run(
        self,
        reading: ReadAhead,
        stream: impl Stream<Item = Result<Bytes, axum::Error>> + Unpin + Send + 'static,
        pending: Vec<Item>,
    ) {
        let (pieces_tx, mut pieces) = mpsc::channel(1);
        tokio::spawn(reading.run(stream, pending, pieces_tx));
        let mut out = Vec::with_capacity(FLUSH_BYTES * 2);
        if self.answer == Format::Csv {
            out.extend_from_slice(ANSWER_HEADER.as_bytes());
        }
        while let Some(piece) = pieces.recv().await {
            match piece {
                Piece::Chunk(chunk) => {
                    if let Err(err) = self.link(chunk, &mut out).await {
                        self.abort(err).await;
                        return;
                    }
                    if out.len() >= FLUSH_BYTES && !self.send(&mut out).await {
                        return;
                    }
                }
                Piece::Abort(reason) => {
                    // What came before is answered, then the answer breaks off.
                    self.send(&mut out).await;
                    self.abort(reason).await;
                    return;
                }
                Piece::Cut => return,
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

/// The reading half of a batch: body bytes in, chunks of parsed items out.
struct ReadAhead {
    parser: BatchParser,
    read: u64,
    ended: bool,
    partner: String,
}

impl ReadAhead {
    async fn run(
        mut self,
        mut stream: impl Stream<Item = Result<Bytes, axum::Error>> + Unpin,
        mut pending: Vec<Item>,
        pieces: mpsc::Sender<Piece>,
    ) {
        let mut cutter = Cutter::default();
        loop {
            while let Some(chunk) = cutter.next(&mut pending, self.ended) {
                if pieces.send(Piece::Chunk(chunk)).await.is_err() {
                    return; // the linker stopped (database error or client gone)
                }
            }
            if self.ended {
                return;
            }
            let refusal = match stream.next().await {
                Some(Ok(bytes)) => {
                    self.read += bytes.len() as u64;
                    if self.read > MAX_BATCH_BYTES {
                        Some(format!("the batch exceeds {MAX_BATCH_BYTES} bytes"))
                    } else {
                        self.parser
                            .feed(&bytes, &mut pending)
                            .err()
                            .map(|e| e.to_string())
                    }
                }
                Some(Err(err)) => {
                    // The client went away mid-batch; what was linked stays linked.
                    tracing::info!(error = %err, partner = %self.partner, "batch body cut");
                    let _ = pieces.send(Piece::Cut).await;
                    return;
                }
                None => {
                    self.ended = true;
                    self.parser
                        .finish(&mut pending)
                        .err()
                        .map(|e| e.to_string())
                }
            };
            if let Some(reason) = refusal {
                let _ = pieces.send(Piece::Abort(reason)).await;
                return;
            }
        }
    }
}

/// Cuts parsed items into chunks of [`CHUNK`] records. Remembers how far it has counted, so
/// each item is looked at once however many body pieces a chunk arrives in.
#[derive(Default)]
struct Cutter {
    /// Items at the front of `pending` already counted, and the records among them.
    counted: usize,
    records: usize,
}

impl Cutter {
    /// The next chunk: up to and including the [`CHUNK`]-th record, or everything once the
    /// body has ended.
    fn next(&mut self, pending: &mut Vec<Item>, ended: bool) -> Option<Vec<Item>> {
        while self.counted < pending.len() && self.records < CHUNK {
            if matches!(pending[self.counted], Item::Record { .. }) {
                self.records += 1;
            }
            self.counted += 1;
        }
        let rest_of_body = ended && !pending.is_empty();
        if self.records < CHUNK && !rest_of_body {
            return None;
        }
        let rest = pending.split_off(self.counted);
        *self = Cutter::default();
        Some(std::mem::replace(pending, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyway_link::linker::LinkRecord;

    fn record(n: usize) -> Item {
        Item::Record {
            line: n as u64,
            record: LinkRecord {
                patid: n.to_string(),
                hashes: Vec::new(),
            },
        }
    }

    fn rejected(n: usize) -> Item {
        Item::Rejected {
            line: n as u64,
            patid: n.to_string(),
            reason: "bad".into(),
        }
    }

    #[test]
    fn cuts_after_the_chunk_th_record_across_pieces() {
        let mut cutter = Cutter::default();
        let mut pending = vec![rejected(0)];
        pending.extend((1..CHUNK).map(record));
        assert!(cutter.next(&mut pending, false).is_none());
        pending.extend([record(CHUNK), rejected(CHUNK + 1), record(CHUNK + 2)]);
        let chunk = cutter.next(&mut pending, false).expect("a full chunk");
        assert_eq!(
            chunk.len(),
            CHUNK + 1,
            "the rejected row before it, CHUNK records"
        );
        assert_eq!(pending.len(), 2);
        assert!(cutter.next(&mut pending, false).is_none());
        let last = cutter
            .next(&mut pending, true)
            .expect("the rest, once the body ended");
        assert_eq!(last.len(), 2);
        assert!(cutter.next(&mut pending, true).is_none());
    }
}
