//! Fuzzes the keyway-toki parsers that read untrusted input before any MAC or signature check
//! (docs/toki.md): the `oscartoki` request, response and message header values, and the
//! handshake's Hello and Welcome bytes.
//!
//! Nothing may panic, and every value that parses must re-encode to the very input: the
//! formats are canonical (decimals without leading zeros, unpadded base64url with zero
//! trailing bits), so two different header strings never mean the same token.

#![no_main]

use keyway_toki::{
    Hello, MAX_MESSAGE_TOKEN_LEN, MAX_TOKEN_LEN, MessageToken, RequestToken, ResponseToken,
    Welcome,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = Hello::from_wire(data) {
        assert_eq!(hello.to_wire(), data, "hello re-encoding differs");
    }
    if let Ok(welcome) = Welcome::from_wire(data) {
        assert_eq!(welcome.to_wire(), data, "welcome re-encoding differs");
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = RequestToken::parse(text) {
        assert!(text.len() <= MAX_TOKEN_LEN);
        assert_eq!(token.encode(), text, "request token re-encoding differs");
        assert_eq!(RequestToken::parse(&token.encode()), Ok(token));
    }
    if let Ok(token) = ResponseToken::parse(text) {
        assert!(text.len() <= MAX_TOKEN_LEN);
        assert_eq!(token.encode(), text, "response token re-encoding differs");
    }
    if let Ok(token) = MessageToken::parse(text) {
        assert!(text.len() <= MAX_MESSAGE_TOKEN_LEN);
        assert_eq!(token.encode(), text, "message token re-encoding differs");
    }
});
