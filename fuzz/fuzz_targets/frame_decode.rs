//! Fuzzes the keyway-transfer frame decoder (docs/transfer.md, "Frames").
//!
//! The input is used twice:
//!
//! 1. `Frame::decode(data[0], data[1..])`: the first byte is the frame type, the rest the
//!    payload, as `read_frame` hands them over once the header and the length are read;
//! 2. `read_frame` over the whole input as a byte stream (a current-thread tokio runtime),
//!    frame after frame until a clean end or the first error.
//!
//! Nothing may panic, and every frame that decodes must re-encode (`Frame::encode`), the
//! encoding must decode (both by `Frame::decode` and by `read_frame`) to an equal frame, and —
//! the encoding being canonical — reproduce the very bytes it was decoded from, except for an
//! ERROR frame whose message was not UTF-8 (decoded lossily, so re-encoded with U+FFFD).

#![no_main]

use std::sync::OnceLock;

use keyway_transfer::frame::{Frame, FrameError, HEADER_LEN, MAX_PAYLOAD, TransferIoError, read_frame};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::{Builder, Runtime};

const T_ERROR: u8 = 0x7f;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Builder::new_current_thread()
            .build()
            .expect("current-thread runtime")
    })
}

/// Reads one frame from `bytes` with the async reader.
fn read_one(bytes: &mut &[u8]) -> Result<Option<Frame>, TransferIoError> {
    runtime().block_on(read_frame(bytes))
}

/// True when re-encoding `payload` of type `kind` must give back the same bytes.
fn canonical(kind: u8, payload: &[u8]) -> bool {
    !(kind == T_ERROR && payload.len() >= 2 && std::str::from_utf8(&payload[2..]).is_err())
}

/// `frame` was decoded from (`kind`, `payload`): it must survive encode → decode unchanged.
fn check_round_trip(frame: &Frame, kind: u8, payload: &[u8]) {
    let mut wire = Vec::new();
    match frame.encode(&mut wire) {
        Ok(()) => {}
        Err(FrameError::TooLarge(_)) if payload.len() > MAX_PAYLOAD => {
            // Only reachable by calling decode directly with an oversized payload: read_frame
            // refuses the length before reading it. Encode must then leave `out` untouched.
            assert!(wire.is_empty(), "failed encode left {} bytes behind", wire.len());
            return;
        }
        Err(err) => panic!("decoded frame {frame:?} does not re-encode: {err}"),
    }
    assert!(wire.len() >= HEADER_LEN, "encoding shorter than a header");
    let len = u32::from_be_bytes([wire[1], wire[2], wire[3], wire[4]]) as usize;
    assert_eq!(len, wire.len() - HEADER_LEN, "length field does not match the payload");
    assert!(len <= MAX_PAYLOAD, "encoded a payload over the limit");

    let again = Frame::decode(wire[0], wire[HEADER_LEN..].to_vec())
        .unwrap_or_else(|err| panic!("re-encoded {frame:?} does not decode: {err}"));
    assert_eq!(&again, frame, "decode(encode(frame)) differs");

    let mut reader = &wire[..];
    let streamed = read_one(&mut reader)
        .unwrap_or_else(|err| panic!("read_frame refuses the encoding of {frame:?}: {err}"))
        .expect("read_frame saw no frame in a non-empty encoding");
    assert_eq!(&streamed, frame, "read_frame(encode(frame)) differs");
    assert!(reader.is_empty(), "read_frame left {} bytes of one frame", reader.len());
    assert!(
        matches!(read_one(&mut reader), Ok(None)),
        "no clean end after the only frame"
    );

    if canonical(kind, payload) {
        assert_eq!(wire[0], kind, "frame type changed");
        assert_eq!(&wire[HEADER_LEN..], payload, "re-encoding changed the payload");
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. Direct decode: type byte, then payload.
    if let Some((&kind, payload)) = data.split_first() {
        if let Ok(frame) = Frame::decode(kind, payload.to_vec()) {
            check_round_trip(&frame, kind, payload);
        }
    }

    // 2. The stream reader, frame after frame. Each frame takes at least HEADER_LEN bytes, so
    //    this ends within data.len() / HEADER_LEN + 1 rounds.
    let mut rest = data;
    for _ in 0..=data.len() / HEADER_LEN {
        let before = rest;
        match read_one(&mut rest) {
            Ok(Some(frame)) => {
                // What read_frame consumed is exactly one header and the payload it announced,
                // and Frame::decode on those bytes agrees with it.
                let used = before.len() - rest.len();
                assert!(used >= HEADER_LEN, "read_frame consumed {used} bytes for a frame");
                let len = u32::from_be_bytes([before[1], before[2], before[3], before[4]]) as usize;
                assert_eq!(used, HEADER_LEN + len, "read_frame consumed the wrong amount");
                let payload = &before[HEADER_LEN..used];
                assert_eq!(
                    Frame::decode(before[0], payload.to_vec()).as_ref(),
                    Ok(&frame),
                    "read_frame and Frame::decode disagree"
                );
                check_round_trip(&frame, before[0], payload);
            }
            Ok(None) => {
                assert!(before.is_empty(), "clean end reported with {} bytes left", before.len());
                break;
            }
            Err(TransferIoError::Frame(err)) => {
                // Check the reason against the bytes.
                match err {
                    FrameError::Truncated => {
                        let short_header = before.len() < HEADER_LEN;
                        let short_payload = !short_header && {
                            let len = u32::from_be_bytes([before[1], before[2], before[3], before[4]]);
                            (len as usize) <= MAX_PAYLOAD && before.len() - HEADER_LEN < len as usize
                        };
                        assert!(short_header || short_payload, "Truncated on a complete frame");
                    }
                    FrameError::TooLarge(len) => {
                        assert!(len > MAX_PAYLOAD, "TooLarge({len}) within the limit");
                    }
                    FrameError::UnknownType(_) | FrameError::Malformed(_) => {
                        let len = u32::from_be_bytes([before[1], before[2], before[3], before[4]]) as usize;
                        assert_eq!(
                            Frame::decode(before[0], before[HEADER_LEN..HEADER_LEN + len].to_vec()),
                            Err(err),
                            "read_frame and Frame::decode disagree on an error"
                        );
                    }
                }
                break;
            }
            Err(TransferIoError::Io(err)) => panic!("I/O error reading a byte slice: {err}"),
        }
    }
});
