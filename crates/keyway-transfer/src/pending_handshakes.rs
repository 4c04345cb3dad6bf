//! Connections that have not finished their TLS handshake yet, counted per source address and
//! in all, so that peers who connect and then say nothing (or dribble) cannot take every slot.
//!
//! Policy (docs/transfer.md, "Timeouts and limits"):
//! - at most `per_address` handshakes in progress per source address (IPv6: per /64, since one
//!   host usually holds a whole /64). A new connection from an address at its cap **evicts that
//!   address's oldest** pending handshake: a host hoarding idle connections only competes with
//!   itself, and a real client behind the same address (a NAT, the same machine) still gets in,
//!   unless the hoarder keeps opening connections faster than one handshake takes;
//! - at most `total` handshakes in progress in all; a connection beyond that is **refused**
//!   (closed at once) rather than waited for, so the accept loop never stalls.
//!
//! Each admitted connection holds a [`HandshakeTicket`] until its handshake ends (dropping it
//! frees the slot); an evicted one learns it through [`HandshakeTicket::evicted`].

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// Pending handshakes of the whole server.
#[derive(Clone)]
pub(crate) struct PendingHandshakes {
    shared: Arc<Shared>,
}

struct Shared {
    per_address: usize,
    total: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Oldest first; the sender is dropped to evict.
    by_address: HashMap<IpAddr, VecDeque<(u64, oneshot::Sender<()>)>>,
    /// Entries in `by_address`, summed.
    count: usize,
}

/// Why a connection was not admitted to the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyHandshakes {
    pub limit: usize,
}

impl PendingHandshakes {
    /// Both limits are at least 1.
    pub(crate) fn new(per_address: usize, total: usize) -> PendingHandshakes {
        PendingHandshakes {
            shared: Arc::new(Shared {
                per_address: per_address.max(1),
                total: total.max(1),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Admits a connection from `peer` to the handshake, evicting `peer`'s oldest pending one
    /// if `peer` is at its cap; refuses it when the server-wide cap is reached.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<HandshakeTicket, TooManyHandshakes> {
        let address = source_of(peer);
        let mut state = self.lock();
        let queue_len = state.by_address.get(&address).map_or(0, VecDeque::len);
        if queue_len >= self.shared.per_address {
            let evicted = state
                .by_address
                .get_mut(&address)
                .and_then(VecDeque::pop_front);
            if evicted.is_some() {
                state.count -= 1;
            }
            // Dropping the sender wakes the evicted connection's task, which then closes it.
            drop(evicted);
        } else if state.count >= self.shared.total {
            return Err(TooManyHandshakes {
                limit: self.shared.total,
            });
        }
        let id = state.next_id;
        state.next_id += 1;
        let (evict, evicted) = oneshot::channel();
        state
            .by_address
            .entry(address)
            .or_default()
            .push_back((id, evict));
        state.count += 1;
        Ok(HandshakeTicket {
            table: self.clone(),
            address,
            id,
            evicted,
        })
    }

    /// Handshakes in progress.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.lock().count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few counters and queues, consistent after every statement that can
        // panic (none should): a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, address: IpAddr, id: u64) {
        let mut state = self.lock();
        let Some(queue) = state.by_address.get_mut(&address) else {
            return;
        };
        let Some(at) = queue.iter().position(|(entry, _)| *entry == id) else {
            return; // evicted: already removed and counted
        };
        queue.remove(at);
        if queue.is_empty() {
            state.by_address.remove(&address);
        }
        state.count -= 1;
    }
}

/// The address a cap applies to: IPv4 addresses (also IPv4-mapped IPv6) as they are, other
/// IPv6 addresses by their /64 prefix.
fn source_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// A connection's place among the pending handshakes; dropping it frees the place.
pub(crate) struct HandshakeTicket {
    table: PendingHandshakes,
    address: IpAddr,
    id: u64,
    evicted: oneshot::Receiver<()>,
}

impl HandshakeTicket {
    /// Resolves when a newer connection from the same address has taken this one's place.
    pub(crate) async fn evicted(&mut self) {
        // Nothing is ever sent: the sender is dropped on eviction.
        let _ = (&mut self.evicted).await;
    }
}

impl Drop for HandshakeTicket {
    fn drop(&mut self) {
        self.table.release(self.address, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn is_evicted(ticket: &mut HandshakeTicket) -> bool {
        matches!(
            ticket.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        )
    }

    #[test]
    fn an_address_at_its_cap_evicts_its_own_oldest() {
        let pending = PendingHandshakes::new(2, 10);
        let mut first = pending.admit(ip("10.0.0.1")).unwrap();
        let mut second = pending.admit(ip("10.0.0.1")).unwrap();
        let mut other = pending.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(pending.count(), 3);
        let mut third = pending.admit(ip("10.0.0.1")).unwrap();
        assert!(is_evicted(&mut first));
        assert!(!is_evicted(&mut second) && !is_evicted(&mut third));
        assert!(!is_evicted(&mut other), "other addresses are not touched");
        assert_eq!(pending.count(), 3);
        drop(first); // already gone: counted once
        assert_eq!(pending.count(), 3);
        drop((second, third, other));
        assert_eq!(pending.count(), 0);
        assert!(pending.lock().by_address.is_empty());
    }

    #[test]
    fn beyond_the_total_new_connections_are_refused() {
        let pending = PendingHandshakes::new(4, 3);
        let held: Vec<_> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .into_iter()
            .map(|a| pending.admit(ip(a)).unwrap())
            .collect();
        assert_eq!(
            pending.admit(ip("10.0.0.4")).err(),
            Some(TooManyHandshakes { limit: 3 })
        );
        drop(held);
        assert!(pending.admit(ip("10.0.0.4")).is_ok());
    }

    #[test]
    fn ipv6_is_capped_per_64_and_mapped_ipv4_as_ipv4() {
        let pending = PendingHandshakes::new(1, 10);
        let mut a = pending.admit(ip("2001:db8:1:2::1")).unwrap();
        let _b = pending.admit(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert!(is_evicted(&mut a), "same /64");
        let mut c = pending.admit(ip("2001:db8:1:3::1")).unwrap();
        assert!(!is_evicted(&mut c), "another /64");
        let mut d = pending.admit(ip("192.0.2.7")).unwrap();
        let _e = pending.admit(ip("::ffff:192.0.2.7")).unwrap();
        assert!(is_evicted(&mut d));
    }
}
