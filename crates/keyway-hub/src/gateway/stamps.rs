//! The two header values the gateway adds to every call — `Authorization: Bearer <minted
//! token>` and `Forwarded: for=<caller>;…` — remembered per worker thread: a caller token's
//! calls reuse one minted token and come from one address, and building and checking the
//! value anew (a copy of a ~600-byte token, an address formatted) was a visible part of a
//! call's CPU.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderValue;

/// Values kept per thread and kind; beyond, the memo starts over.
const KEPT: usize = 4_096;

thread_local! {
    /// By the minted token's allocation: each entry holds the `Arc`, so its address cannot
    /// be reused by another token while the entry lives.
    static BEARERS: RefCell<HashMap<usize, (Arc<str>, HeaderValue)>> = RefCell::new(HashMap::new());
    /// By address, with the hub part it was made with (hubs in one process, as in tests,
    /// share threads).
    static FORWARDED: RefCell<HashMap<IpAddr, (String, HeaderValue)>> = RefCell::new(HashMap::new());
}

/// `Bearer <token>`; `None` if the token cannot be a header value (it always can: a JWT).
pub(super) fn bearer(token: &Arc<str>) -> Option<HeaderValue> {
    let key = Arc::as_ptr(token).cast::<u8>() as usize;
    BEARERS.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some((kept, value)) = memo.get(&key)
            && Arc::ptr_eq(kept, token)
        {
            return Some(value.clone());
        }
        let value = HeaderValue::from_str(&["Bearer ", token].concat()).ok()?;
        if memo.len() >= KEPT {
            memo.clear();
        }
        memo.insert(key, (token.clone(), value.clone()));
        Some(value)
    })
}

/// `Forwarded` (RFC 7239) for `client_ip`, with the hub's own part (`hub`) after it.
pub(super) fn forwarded(client_ip: IpAddr, hub: &str) -> Option<HeaderValue> {
    FORWARDED.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some((kept_hub, value)) = memo.get(&client_ip)
            && kept_hub == hub
        {
            return Some(value.clone());
        }
        let text = match client_ip {
            IpAddr::V4(ip) => format!("for={ip};{hub}"),
            IpAddr::V6(ip) => format!("for=\"[{ip}]\";{hub}"),
        };
        let value = HeaderValue::from_str(&text).ok()?;
        if memo.len() >= KEPT {
            memo.clear();
        }
        memo.insert(client_ip, (hub.to_string(), value.clone()));
        Some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_remembered_per_token_and_address() {
        let one: Arc<str> = "aaa.bbb.ccc".into();
        let two: Arc<str> = "ddd.eee.fff".into();
        assert_eq!(bearer(&one).unwrap(), "Bearer aaa.bbb.ccc");
        assert_eq!(bearer(&two).unwrap(), "Bearer ddd.eee.fff");
        assert_eq!(bearer(&one).unwrap(), "Bearer aaa.bbb.ccc");
        // The same text in another allocation is another entry, with the same value.
        let again: Arc<str> = "aaa.bbb.ccc".into();
        assert_eq!(bearer(&again).unwrap(), "Bearer aaa.bbb.ccc");
        assert!(bearer(&Arc::from("bad\nvalue")).is_none());

        let hub = "proto=https;host=\"hub.example\"";
        let v4 = forwarded("192.0.2.7".parse().unwrap(), hub).unwrap();
        assert_eq!(v4, "for=192.0.2.7;proto=https;host=\"hub.example\"");
        let v6 = forwarded("2001:db8::1".parse().unwrap(), hub).unwrap();
        assert_eq!(v6, "for=\"[2001:db8::1]\";proto=https;host=\"hub.example\"");
        assert_eq!(forwarded("192.0.2.7".parse().unwrap(), hub).unwrap(), v4);
        // Another hub on the same thread: its own host.
        let other = forwarded("192.0.2.7".parse().unwrap(), "proto=http;host=\"b\"").unwrap();
        assert_eq!(other, "for=192.0.2.7;proto=http;host=\"b\"");
    }
}
