//! `POST /link/v1/batches`: a hash file streamed in, `PATID,UUID,FLAG,REASON` streamed out.
//!
//! Only I/O lives here: parsing, chunking and answer writing are the sans-IO types of
//! [`keyway_link::batch`]. The body is read until its first chunk of
//! [`CHUNK_RECORDS`] records is parsed (or it ends), so a batch refused within it (a line or
//! field over its limit, a bad header) gets a 4xx problem; then chunks are linked, one
//! transaction each, and answers sent as soon as a chunk commits. A refusal or a database
//! failure later aborts the response (the client sees a truncated transfer and resubmits:
//! linking is idempotent).

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use keyway_link::batch::{
    ANSWER_HEADER, BatchError, BatchParser, ChunkCutter, Format, Item, LinkChunk,
};
use tokio::sync::mpsc;

use super::Submit;
use crate::AppState;
use crate::caller::{ApiError, Authorized};

#[cfg(doc)]
use keyway_link::batch::CHUNK_RECORDS;

/// Answer bytes buffered before they are sent.
const FLUSH_BYTES: usize = 256 * 1024;
/// Body bytes read and dropped after refusing a batch, so the answer is not lost to a reset
/// from unread data (a client still sending when the refusal is written).
const DRAIN_BYTES: u64 = 16 << 20;

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

pub(super) async fn submit(
    State(state): State<AppState>,
    authorized: Authorized<Submit>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = authorized.caller();
    let partner = state
        .link
        .partner_for_client(caller.client_id())
        .await
        .map_err(|err| ApiError::unavailable("partner lookup", &err))?
        .ok_or_else(|| {
            ApiError::Forbidden(
                "this client is not bound to a linkage partner (keyway link partner create)".into(),
            )
        })?;
    let format = input_format(&headers).ok_or_else(|| {
        ApiError::UnsupportedMediaType("send text/csv or application/x-ndjson".into())
    })?;
    let answer = answer_format(&headers);
    let mut stream = body.into_data_stream();
    let mut reading = ReadAhead {
        parser: BatchParser::new(format),
        cutter: ChunkCutter::default(),
        pending: Vec::new(),
        ended: false,
        partner: partner.clone(),
    };
    // Parse up to the first chunk before answering, so a refusal in it is a proper 4xx.
    let first = match reading.next_chunk(&mut stream).await {
        Ok(first) => first,
        Err(Stop::Refused(err)) => {
            drain(&mut stream).await;
            return Err(refusal(&err));
        }
        Err(Stop::Cut) => return Err(ApiError::BadRequest("the body was cut off".into())),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let batch = Batch {
        state,
        partner,
        answer,
        tx,
    };
    tokio::spawn(batch.run(reading, stream, first));
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
    Ok(response)
}

/// The problem for a refused batch: 413 for a size limit, 400 otherwise. The message names
/// the line and the limit, never the offending text.
fn refusal(err: &BatchError) -> ApiError {
    if err.is_size_limit() {
        ApiError::PayloadTooLarge(err.to_string())
    } else {
        ApiError::BadRequest(err.to_string())
    }
}

/// Reads and drops up to [`DRAIN_BYTES`] of what the client is still sending.
async fn drain(stream: &mut (impl Stream<Item = Result<Bytes, axum::Error>> + Unpin)) {
    let mut dropped = 0u64;
    while dropped < DRAIN_BYTES {
        match stream.next().await {
            Some(Ok(bytes)) => dropped += bytes.len() as u64,
            _ => return,
        }
    }
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
    /// Items up to and including the [`CHUNK_RECORDS`]-th record (or the rest of the body).
    Chunk(Vec<Item>),
    /// No more chunks: the answer ends with this.
    Stop(Stop),
}

/// Why reading a batch stopped before its end.
enum Stop {
    /// The body is refused from here on (a limit, a bad line).
    Refused(BatchError),
    /// The client went away mid-body.
    Cut,
}

impl Batch {
    /// Links `first`, then the chunks that the reading half, a task of its own, parses one
    /// ahead of the linker: parsing chunk N+1 on the other core while chunk N is linked took
    /// the parse (and upload) off the linking path.
    async fn run(
        self,
        reading: ReadAhead,
        stream: impl Stream<Item = Result<Bytes, axum::Error>> + Unpin + Send + 'static,
        first: Option<Vec<Item>>,
    ) {
        let (pieces_tx, mut pieces) = mpsc::channel(1);
        if let Some(first) = first {
            // Capacity 1 and nothing sent yet: this cannot wait.
            let _ = pieces_tx.send(Piece::Chunk(first)).await;
        }
        tokio::spawn(reading.run(stream, pieces_tx));
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
                Piece::Stop(Stop::Refused(reason)) => {
                    // What came before is answered, then the answer breaks off.
                    self.send(&mut out).await;
                    self.abort(reason.to_string()).await;
                    return;
                }
                Piece::Stop(Stop::Cut) => return,
            }
        }
        self.send(&mut out).await;
    }

    /// Links the records of `chunk` and writes an answer for every item, in order.
    async fn link(&self, chunk: Vec<Item>, out: &mut Vec<u8>) -> Result<(), String> {
        let chunk = LinkChunk::new(chunk);
        let now = self.state.auth.clock().now_ms();
        let decisions = self
            .state
            .link
            .link_chunk(&self.partner, &chunk.records, now)
            .await
            .map_err(|e| e.to_string())?;
        for (flag, count) in chunk.write_answers(decisions, self.answer, out) {
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
    cutter: ChunkCutter,
    /// Parsed items not yet in a chunk.
    pending: Vec<Item>,
    ended: bool,
    partner: String,
}

impl ReadAhead {
    /// Reads until the next chunk is parsed: `Ok(None)` once the body is done, `Err` when
    /// it is refused or cut off.
    async fn next_chunk(
        &mut self,
        stream: &mut (impl Stream<Item = Result<Bytes, axum::Error>> + Unpin),
    ) -> Result<Option<Vec<Item>>, Stop> {
        loop {
            if let Some(chunk) = self.cutter.next(&mut self.pending, self.ended) {
                return Ok(Some(chunk));
            }
            if self.ended {
                return Ok(None);
            }
            let parsed = match stream.next().await {
                Some(Ok(bytes)) => self.parser.feed(&bytes, &mut self.pending),
                Some(Err(err)) => {
                    // The client went away mid-batch; what was linked stays linked.
                    tracing::info!(error = %err, partner = %self.partner, "batch body cut");
                    return Err(Stop::Cut);
                }
                None => {
                    self.ended = true;
                    self.parser.finish(&mut self.pending)
                }
            };
            parsed.map_err(Stop::Refused)?;
        }
    }

    async fn run(
        mut self,
        mut stream: impl Stream<Item = Result<Bytes, axum::Error>> + Unpin,
        pieces: mpsc::Sender<Piece>,
    ) {
        loop {
            let piece = match self.next_chunk(&mut stream).await {
                Ok(Some(chunk)) => Piece::Chunk(chunk),
                Ok(None) => return,
                Err(stop) => Piece::Stop(stop),
            };
            let last = !matches!(piece, Piece::Chunk(_));
            if pieces.send(piece).await.is_err() || last {
                return; // the linker stopped (database error or client gone), or the end
            }
        }
    }
}
