//! Receiving a file's body: DATA frames go from the TLS stream's decrypted records straight
//! into the [`FileSink`] (which hashes them), without being collected into a frame first.
//! Collecting cost a zeroed allocation and a copy of every byte (with the copy into the sink,
//! the receiver touched each byte three times after decryption; now twice: rustls' own copy
//! and the sink's).

use std::pin::Pin;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::file_sink::FileSink;
use crate::frame::{
    Frame, FrameError, T_DATA, TransferIoError, eof_is_truncation, read_header, read_payload,
};

/// The next thing in a file's body.
pub(crate) enum BodyPart {
    /// A DATA frame of this many bytes, still in the stream: pass it on with [`pour`].
    Data(usize),
    /// Any other frame (DIGEST, ERROR, or one that does not belong here).
    Frame(Frame),
    /// The stream ended cleanly between frames.
    Closed,
}

/// Reads the next frame header; for DATA, stops before the payload.
pub(crate) async fn next_part<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<BodyPart, TransferIoError> {
    match read_header(reader).await? {
        None => Ok(BodyPart::Closed),
        Some((T_DATA, 0)) => Err(FrameError::Malformed("data").into()),
        Some((T_DATA, len)) => Ok(BodyPart::Data(len)),
        Some((kind, len)) => Ok(BodyPart::Frame(read_payload(reader, kind, len).await?)),
    }
}

/// Why pouring a DATA payload stopped.
pub(crate) enum PourError {
    /// The stream failed or ended inside the payload.
    Stream(TransferIoError),
    /// The sink (the disk) failed; the stream may stop inside the payload, so the connection
    /// ends after the error is reported.
    Sink(std::io::Error),
}

/// Passes the `len` payload bytes announced by [`BodyPart::Data`] to `sink`, in the pieces
/// the TLS layer decrypted them in.
pub(crate) async fn pour<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    len: usize,
    sink: &mut FileSink,
) -> Result<(), PourError> {
    let mut left = len;
    while left > 0 {
        let available = reader
            .fill_buf()
            .await
            .map_err(|e| PourError::Stream(eof_is_truncation(e)))?;
        if available.is_empty() {
            return Err(PourError::Stream(FrameError::Truncated.into()));
        }
        let piece = &available[..available.len().min(left)];
        let taken = piece.len();
        sink.write_all(piece).await.map_err(PourError::Sink)?;
        Pin::new(&mut *reader).consume(taken);
        left -= taken;
    }
    Ok(())
}
