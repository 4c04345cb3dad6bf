//! The live activity map: edges (caller → callee) with their window figures, and a ring of
//! the latest verification failures. Bounded: at most [`MAX_EDGES`] edges (idle ones are
//! forgotten first) and [`MAX_FAILURES`] failures.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::window::{EdgeFigures, EdgeWindow, Observation, SlotShare, WINDOW_MS};

pub(super) const MAX_EDGES: usize = 512;
pub(super) const MAX_FAILURES: usize = 100;
/// Caller name of refused calls whose caller could not be authenticated.
pub(super) const UNVERIFIED: &str = "(unverified)";

/// One call event as reporters send it (docs/toki.md, "Activity map").
#[derive(Debug, Clone, Deserialize)]
pub struct CallEvent {
    pub ts_ms: i64,
    #[serde(default)]
    pub caller: Option<String>,
    pub callee: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub route: String,
    pub status: u16,
    #[serde(default)]
    pub latency_us: u64,
    #[serde(default)]
    pub bytes_in: u64,
    #[serde(default)]
    pub bytes_out: u64,
    #[serde(default)]
    pub failure: Option<String>,
}

impl From<keyway_toki_http::CallEvent> for CallEvent {
    /// An event of the hub's own toki layer (calls to the hub's APIs).
    fn from(event: keyway_toki_http::CallEvent) -> CallEvent {
        CallEvent {
            ts_ms: i64::try_from(event.ts_ms).unwrap_or(i64::MAX),
            caller: event.caller,
            callee: event.callee,
            method: event.method,
            route: event.route,
            status: event.status,
            latency_us: event.latency_us,
            bytes_in: event.bytes_in,
            bytes_out: event.bytes_out,
            failure: event.failure,
        }
    }
}

/// A refused call, as the failures table shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub ts_ms: i64,
    /// Authenticated for `forbidden`; otherwise only claimed (or absent).
    pub caller: Option<String>,
    pub callee: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub code: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub caller: String,
    pub callee: String,
    #[serde(flatten)]
    pub figures: EdgeFigures,
    pub last_seen_ms: i64,
}

/// What `/activity/v1/edges` and the stream answer.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub now_ms: i64,
    pub window_s: i64,
    pub nodes: Vec<String>,
    /// The registered name of each node, and of each client in `failures`, that has one
    /// (pages show names, ids on hover).
    pub names: BTreeMap<String, String>,
    pub edges: Vec<Edge>,
    pub failures: Vec<Failure>,
    pub events_total: u64,
    /// Events reporters say they dropped (full queue, failed report).
    pub reporter_dropped_total: u64,
    /// Events the hub could not place (too old, too new, or no room for a new edge).
    pub ignored_total: u64,
}

/// What one node of a cluster shares of its own map with the others (ARCHITECTURE.md, "The
/// activity map in a cluster"): its live edges' slots, its failures and counters, and the
/// names they use. Never what it learnt from other nodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeActivity {
    edges: Vec<EdgeShare>,
    failures: Vec<Failure>,
    names: Vec<(String, String)>,
    events_total: u64,
    reporter_dropped_total: u64,
    ignored_total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EdgeShare {
    caller: String,
    callee: String,
    last_seen_ms: i64,
    slots: Vec<SlotShare>,
}

#[derive(Default, Clone)]
struct State {
    edges: HashMap<(String, String), EdgeWindow>,
    /// Registered names of ids seen on edges (bounded: pruned to the ids of the live edges and
    /// the listed failures).
    names: HashMap<String, String>,
    failures: VecDeque<Failure>,
    events_total: u64,
    reporter_dropped_total: u64,
    ignored_total: u64,
}

#[derive(Default)]
pub struct ActivityMap {
    /// What this node saw.
    local: Mutex<State>,
    /// What the other nodes of a cluster shared last (replaced as a whole, read per snapshot).
    remote: Mutex<Arc<Vec<NodeActivity>>>,
}

/// A 5xx answer or a refusal counts as an error of its edge.
fn is_error(event: &CallEvent) -> bool {
    event.failure.is_some() || event.status >= 500
}

impl ActivityMap {
    /// Remembers registered names for ids; ids no longer on any edge or listed failure are
    /// forgotten first.
    pub fn remember_names(&self, names: impl IntoIterator<Item = (String, String)>) {
        let Ok(mut state) = self.local.lock() else {
            return;
        };
        for (id, name) in names {
            if state.names.len() >= 2 * MAX_EDGES && !state.names.contains_key(&id) {
                let State {
                    edges,
                    names,
                    failures,
                    ..
                } = &mut *state;
                names.retain(|known, _| {
                    edges.keys().any(|(a, b)| a == known || b == known)
                        || failures
                            .iter()
                            .any(|f| &f.callee == known || f.caller.as_ref() == Some(known))
                });
                if names.len() >= 2 * MAX_EDGES {
                    continue;
                }
            }
            state.names.insert(id, name);
        }
    }

    /// Adds a reporter's batch (its events already checked to be its own).
    pub fn ingest(&self, events: &[CallEvent], reporter_dropped: u64, now_ms: i64) {
        let Ok(mut state) = self.local.lock() else {
            return;
        };
        state.reporter_dropped_total += reporter_dropped;
        for event in events {
            state.events_total += 1;
            if let Some(code) = &event.failure {
                if state.failures.len() == MAX_FAILURES {
                    state.failures.pop_front();
                }
                state.failures.push_back(Failure {
                    ts_ms: event.ts_ms,
                    caller: event.caller.clone(),
                    callee: event.callee.clone(),
                    method: event.method.clone(),
                    route: event.route.clone(),
                    status: event.status,
                    code: code.clone(),
                });
            }
            // Only an authenticated caller names an edge: `forbidden` calls had a valid token.
            let authenticated = matches!(event.failure.as_deref(), None | Some("forbidden"));
            let caller = match (&event.caller, authenticated) {
                (Some(caller), true) => caller.clone(),
                _ => UNVERIFIED.to_owned(),
            };
            let observation = Observation {
                ts_ms: event.ts_ms,
                latency_us: event.latency_us,
                bytes_in: event.bytes_in,
                bytes_out: event.bytes_out,
                error: is_error(event),
                refused: event.failure.is_some(),
            };
            let key = (caller, event.callee.clone());
            if !state.edges.contains_key(&key) && state.edges.len() >= MAX_EDGES {
                state.edges.retain(|_, edge| !edge.is_idle(now_ms));
                if state.edges.len() >= MAX_EDGES {
                    state.ignored_total += 1;
                    continue;
                }
            }
            let placed = state
                .edges
                .entry(key)
                .or_default()
                .observe(observation, now_ms);
            if !placed {
                state.ignored_total += 1;
            }
        }
    }

    /// The edges active in the window ending at `now_ms`, sorted, and the latest failures
    /// (newest first): this node's and those the other nodes of a cluster shared last.
    pub fn snapshot(&self, now_ms: i64) -> Snapshot {
        let remote = self
            .remote
            .lock()
            .map(|remote| remote.clone())
            .unwrap_or_default();
        let Ok(mut state) = self.local.lock() else {
            return State::default().snapshot(now_ms);
        };
        state.edges.retain(|_, edge| !edge.is_idle(now_ms));
        if remote.is_empty() {
            return state.snapshot(now_ms);
        }
        let mut merged = state.clone();
        drop(state);
        for node in remote.iter() {
            merged.merge(node, now_ms);
        }
        merged.snapshot(now_ms)
    }

    /// This node's own activity, to share with the other nodes.
    pub fn share(&self, now_ms: i64) -> NodeActivity {
        let Ok(state) = self.local.lock() else {
            return NodeActivity::default();
        };
        let edges: Vec<EdgeShare> = state
            .edges
            .iter()
            .filter(|(_, window)| !window.is_idle(now_ms))
            .map(|((caller, callee), window)| EdgeShare {
                caller: caller.clone(),
                callee: callee.clone(),
                last_seen_ms: window.last_seen_ms,
                slots: window.share(now_ms),
            })
            .filter(|edge| !edge.slots.is_empty())
            .collect();
        let used: BTreeSet<&String> = edges
            .iter()
            .flat_map(|e| [&e.caller, &e.callee])
            .chain(
                state
                    .failures
                    .iter()
                    .flat_map(|f| f.caller.iter().chain([&f.callee])),
            )
            .collect();
        let names = used
            .into_iter()
            .filter_map(|id| Some((id.clone(), state.names.get(id)?.clone())))
            .collect();
        NodeActivity {
            edges,
            failures: state.failures.iter().cloned().collect(),
            names,
            events_total: state.events_total,
            reporter_dropped_total: state.reporter_dropped_total,
            ignored_total: state.ignored_total,
        }
    }

    /// Replaces what the other nodes shared.
    pub fn set_remote(&self, nodes: Vec<NodeActivity>) {
        if let Ok(mut remote) = self.remote.lock() {
            *remote = Arc::new(nodes);
        }
    }
}

impl State {
    /// Adds another node's share (a copy of this node's state is merged into, never the map).
    fn merge(&mut self, node: &NodeActivity, now_ms: i64) {
        for edge in &node.edges {
            let key = (edge.caller.clone(), edge.callee.clone());
            if !self.edges.contains_key(&key) && self.edges.len() >= MAX_EDGES {
                continue;
            }
            let window = self.edges.entry(key).or_default();
            for slot in &edge.slots {
                window.merge(slot, edge.last_seen_ms, now_ms);
            }
        }
        self.failures.extend(node.failures.iter().cloned());
        self.failures
            .make_contiguous()
            .sort_by_key(|failure| failure.ts_ms);
        while self.failures.len() > MAX_FAILURES {
            self.failures.pop_front();
        }
        for (id, name) in &node.names {
            self.names.entry(id.clone()).or_insert_with(|| name.clone());
        }
        self.events_total += node.events_total;
        self.reporter_dropped_total += node.reporter_dropped_total;
        self.ignored_total += node.ignored_total;
    }

    fn snapshot(&self, now_ms: i64) -> Snapshot {
        let mut edges: Vec<Edge> = self
            .edges
            .iter()
            .map(|((caller, callee), window)| Edge {
                caller: caller.clone(),
                callee: callee.clone(),
                figures: window.figures(now_ms),
                last_seen_ms: window.last_seen_ms,
            })
            .filter(|edge| edge.figures.calls > 0)
            .collect();
        edges.sort_by(|a, b| (&a.caller, &a.callee).cmp(&(&b.caller, &b.callee)));
        let nodes: BTreeSet<String> = edges
            .iter()
            .flat_map(|e| [e.caller.clone(), e.callee.clone()])
            .collect();
        // Names of the nodes and of the clients the failures table lists.
        let named = self
            .failures
            .iter()
            .flat_map(|f| f.caller.iter().chain([&f.callee]))
            .chain(nodes.iter());
        let names = named
            .filter_map(|id| Some((id.clone(), self.names.get(id)?.clone())))
            .collect();
        Snapshot {
            now_ms,
            window_s: WINDOW_MS / 1000,
            names,
            nodes: nodes.into_iter().collect(),
            edges,
            failures: self.failures.iter().rev().cloned().collect(),
            events_total: self.events_total,
            reporter_dropped_total: self.reporter_dropped_total,
            ignored_total: self.ignored_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(caller: Option<&str>, callee: &str, status: u16, failure: Option<&str>) -> CallEvent {
        CallEvent {
            ts_ms: 1_000_000,
            caller: caller.map(str::to_owned),
            callee: callee.into(),
            method: "POST".into(),
            route: "/v1/x".into(),
            status,
            latency_us: 2_000,
            bytes_in: 1,
            bytes_out: 2,
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn edges_failures_and_unverified_callers() {
        let map = ActivityMap::default();
        map.ingest(
            &[
                event(Some("orders"), "ledger", 200, None),
                event(Some("orders"), "ledger", 503, None),
                event(Some("orders"), "ledger", 403, Some("forbidden")),
                event(Some("mallory"), "ledger", 401, Some("bad_mac")),
            ],
            7,
            1_000_000,
        );
        let snap = map.snapshot(1_000_500);
        assert_eq!(snap.nodes, vec![UNVERIFIED, "ledger", "orders"]);
        let orders = &snap.edges[1];
        assert_eq!(
            (orders.caller.as_str(), orders.figures.calls),
            ("orders", 3)
        );
        assert_eq!((orders.figures.errors, orders.figures.refused), (2, 1));
        assert_eq!(snap.edges[0].caller, UNVERIFIED);
        assert_eq!(snap.failures.len(), 2);
        assert_eq!(snap.failures[0].code, "bad_mac", "newest first");
        assert_eq!((snap.events_total, snap.reporter_dropped_total), (4, 7));
    }

    #[test]
    fn names_cover_nodes_and_listed_failures() {
        let map = ActivityMap::default();
        map.remember_names([
            ("orders".to_string(), "Orders".to_string()),
            ("ledger".to_string(), "Ledger".to_string()),
            ("gone".to_string(), "Gone".to_string()),
        ]);
        // A failure far outside the window draws no edge, but the table still lists it.
        let stale = CallEvent {
            ts_ms: 1,
            ..event(Some("orders"), "ledger", 401, Some("bad_mac"))
        };
        map.ingest(&[stale], 0, 1_000_000);
        let snap = map.snapshot(1_000_000);
        assert!(snap.nodes.is_empty());
        assert_eq!(snap.names.get("ledger").map(String::as_str), Some("Ledger"));
        assert_eq!(snap.names.get("orders").map(String::as_str), Some("Orders"));
        assert!(
            !snap.names.contains_key("gone"),
            "only names in use are sent"
        );
    }

    #[test]
    fn another_node_s_share_adds_up_and_is_never_shared_again() {
        let here = ActivityMap::default();
        let there = ActivityMap::default();
        here.ingest(&[event(Some("orders"), "ledger", 200, None)], 0, 1_000_000);
        there.ingest(
            &[
                event(Some("orders"), "ledger", 200, None),
                event(Some("mallory"), "ledger", 401, Some("bad_mac")),
            ],
            3,
            1_000_000,
        );
        there.remember_names([("orders".to_string(), "Orders".to_string())]);
        // Through JSON, as the store carries it.
        let shared: NodeActivity =
            serde_json::from_str(&serde_json::to_string(&there.share(1_000_100)).unwrap()).unwrap();
        here.set_remote(vec![shared]);
        let snap = here.snapshot(1_000_200);
        let orders = snap.edges.iter().find(|e| e.caller == "orders").unwrap();
        assert_eq!(orders.figures.calls, 2, "both nodes' calls");
        assert_eq!(snap.failures.len(), 1);
        assert_eq!((snap.events_total, snap.reporter_dropped_total), (3, 3));
        assert_eq!(snap.names.get("orders").map(String::as_str), Some("Orders"));
        // This node shares only what it saw itself.
        let own = here.share(1_000_200);
        assert_eq!(own.edges.len(), 1);
        assert_eq!(own.events_total, 1);
        // Out of the window, the other node's calls are gone too.
        assert!(here.snapshot(1_000_000 + 2 * WINDOW_MS).edges.is_empty());
    }

    #[test]
    fn memory_stays_bounded() {
        let map = ActivityMap::default();
        let many: Vec<CallEvent> = (0..MAX_EDGES + 10)
            .map(|i| event(Some(&format!("svc{i}")), "ledger", 401, Some("replayed")))
            .collect();
        map.ingest(&many, 0, 1_000_000);
        let snap = map.snapshot(1_000_000);
        assert_eq!(snap.failures.len(), MAX_FAILURES);
        assert_eq!(snap.edges.len(), 1, "refusals share the unverified edge");
        let verified: Vec<CallEvent> = (0..MAX_EDGES + 10)
            .map(|i| event(Some(&format!("svc{i}")), "ledger", 200, None))
            .collect();
        map.ingest(&verified, 0, 1_000_000);
        let snap = map.snapshot(1_000_000);
        assert_eq!(snap.edges.len(), MAX_EDGES);
        assert_eq!(snap.ignored_total, 11);
        // Once idle, old edges make room.
        let later = 1_000_000 + 2 * WINDOW_MS;
        map.ingest(
            &[CallEvent {
                ts_ms: later,
                ..event(Some("new"), "ledger", 200, None)
            }],
            0,
            later,
        );
        assert_eq!(map.snapshot(later).edges.len(), 1);
    }
}
