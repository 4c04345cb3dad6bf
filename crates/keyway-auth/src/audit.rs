//! The audit log: every cross-client decision (transmit, token exchange, gateway call) and
//! every admin change, appended to the store's `audit_events` (never updated, pruned after
//! the configured retention).
//!
//! Decisions happen on hot paths, so a serving hub queues them to one writer task that
//! appends what gathered in a second in one transaction, identical decisions (all but their
//! time) as one entry with their count (a gateway busy with one caller writes a row a second,
//! not one per call); the queue is bounded and a full one makes the caller wait rather than
//! lose an entry. Admin commands, which run without that task, append directly.

use std::collections::HashMap;
use tokio::time::Instant;

use keyway_store::{AuditEntry, Store};
use tokio::sync::{mpsc, oneshot};

use crate::AuthService;

/// Entries waiting for the writer at most; beyond, callers wait (back-pressure).
const QUEUE: usize = 8_192;
/// Entries per transaction at most.
const MAX_BATCH: usize = 1_000;
/// How long a flush may wait for the writer.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often the writer looks at its queue while entries wait.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);
/// How long an entry waits for identical ones before it is written.
const HOLD: std::time::Duration = std::time::Duration::from_secs(1);
/// The outcome of an admin change.
const DONE: &str = "done";
/// Longest reason kept: a reason may quote request text.
const MAX_REASON: usize = 1_000;
/// Distinct decisions of one client, action, outcome, target and kind (see [`Allowance`])
/// kept apart in one batch; the rest are counted in one entry (reason [`OVERFLOW`]): ids in
/// a REST API's paths, or a flood of made-up ones, would otherwise make a row of every call.
const MAX_DISTINCT: usize = 100;
/// Targets of one client's refused decisions of an action with an allowance of their own in
/// one batch; the others share one (allowed decisions' targets, which rules name, each have
/// their own). A flood of calls to one target (or of made-up targets) cannot use up the
/// allowance of the next target's calls and hide them in a count.
const MAX_TARGETS: usize = 8;
/// The reason of the entry counting what [`MAX_DISTINCT`] left out.
const OVERFLOW: &str = "more decisions of this client, action, outcome and target in this \
                        second than the log keeps apart (100): the others are counted here";

/// `text`, cut to at most `MAX_REASON` characters.
fn bounded(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_REASON) {
        text.truncate(at);
        text.push('…');
    }
    text
}

enum Message {
    Entry(AuditEntry),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
pub(crate) struct AuditLog {
    writer: std::sync::OnceLock<mpsc::Sender<Message>>,
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Refused,
}

/// One cross-client decision, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// `transmit`, `exchange` or `gateway`.
    pub action: &'a str,
    /// The client that asked.
    pub client: &'a str,
    /// The client it asked for, when known.
    pub target: Option<&'a str>,
    /// The user whose authority crossed, when there is one.
    pub user_id: Option<&'a str>,
    /// The rule that decided, when one did.
    pub rule: Option<String>,
    pub outcome: Outcome,
    /// Why it was refused (or what was granted).
    pub reason: String,
}

impl AuditLog {
    async fn append(&self, store: &Store, entry: AuditEntry) {
        let entry = match self.writer.get() {
            Some(writer) => match writer.send(Message::Entry(entry)).await {
                Ok(()) => return,
                Err(mpsc::error::SendError(Message::Entry(entry))) => entry,
                Err(_) => return,
            },
            None => entry,
        };
        if let Err(err) = store.append_audit(std::slice::from_ref(&entry)).await {
            tracing::error!(action = %entry.action, %err, "cannot write to the audit log");
        }
    }
}

/// The writer's entries not yet written: identical decisions are one entry with a count.
#[derive(Default)]
struct Gathered {
    entries: Vec<AuditEntry>,
    /// Where each decision's first occurrence is in `entries`.
    decisions: HashMap<DecisionKey, usize>,
    /// Entries per allowance in `entries`.
    distinct: HashMap<Allowance, Kept>,
    /// Targets of refusals with an allowance of their own, per (client, action, outcome).
    targets: HashMap<(String, String, String), std::collections::HashSet<Option<String>>>,
    /// When the oldest entry arrived.
    since: Option<Instant>,
}

/// Entries of one client, action and outcome in a batch: its distinct decisions, and the
/// entries counting the others per target, user and rule.
#[derive(Default)]
struct Kept {
    decisions: usize,
    overflows: usize,
}

/// Which distinct decisions share one [`MAX_DISTINCT`]: those of one client, action,
/// outcome and target (`None`: past [`MAX_TARGETS`]) and, for gateway calls, kind of method
/// ([`kind_of`]), so that a flood of reads, or of one kind of write, does not hide a call of
/// another kind.
#[derive(PartialEq, Eq, Hash, Clone)]
struct Allowance {
    actor: String,
    action: String,
    outcome: String,
    target: Option<String>,
    kind: &'static str,
}

/// A gateway call's kind of method (its reason starts with the method): reads together,
/// each common write on its own, other methods together (made-up methods cannot make
/// allowances without bound). Other decisions are of one kind.
fn kind_of(key: &DecisionKey) -> &'static str {
    if key.action != "gateway" {
        return "decision";
    }
    let method = key
        .reason
        .as_deref()
        .and_then(|reason| reason.split(' ').next())
        .unwrap_or_default();
    match method {
        "GET" | "HEAD" | "OPTIONS" => "read",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "other",
    }
}

/// What makes two decisions the same (all but their time).
#[derive(PartialEq, Eq, Hash)]
struct DecisionKey {
    actor: String,
    action: String,
    outcome: String,
    target: Option<String>,
    user_id: Option<String>,
    rule: Option<String>,
    reason: Option<String>,
}

impl Gathered {
    /// The allowance `key` counts against: its target's own (for a refusal, while fewer
    /// than [`MAX_TARGETS`] targets of its client and action have one).
    fn allowance(&mut self, key: &DecisionKey) -> Allowance {
        let mut allowance = Allowance {
            actor: key.actor.clone(),
            action: key.action.clone(),
            outcome: key.outcome.clone(),
            target: key.target.clone(),
            kind: kind_of(key),
        };
        // An allowed decision's target is one a rule names (so their number is the
        // operator's); a refused one's may be made up.
        if allowance.outcome != "allowed" {
            let group = (key.actor.clone(), key.action.clone(), key.outcome.clone());
            let owned = self.targets.entry(group).or_default();
            if !owned.contains(&allowance.target) {
                if owned.len() < MAX_TARGETS {
                    owned.insert(allowance.target.clone());
                } else {
                    allowance.target = None;
                }
            }
        }
        allowance
    }

    fn add(&mut self, entry: AuditEntry) {
        self.since.get_or_insert_with(Instant::now);
        // Admin changes are rare and each is told apart by its time: never merged.
        if entry.outcome == DONE {
            self.entries.push(entry);
            return;
        }
        let key = DecisionKey {
            actor: entry.actor,
            action: entry.action,
            outcome: entry.outcome,
            target: entry.target,
            user_id: entry.user_id,
            rule: entry.rule,
            reason: entry.reason,
        };
        if let Some(&at) = self.decisions.get(&key) {
            self.entries[at].occurrences += 1;
            return;
        }
        let group = self.allowance(&key);
        let kept = self.distinct.entry(group).or_default();
        let key = if kept.decisions < MAX_DISTINCT {
            kept.decisions += 1;
            key
        } else {
            // Counted with others of the same target, user and rule; past as many of those,
            // with every other one of the client, action and outcome.
            let mut overflow = DecisionKey {
                reason: Some(OVERFLOW.to_string()),
                ..key
            };
            if !self.decisions.contains_key(&overflow) {
                if kept.overflows < MAX_DISTINCT {
                    kept.overflows += 1;
                } else {
                    overflow.target = None;
                    overflow.user_id = None;
                    overflow.rule = None;
                }
            }
            if let Some(&at) = self.decisions.get(&overflow) {
                self.entries[at].occurrences += 1;
                return;
            }
            overflow
        };
        self.entries.push(AuditEntry {
            at_ms: entry.at_ms,
            actor: key.actor.clone(),
            action: key.action.clone(),
            outcome: key.outcome.clone(),
            target: key.target.clone(),
            user_id: key.user_id.clone(),
            rule: key.rule.clone(),
            reason: key.reason.clone(),
            occurrences: 1,
        });
        self.decisions.insert(key, self.entries.len() - 1);
    }

    /// Whether it is time to write: a second has passed, or the batch is full.
    fn due(&self) -> bool {
        self.entries.len() >= MAX_BATCH || self.since.is_some_and(|t| t.elapsed() >= HOLD)
    }

    async fn write(&mut self, store: &Store) {
        if let Err(err) = store.append_audit(&self.entries).await {
            tracing::error!(entries = self.entries.len(), %err, "cannot write to the audit log");
        }
        self.entries.clear();
        self.decisions.clear();
        self.distinct.clear();
        self.targets.clear();
        self.since = None;
    }
}

async fn run_writer(store: Store, mut queue: mpsc::Receiver<Message>) {
    let mut gathered = Gathered::default();
    let mut flushed = Vec::new();
    let mut open = true;
    while open {
        if gathered.entries.is_empty() {
            match queue.recv().await {
                Some(Message::Entry(entry)) => gathered.add(entry),
                Some(Message::Flush(done)) => flushed.push(done),
                None => break,
            }
        }
        // Under load, entries come thousands a second: the writer looks at the queue every
        // GATHER rather than being woken for each (a wake-up across threads costs more than
        // the entry), and writes once a second (or when asked to flush).
        if flushed.is_empty() {
            tokio::time::sleep(GATHER).await;
        }
        loop {
            match queue.try_recv() {
                Ok(Message::Entry(entry)) => gathered.add(entry),
                Ok(Message::Flush(done)) => flushed.push(done),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
            // A queue that never empties must not hold the write (or a flush) back.
            if gathered.due() {
                break;
            }
        }
        if !flushed.is_empty() || !open || gathered.due() {
            gathered.write(&store).await;
            for done in flushed.drain(..) {
                let _ = done.send(());
            }
        }
    }
    gathered.write(&store).await;
}

impl AuthService {
    /// Starts the task that writes queued audit entries (a serving hub; admin commands write
    /// directly). Calling it again does nothing.
    pub fn start_audit_writer(&self) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        if self.audit.writer.set(sender).is_ok() {
            tokio::spawn(run_writer(self.store.clone(), receiver));
        }
    }

    /// Waits until every entry queued so far is in the store (at most 10 s: a store that
    /// does not answer must not keep a hub from stopping; what was lost is logged).
    pub async fn flush_audit(&self) {
        let Some(writer) = self.audit.writer.get() else {
            return;
        };
        let flushed = async {
            let (done, wait) = oneshot::channel();
            if writer.send(Message::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        };
        if tokio::time::timeout(FLUSH_LIMIT, flushed).await.is_err() {
            tracing::error!(
                waiting = writer.max_capacity() - writer.capacity(),
                "the audit log was not flushed within {FLUSH_LIMIT:?}"
            );
        }
    }

    /// Records a cross-client decision.
    pub async fn audit_decision(&self, decision: Decision<'_>) {
        let entry = AuditEntry {
            at_ms: self.clock.now_ms(),
            actor: decision.client.to_string(),
            action: decision.action.to_string(),
            outcome: match decision.outcome {
                Outcome::Allowed => "allowed",
                Outcome::Refused => "refused",
            }
            .to_string(),
            target: decision.target.map(str::to_string),
            user_id: decision.user_id.map(str::to_string),
            rule: decision.rule,
            reason: Some(bounded(decision.reason)),
            occurrences: 1,
        };
        self.audit.append(&self.store, entry).await;
    }

    /// Records an admin change made by this service's admin actor (`cli:USER`, `hub`, …).
    pub(crate) async fn audit_change(&self, action: &str, target: &str, what: Option<String>) {
        self.audit_change_by(&self.admin_actor, action, target, what)
            .await;
    }

    /// Records an admin change made by `actor` (e.g. `scim:CLIENT` for a provisioning client).
    pub async fn audit_change_by(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        what: Option<String>,
    ) {
        let entry = AuditEntry {
            at_ms: self.clock.now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            outcome: DONE.to_string(),
            target: Some(target.to_string()),
            user_id: None,
            rule: None,
            reason: what.map(bounded),
            occurrences: 1,
        };
        self.audit.append(&self.store, entry).await;
    }

    /// Names who makes this service's admin changes in the audit log (default `hub`).
    pub fn with_admin_actor(mut self, actor: impl Into<String>) -> AuthService {
        self.admin_actor = actor.into();
        self
    }

    /// The newest `limit` audit entries at or after `since_ms`, oldest first.
    pub async fn latest_audit_events(
        &self,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<keyway_store::AuditRecord>, crate::AdminError> {
        Ok(self.store.latest_audit_events(since_ms, limit).await?)
    }

    /// Audit entries at or after `since_ms`, oldest first, at most `limit` after `after_id`.
    pub async fn audit_events(
        &self,
        since_ms: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<keyway_store::AuditRecord>, crate::AdminError> {
        Ok(self.store.audit_events(since_ms, after_id, limit).await?)
    }

    /// Deletes audit entries older than the retention (the hub's upkeep, once a minute).
    pub async fn prune_audit(&self) -> Result<(), crate::AdminError> {
        let before = self.clock.now_ms() - self.config.audit_retention * 1000;
        self.store.prune_audit(before).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(actor: &str, target: &str, reason: String) -> AuditEntry {
        AuditEntry {
            at_ms: 1,
            actor: actor.into(),
            action: "gateway".into(),
            outcome: "allowed".into(),
            target: Some(target.into()),
            user_id: None,
            rule: Some("a -> b call".into()),
            reason: Some(reason),
            occurrences: 1,
        }
    }

    /// Identical decisions are one entry; distinct ones are kept apart up to MAX_DISTINCT per
    /// client, action, outcome and target (and kind of method), the rest
    /// counted per target, user and rule (up to as many entries), then all together: a
    /// caller walking `/orders/{id}`, or making up target names, writes a bounded number of
    /// rows a second, and no call goes uncounted.
    #[test]
    fn distinct_decisions_are_bounded_and_counted() {
        let mut gathered = Gathered::default();
        for _ in 0..3 {
            gathered.add(decision("shop", "b", "GET /orders -> 200".into()));
        }
        for id in 0..250 {
            gathered.add(decision("shop", "b", format!("GET /orders/{id} -> 200")));
        }
        gathered.add(decision("crm", "b", "GET /orders/7 -> 200".into()));
        let shop: Vec<_> = gathered
            .entries
            .iter()
            .filter(|e| e.actor == "shop")
            .collect();
        assert_eq!(shop.len(), MAX_DISTINCT + 1);
        assert_eq!(shop[0].occurrences, 3);
        let overflow = shop.last().unwrap();
        assert_eq!(overflow.reason.as_deref(), Some(OVERFLOW));
        assert_eq!(overflow.target.as_deref(), Some("b"), "still which target");
        assert_eq!(shop.iter().map(|e| e.occurrences).sum::<i64>(), 253);
        // Another client has its own allowance.
        assert!(
            gathered
                .entries
                .iter()
                .any(|e| e.actor == "crm" && e.occurrences == 1)
        );

        // Made-up targets: bounded all the same.
        let mut gathered = Gathered::default();
        for n in 0..1_000 {
            let mut refused = decision("probe", &format!("t{n}"), format!("no client t{n}"));
            refused.outcome = "refused".into();
            gathered.add(refused);
        }
        assert_eq!(gathered.entries.len(), MAX_TARGETS + 2 * MAX_DISTINCT + 1);
        let last = gathered.entries.last().unwrap();
        let counted = 1_000 - MAX_TARGETS - 2 * MAX_DISTINCT;
        assert_eq!(
            (last.target.as_deref(), last.occurrences),
            (None, i64::try_from(counted).unwrap())
        );
    }

    /// A flood of reads, of another kind of write, or of calls to another target, does not
    /// use up the allowance of the call that follows: it is kept apart, with its method and
    /// path.
    #[test]
    fn a_flood_does_not_hide_the_next_call() {
        let mut gathered = Gathered::default();
        for id in 0..500 {
            gathered.add(decision("shop", "b", format!("GET /orders/{id} -> 200")));
            gathered.add(decision("shop", "own", format!("GET /x{id} -> 502")));
        }
        for id in 0..500 {
            gathered.add(decision("shop", "b", format!("POST /carts/{id} -> 201")));
        }
        gathered.add(decision("shop", "b", "DELETE /users/43 -> 204".into()));
        gathered.add(decision("shop", "c", "GET /secrets -> 200".into()));
        for kept in ["DELETE /users/43 -> 204", "GET /secrets -> 200"] {
            assert!(
                gathered
                    .entries
                    .iter()
                    .any(|e| e.reason.as_deref() == Some(kept) && e.occurrences == 1),
                "{kept} hidden in a count"
            );
        }
    }
}
