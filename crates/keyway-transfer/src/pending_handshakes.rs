//! Connections that have not finished their TLS handshake yet, counted per source address and
//! in all, so that peers who connect and then say nothing (or dribble) cannot take every slot.
//!
//! Policy (docs/transfer.md, "Timeouts and limits"):
//! - at most `per_address` handshakes in progress per source address (IPv6: per /64, since one
//!   host usually holds a whole /64). A new connection from an address at its cap **evicts that
//!   address's oldest** pending handshake: a host hoarding idle connections only competes with
//!   itself, and a real client behind the same address (a NAT, the same machine) still gets in,
//!   unless the hoarder keeps opening connections faster than one handshake takes;
//! - at most `total` handshakes in progress in all. A new connection when all are taken is
//!   **never refused**: it evicts the oldest pending handshake of the address that holds the
//!   most (ties: the one whose oldest is oldest), or its own oldest if its address already
//!   holds the most (ties included). Refusing the newcomer let a flood from a few addresses
//!   (17 × 16 > 256) keep every client out. Evicting from the heaviest address instead means
//!   an attacker with N addresses only takes slots from itself (each address keeps its newest
//!   `total / N` or so), while a client gets in and loses nothing as long as its address holds
//!   fewer than the heaviest (an attacker would need about `total` addresses to change that).
//!
//! Admission never waits, so the accept loop never stalls. Each admitted connection holds a
//! [`HandshakeTicket`] until its handshake ends (dropping it frees the slot); an evicted one
//! learns it through [`HandshakeTicket::evicted`].

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
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

/// One address's pending handshakes, oldest first: (id, evict). The sender is dropped to evict.
type Queue = VecDeque<(u64, oneshot::Sender<()>)>;

/// Where an address stands when the server-wide cap is full: the greatest is evicted from.
/// More pending handshakes first, then the older oldest one (smaller id, hence `Reverse`); the
/// address only makes the key unique.
type Load = (usize, Reverse<u64>, IpAddr);

#[derive(Default)]
struct State {
    next_id: u64,
    /// Never holds an empty queue.
    by_address: HashMap<IpAddr, Queue>,
    /// The [`Load`] of every address in `by_address`, so that the one to evict from is found
    /// in O(log n) rather than by scanning every address on each connection of a flood (the
    /// CLI allows caps up to 65536).
    by_load: BTreeSet<Load>,
    /// Entries in `by_address`, summed.
    count: usize,
}

impl State {
    /// Applies `change` to `address`'s queue and keeps `by_load`, `count` and the no-empty-queue
    /// rule in step: every change to a queue goes through here.
    fn update<R>(&mut self, address: IpAddr, change: impl FnOnce(&mut Queue) -> R) -> R {
        let queue = self.by_address.entry(address).or_default();
        let before = queue.len();
        if let Some(load) = load_of(address, queue) {
            self.by_load.remove(&load);
        }
        let result = change(queue);
        let after = queue.len();
        let load = load_of(address, queue);
        match load {
            Some(load) => {
                self.by_load.insert(load);
            }
            None => {
                self.by_address.remove(&address);
            }
        }
        // `count` is the sum of the queue lengths, so it is at least `before`.
        self.count = self.count - before + after;
        result
    }

    fn pending_of(&self, address: IpAddr) -> usize {
        self.by_address.get(&address).map_or(0, VecDeque::len)
    }

    /// Removes `address`'s oldest pending handshake; dropping the returned sender wakes that
    /// connection's task, which then closes it.
    fn evict_oldest(&mut self, address: IpAddr) -> Option<oneshot::Sender<()>> {
        self.update(address, |queue| queue.pop_front().map(|(_, evict)| evict))
    }

    /// The address to evict from when the server-wide cap is full and `newcomer` connects:
    /// its own if it already holds the most, else the heaviest.
    fn eviction_victim(&self, newcomer: IpAddr) -> Option<IpAddr> {
        let (most, _, heaviest) = *self.by_load.last()?;
        if self.pending_of(newcomer) >= most {
            Some(newcomer)
        } else {
            Some(heaviest)
        }
    }
}

fn load_of(address: IpAddr, queue: &Queue) -> Option<Load> {
    let (oldest, _) = queue.front()?;
    Some((queue.len(), Reverse(*oldest), address))
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

    /// Admits a connection from `peer` to the handshake, always: if `peer` is at its cap its
    /// own oldest pending handshake is evicted, else if the server-wide cap is full the oldest
    /// of the address holding the most (see the module documentation).
    pub(crate) fn admit(&self, peer: IpAddr) -> HandshakeTicket {
        let address = source_of(peer);
        let mut state = self.lock();
        let victim = if state.pending_of(address) >= self.shared.per_address {
            Some(address)
        } else if state.count >= self.shared.total {
            state.eviction_victim(address)
        } else {
            None
        };
        // Dropped at the end of this function, which wakes the evicted connection's task.
        let _evicted = victim.and_then(|victim| state.evict_oldest(victim));
        let id = state.next_id;
        state.next_id += 1;
        let (evict, evicted) = oneshot::channel();
        state.update(address, |queue| queue.push_back((id, evict)));
        HandshakeTicket {
            table: self.clone(),
            address,
            id,
            evicted,
        }
    }

    /// Handshakes in progress.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.lock().count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few counters, queues and an index, consistent after every statement
        // that can panic (none should): a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, address: IpAddr, id: u64) {
        let mut state = self.lock();
        if !state.by_address.contains_key(&address) {
            return; // evicted, and its address has nothing pending any more
        }
        state.update(address, |queue| {
            // Not found: evicted, already removed and counted.
            if let Some(at) = queue.iter().position(|(entry, _)| *entry == id) {
                queue.remove(at);
            }
        });
    }
}

/// The address a cap applies to (IPv6 by its /64, mapped IPv4 as IPv4).
fn source_of(peer: IpAddr) -> IpAddr {
    keyway_kernel::address_group(peer)
}

/// A connection's place among the pending handshakes; dropping it frees the place.
pub(crate) struct HandshakeTicket {
    table: PendingHandshakes,
    address: IpAddr,
    id: u64,
    evicted: oneshot::Receiver<()>,
}

impl HandshakeTicket {
    /// Resolves when a newer connection has taken this one's place (the per-address or the
    /// server-wide cap).
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
        let mut first = pending.admit(ip("10.0.0.1"));
        let mut second = pending.admit(ip("10.0.0.1"));
        let mut other = pending.admit(ip("10.0.0.2"));
        assert_eq!(pending.count(), 3);
        let mut third = pending.admit(ip("10.0.0.1"));
        assert!(is_evicted(&mut first));
        assert!(!is_evicted(&mut second) && !is_evicted(&mut third));
        assert!(!is_evicted(&mut other), "other addresses are not touched");
        assert_eq!(pending.count(), 3);
        drop(first); // already gone: counted once
        assert_eq!(pending.count(), 3);
        drop((second, third, other));
        assert_eq!(pending.count(), 0);
        assert!(pending.lock().by_address.is_empty());
        assert_consistent(&pending);
    }

    /// `by_load` and `count` agree with the queues, and no queue is empty.
    fn assert_consistent(pending: &PendingHandshakes) {
        let state = pending.lock();
        let loads: BTreeSet<Load> = state
            .by_address
            .iter()
            .map(|(address, queue)| load_of(*address, queue).unwrap())
            .collect();
        assert_eq!(state.by_load, loads);
        assert_eq!(
            state.by_load.len(),
            state.by_address.len(),
            "no empty queue"
        );
        let sum: usize = state.by_address.values().map(VecDeque::len).sum();
        assert_eq!(state.count, sum);
    }

    fn evicted(tickets: &mut [HandshakeTicket]) -> Vec<usize> {
        (0..tickets.len())
            .filter(|at| is_evicted(&mut tickets[*at]))
            .collect()
    }

    /// The outside tester's flood in miniature: every address at its cap and the total full.
    /// The newcomer from a fresh address gets in; the oldest of the tied heaviest goes.
    #[test]
    fn a_full_total_evicts_from_the_heaviest_address_not_the_newcomer() {
        let pending = PendingHandshakes::new(2, 4);
        let mut held: Vec<_> = ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]
            .into_iter()
            .map(|a| pending.admit(ip(a)))
            .collect();
        let mut newcomer = pending.admit(ip("10.0.0.9"));
        assert!(!is_evicted(&mut newcomer));
        assert_eq!(
            evicted(&mut held),
            [0],
            "10.0.0.1 and .2 tie: the older oldest goes"
        );
        assert_eq!(pending.count(), 4);
        assert_consistent(&pending);
        // Now .2 holds the most (2, against 1 and 1): the next newcomer takes from it.
        let mut second = pending.admit(ip("10.0.0.8"));
        assert!(!is_evicted(&mut second) && !is_evicted(&mut newcomer));
        assert_eq!(evicted(&mut held), [0, 1]);
        assert_eq!(pending.count(), 4);
        assert_consistent(&pending);
    }

    #[test]
    fn a_full_total_evicts_the_newcomers_own_oldest_if_its_address_holds_the_most() {
        let pending = PendingHandshakes::new(10, 4);
        let mut held: Vec<_> = ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"]
            .into_iter()
            .map(|a| pending.admit(ip(a)))
            .collect();
        // .2 ties with .1 for the most, and .1's oldest is older, yet .2 loses its own.
        let mut newcomer = pending.admit(ip("10.0.0.2"));
        assert!(!is_evicted(&mut newcomer));
        assert_eq!(evicted(&mut held), [2]);
        // .2 now holds 2 of 4 again and .1 too: another from .1 evicts .1's own oldest.
        let _again = pending.admit(ip("10.0.0.1"));
        assert_eq!(evicted(&mut held), [0, 2]);
        // An address with fewer than the most never loses its own: .3 takes from .1 or .2.
        let mut light = pending.admit(ip("10.0.0.3"));
        let _lighter = pending.admit(ip("10.0.0.3"));
        assert!(
            !is_evicted(&mut light),
            "the newcomer's address held 1 of 4: not the most"
        );
        assert_eq!(pending.count(), 4);
        assert_consistent(&pending);
    }

    /// However many connections an attacker opens from its addresses, a client's single
    /// pending handshake from another address outlives the attacker's (short of `total`
    /// attacker addresses, each holding one).
    #[test]
    fn a_flood_from_many_addresses_only_evicts_itself() {
        let pending = PendingHandshakes::new(16, 256);
        let attackers: Vec<IpAddr> = (2..=21).map(|h| ip(&format!("127.0.0.{h}"))).collect();
        let mut flood = Vec::new();
        for _ in 0..16 {
            for attacker in &attackers {
                flood.push(pending.admit(*attacker));
            }
        }
        assert_eq!(pending.count(), 256);
        let mut client = pending.admit(ip("127.0.0.1"));
        for _ in 0..10 {
            for attacker in &attackers {
                flood.push(pending.admit(*attacker));
            }
        }
        assert!(!is_evicted(&mut client));
        assert_eq!(pending.count(), 256);
        assert_consistent(&pending);
        drop(flood);
        assert_eq!(pending.count(), 1);
        drop(client);
        assert_eq!(pending.count(), 0);
        assert_consistent(&pending);
    }

    /// Any order of admissions and releases keeps the index, the count and both caps right.
    #[test]
    fn the_index_follows_every_admission_and_release() {
        let pending = PendingHandshakes::new(3, 7);
        let mut held = Vec::new();
        // A fixed pseudo-random walk: deterministic, and it visits every branch.
        let mut seed: u32 = 0x9e37_79b9;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            if seed.is_multiple_of(3) && !held.is_empty() {
                let at = (seed as usize / 3) % held.len();
                held.swap_remove(at);
            } else {
                let host = 1 + seed % 5;
                held.push(pending.admit(ip(&format!("10.0.0.{host}"))));
            }
            held.retain_mut(|ticket| !is_evicted(ticket));
            assert_eq!(pending.count(), held.len());
            assert!(pending.count() <= 7);
            assert!(pending.lock().by_address.values().all(|q| q.len() <= 3));
            assert_consistent(&pending);
        }
    }

    #[test]
    fn ipv6_is_capped_per_64_and_mapped_ipv4_as_ipv4() {
        let pending = PendingHandshakes::new(1, 10);
        let mut a = pending.admit(ip("2001:db8:1:2::1"));
        let _b = pending.admit(ip("2001:db8:1:2:ffff::9"));
        assert!(is_evicted(&mut a), "same /64");
        let mut c = pending.admit(ip("2001:db8:1:3::1"));
        assert!(!is_evicted(&mut c), "another /64");
        let mut d = pending.admit(ip("192.0.2.7"));
        let _e = pending.admit(ip("::ffff:192.0.2.7"));
        assert!(is_evicted(&mut d));
    }
}
