//! The frame codec (spec and test vectors: docs/transfer.md). Frames travel inside TLS 1.3,
//! which already authenticates, encrypts and orders every byte; the framing only bounds memory
//! and gives the conversation its shape.
//!
//! ```text
//! frame = type:u8 | length:u32 big-endian | payload[length]      (length ≤ MAX_PAYLOAD)
//! ```

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest payload of one frame: memory per connection stays bounded by this.
pub const MAX_PAYLOAD: usize = 1 << 20;
pub const HEADER_LEN: usize = 5;

const T_REQUEST: u8 = 0x01;
pub(crate) const T_DATA: u8 = 0x02;
const T_END: u8 = 0x03;
const T_READY: u8 = 0x04;
const T_DIGEST: u8 = 0x05;
const T_RESPONSE: u8 = 0x10;
const T_ERROR: u8 = 0x7f;

/// What a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message = 1,
    Data = 2,
    /// Push a file: the body is its content (from the READY offset on), then a DIGEST.
    FilePush = 3,
    /// Pull a file: `size` is the offset the client already has.
    FileGet = 4,
}

impl Kind {
    fn from_u8(value: u8) -> Option<Kind> {
        match value {
            1 => Some(Kind::Message),
            2 => Some(Kind::Data),
            3 => Some(Kind::FilePush),
            4 => Some(Kind::FileGet),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Data => "data",
            Kind::FilePush => "file",
            Kind::FileGet => "get",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Starts a request: its kind, flags (bit 0 overwrite, bit 1 resume), the exact body size
    /// that follows in DATA frames (for a pull: the offset already held), a name.
    Request {
        kind: Kind,
        flags: u8,
        size: u64,
        name: String,
    },
    Data(Vec<u8>),
    /// Ends a body.
    End,
    /// A file transfer may start: from `offset` (resume), of a file of `size` bytes.
    Ready {
        offset: u64,
        size: u64,
    },
    /// Ends a file body: SHA-256 over name, size and content (docs/transfer.md).
    Digest([u8; 32]),
    /// The handler's answer: (status, response).
    Response {
        status: i32,
        body: Vec<u8>,
    },
    /// A protocol error, sent before closing.
    Error {
        code: u16,
        message: String,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame payload of {0} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    #[error("connection closed in the middle of a frame")]
    Truncated,
}

impl Frame {
    /// Appends the encoding of `self` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        let kind = match self {
            Frame::Request {
                kind,
                flags,
                size,
                name,
            } => {
                let name_len =
                    u16::try_from(name.len()).map_err(|_| FrameError::Malformed("request"))?;
                out.push(*kind as u8);
                out.push(*flags);
                out.extend_from_slice(&size.to_be_bytes());
                out.extend_from_slice(&name_len.to_be_bytes());
                out.extend_from_slice(name.as_bytes());
                T_REQUEST
            }
            Frame::Data(bytes) => {
                out.extend_from_slice(bytes);
                T_DATA
            }
            Frame::End => T_END,
            Frame::Ready { offset, size } => {
                out.extend_from_slice(&offset.to_be_bytes());
                out.extend_from_slice(&size.to_be_bytes());
                T_READY
            }
            Frame::Digest(digest) => {
                out.extend_from_slice(digest);
                T_DIGEST
            }
            Frame::Response { status, body } => {
                out.extend_from_slice(&status.to_be_bytes());
                out.extend_from_slice(body);
                T_RESPONSE
            }
            Frame::Error { code, message } => {
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(message.as_bytes());
                T_ERROR
            }
        };
        let len = out.len() - start - HEADER_LEN;
        if len > MAX_PAYLOAD {
            out.truncate(start);
            return Err(FrameError::TooLarge(len));
        }
        out[start] = kind;
        out[start + 1..start + HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// Decodes one frame from its type and payload.
    pub fn decode(kind: u8, payload: Vec<u8>) -> Result<Frame, FrameError> {
        match kind {
            T_REQUEST => {
                if payload.len() < 12 {
                    return Err(FrameError::Malformed("request"));
                }
                let kind = Kind::from_u8(payload[0]).ok_or(FrameError::Malformed("request"))?;
                let flags = payload[1];
                let mut size = [0u8; 8];
                size.copy_from_slice(&payload[2..10]);
                let name_len = usize::from(u16::from_be_bytes([payload[10], payload[11]]));
                if payload.len() != 12 + name_len {
                    return Err(FrameError::Malformed("request"));
                }
                let name = String::from_utf8(payload[12..].to_vec())
                    .map_err(|_| FrameError::Malformed("request"))?;
                Ok(Frame::Request {
                    kind,
                    flags,
                    size: u64::from_be_bytes(size),
                    name,
                })
            }
            T_READY if payload.len() == 16 => {
                let mut offset = [0u8; 8];
                let mut size = [0u8; 8];
                offset.copy_from_slice(&payload[..8]);
                size.copy_from_slice(&payload[8..]);
                Ok(Frame::Ready {
                    offset: u64::from_be_bytes(offset),
                    size: u64::from_be_bytes(size),
                })
            }
            T_READY => Err(FrameError::Malformed("ready")),
            T_DIGEST => {
                let digest: [u8; 32] = payload
                    .try_into()
                    .map_err(|_| FrameError::Malformed("digest"))?;
                Ok(Frame::Digest(digest))
            }
            T_DATA if !payload.is_empty() => Ok(Frame::Data(payload)),
            T_DATA => Err(FrameError::Malformed("data")),
            T_END if payload.is_empty() => Ok(Frame::End),
            T_END => Err(FrameError::Malformed("end")),
            T_RESPONSE if payload.len() >= 4 => Ok(Frame::Response {
                status: i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]),
                body: payload[4..].to_vec(),
            }),
            T_RESPONSE => Err(FrameError::Malformed("response")),
            T_ERROR if payload.len() >= 2 => Ok(Frame::Error {
                code: u16::from_be_bytes([payload[0], payload[1]]),
                message: String::from_utf8_lossy(&payload[2..]).into_owned(),
            }),
            T_ERROR => Err(FrameError::Malformed("error")),
            other => Err(FrameError::UnknownType(other)),
        }
    }
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Frame>, TransferIoError> {
    match read_header(reader).await? {
        Some((kind, len)) => Ok(Some(read_payload(reader, kind, len).await?)),
        None => Ok(None),
    }
}

/// Reads a frame header: its type and payload length (checked against [`MAX_PAYLOAD`]);
/// `Ok(None)` on a clean end of stream before it.
pub async fn read_header<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<(u8, usize)>, TransferIoError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        let n = reader.read(&mut header[filled..]).await?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated.into())
            };
        }
        filled += n;
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len).into());
    }
    Ok(Some((header[0], len)))
}

/// Reads the payload announced by [`read_header`] and decodes the frame.
pub async fn read_payload<R: AsyncRead + Unpin>(
    reader: &mut R,
    kind: u8,
    len: usize,
) -> Result<Frame, TransferIoError> {
    let mut payload = vec![0u8; len];
    reader
        .read_exact(&mut payload)
        .await
        .map_err(eof_is_truncation)?;
    Ok(Frame::decode(kind, payload)?)
}

/// The stream ended inside a frame: say so, rather than report a bare I/O error.
pub(crate) fn eof_is_truncation(e: std::io::Error) -> TransferIoError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        TransferIoError::Frame(FrameError::Truncated)
    } else {
        TransferIoError::Io(e)
    }
}

pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame,
) -> Result<(), TransferIoError> {
    let mut buf = Vec::new();
    frame.encode(&mut buf)?;
    writer.write_all(&buf).await?;
    Ok(())
}

/// A reusable send buffer with room for a DATA header in front: file data is read straight
/// behind the header and the frame leaves in one write, with no copy of the chunk.
pub struct DataBuffer {
    buf: Vec<u8>,
}

impl DataBuffer {
    /// Chunks of at most `chunk` bytes (capped at [`MAX_PAYLOAD`]).
    pub fn new(chunk: usize) -> DataBuffer {
        DataBuffer {
            buf: vec![0; HEADER_LEN + chunk.clamp(1, MAX_PAYLOAD)],
        }
    }

    /// Where to read up to `want` bytes of the next chunk.
    pub fn space(&mut self, want: usize) -> &mut [u8] {
        let end = HEADER_LEN + want.min(self.buf.len() - HEADER_LEN);
        &mut self.buf[HEADER_LEN..end]
    }

    /// The first `n` bytes read into [`DataBuffer::space`].
    pub fn data(&self, n: usize) -> &[u8] {
        &self.buf[HEADER_LEN..HEADER_LEN + n]
    }

    /// Sends the first `n` bytes of the chunk as one DATA frame.
    pub async fn send<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        n: usize,
    ) -> Result<(), TransferIoError> {
        if HEADER_LEN + n > self.buf.len() {
            return Err(FrameError::TooLarge(n).into());
        }
        self.buf[0] = T_DATA;
        self.buf[1..HEADER_LEN].copy_from_slice(&(n as u32).to_be_bytes());
        writer.write_all(&self.buf[..HEADER_LEN + n]).await?;
        Ok(())
    }
}

/// Reading or writing frames failed.
#[derive(Debug, Error)]
pub enum TransferIoError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn encoded(frame: &Frame) -> String {
        let mut out = Vec::new();
        frame.encode(&mut out).unwrap();
        hex(&out)
    }

    /// The vectors of docs/transfer.md.
    #[tokio::test]
    async fn data_buffer_sends_what_encode_would() {
        let mut out = DataBuffer::new(8);
        assert_eq!(out.space(100).len(), 8, "capped at the chunk size");
        out.space(3).copy_from_slice(b"abc");
        assert_eq!(out.data(3), b"abc");
        let mut sent = Vec::new();
        out.send(&mut sent, 3).await.unwrap();
        let mut expected = Vec::new();
        Frame::Data(b"abc".to_vec()).encode(&mut expected).unwrap();
        assert_eq!(sent, expected);
        assert!(out.send(&mut sent, 9).await.is_err());
    }

    #[test]
    fn spec_vectors() {
        let request = Frame::Request {
            kind: Kind::Message,
            flags: 0,
            size: 5,
            name: "hi".into(),
        };
        assert_eq!(
            encoded(&request),
            "01 0000000e 01 00 0000000000000005 0002 6869".replace(' ', "")
        );
        let push = Frame::Request {
            kind: Kind::FilePush,
            flags: 3,
            size: 1024,
            name: "a/b".into(),
        };
        assert_eq!(
            encoded(&push),
            "01 0000000f 03 03 0000000000000400 0003 612f62".replace(' ', "")
        );
        let ready = Frame::Ready {
            offset: 512,
            size: 1024,
        };
        assert_eq!(
            encoded(&ready),
            "04 00000010 0000000000000200 0000000000000400".replace(' ', "")
        );
        assert_eq!(
            encoded(&Frame::Digest([0xab; 32])),
            format!("0500000020{}", "ab".repeat(32))
        );
        assert_eq!(
            encoded(&Frame::Data(b"hello".to_vec())),
            "020000000568656c6c6f"
        );
        assert_eq!(encoded(&Frame::End), "0300000000");
        let response = Frame::Response {
            status: 0,
            body: b"ok".to_vec(),
        };
        assert_eq!(encoded(&response), "1000000006000000006f6b");
        let error = Frame::Error {
            code: 3,
            message: "no".into(),
        };
        assert_eq!(encoded(&error), "7f000000040003 6e6f".replace(' ', ""));
    }

    #[tokio::test]
    async fn round_trip_and_bad_input() {
        let frames = [
            Frame::Request {
                kind: Kind::Data,
                flags: 0,
                size: 3,
                name: "x".into(),
            },
            Frame::Ready { offset: 1, size: 2 },
            Frame::Digest([7; 32]),
            Frame::Data(vec![1, 2, 3]),
            Frame::End,
            Frame::Response {
                status: -2,
                body: vec![],
            },
        ];
        let mut wire = Vec::new();
        for f in &frames {
            f.encode(&mut wire).unwrap();
        }
        let mut reader = &wire[..];
        for f in &frames {
            assert_eq!(read_frame(&mut reader).await.unwrap().as_ref(), Some(f));
        }
        assert!(read_frame(&mut reader).await.unwrap().is_none());

        let truncated = &wire[..wire.len() - 2];
        let mut reader = truncated;
        let mut last = Ok(None);
        for _ in 0..frames.len() {
            last = read_frame(&mut reader).await;
        }
        assert!(matches!(
            last,
            Err(TransferIoError::Frame(FrameError::Truncated))
        ));

        let oversized = [0x02u8, 0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut &oversized[..]).await,
            Err(TransferIoError::Frame(FrameError::TooLarge(_)))
        ));
        let unknown = [0x55u8, 0, 0, 0, 0];
        assert!(matches!(
            read_frame(&mut &unknown[..]).await,
            Err(TransferIoError::Frame(FrameError::UnknownType(0x55)))
        ));
        assert!(
            Frame::Data(vec![0; MAX_PAYLOAD + 1])
                .encode(&mut Vec::new())
                .is_err()
        );
    }
}
