//! Turns CRLF line ends into LF while streaming.
//!
//! The csv crate miscounts line numbers on CRLF input, and partners' exports from Windows tools
//! are CRLF; error reports must name the right line.

use std::io::{self, Read};

pub(crate) struct CrlfToLf<R> {
    inner: R,
    /// A `\r` that ended the previous chunk, not yet known to precede `\n`.
    pending_cr: bool,
}

impl<R: Read> CrlfToLf<R> {
    pub(crate) fn new(inner: R) -> CrlfToLf<R> {
        CrlfToLf {
            inner,
            pending_cr: false,
        }
    }
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            // Leave room for a pending `\r` that turns out not to precede `\n`.
            let start = usize::from(self.pending_cr);
            if start >= buf.len() {
                return Ok(0);
            }
            let n = self.inner.read(&mut buf[start..])?;
            if n == 0 {
                if self.pending_cr {
                    self.pending_cr = false;
                    buf[0] = b'\r';
                    return Ok(1);
                }
                return Ok(0);
            }
            // Most input has no `\r` at all: hand the chunk over untouched.
            if !self.pending_cr && !buf[..n].contains(&b'\r') {
                return Ok(n);
            }
            let mut filled = 0;
            if self.pending_cr {
                self.pending_cr = false;
                if buf[start] != b'\n' {
                    buf[0] = b'\r';
                    filled = 1;
                }
            }
            let end = start + n;
            let mut i = start;
            while i < end {
                let byte = buf[i];
                if byte == b'\r' {
                    if i + 1 == end {
                        self.pending_cr = true;
                        i += 1;
                        continue;
                    }
                    if buf[i + 1] == b'\n' {
                        i += 1;
                        continue;
                    }
                }
                buf[filled] = byte;
                filled += 1;
                i += 1;
            }
            if filled > 0 {
                return Ok(filled);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through a source that hands out one byte at a time (worst-case chunking).
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((first, rest)) if !buf.is_empty() => {
                    buf[0] = *first;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn converts_across_chunk_boundaries() {
        for input in [
            &b"a\r\nb\r\n"[..],
            b"a\rb\r",
            b"\r\n\r\n",
            b"x\r",
            b"plain\n",
        ] {
            let expected: Vec<u8> = String::from_utf8_lossy(input)
                .replace("\r\n", "\n")
                .into_bytes();
            let mut out = Vec::new();
            CrlfToLf::new(Trickle(input)).read_to_end(&mut out).unwrap();
            assert_eq!(out, expected, "{input:?}");
            let mut out = Vec::new();
            CrlfToLf::new(input).read_to_end(&mut out).unwrap();
            assert_eq!(out, expected, "{input:?}");
        }
    }
}
