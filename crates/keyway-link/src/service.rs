//! The hub's linking service: runs the [`Linker`] over the store, one chunk per transaction.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use aws_lc_rs::hmac;
use keyway_store::{
    LinkConflictRow, LinkHashRow, LinkPartnerRecord, LinkRecordRow, LinkStatsRow, Store, StoreError,
};
use thiserror::Error;

use crate::Rule;
use crate::linker::{
    DEFAULT_PRIORITY, Decision, Flag, HashEntry, Known, LinkRecord, Linker, StoredRecord,
};

/// Why a linkage administration request failed.
#[derive(Debug, Error)]
pub enum LinkAdminError {
    #[error("invalid partner code {0:?}: 1-32 letters, digits, '-' or '_'")]
    BadCode(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hub-side record linkage over a [`Store`].
pub struct LinkService {
    store: Store,
    key: hmac::Key,
    priority: Vec<Rule>,
    /// Records linked (`seq`) when the planner statistics were last refreshed.
    analyzed_at: AtomicI64,
}

/// Statistics are refreshed each time the number of linked records doubles from this.
const ANALYZE_FROM: i64 = 5_000;

impl std::fmt::Debug for LinkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkService({:?})", self.priority)
    }
}

impl LinkService {
    /// Opens the service with the hub's link key (kept sealed in the store by keyway-auth,
    /// `AuthService::hub_secret`).
    pub async fn open(store: Store, link_key: &[u8]) -> Result<LinkService, StoreError> {
        Ok(LinkService {
            store,
            key: hmac::Key::new(hmac::HMAC_SHA256, link_key),
            priority: DEFAULT_PRIORITY.to_vec(),
            analyzed_at: AtomicI64::new(0),
        })
    }

    /// Sets the rule priority that settles conflicts (rules left out come last).
    pub fn with_priority(mut self, priority: Vec<Rule>) -> LinkService {
        self.priority = priority;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Registers partner `code`, bound to OAuth client `client_id`.
    pub async fn create_partner(
        &self,
        code: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Result<LinkPartnerRecord, LinkAdminError> {
        let valid = !code.is_empty()
            && code.len() <= 32
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(LinkAdminError::BadCode(code.to_string()));
        }
        let record = LinkPartnerRecord {
            code: code.to_string(),
            client_id: client_id.to_string(),
            created_at: now_ms,
        };
        self.store.insert_link_partner(&record).await?;
        Ok(record)
    }

    pub async fn partners(&self) -> Result<Vec<LinkPartnerRecord>, StoreError> {
        self.store.link_partners().await
    }

    pub async fn partner_for_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        self.store.link_partner_for_client(client_id).await
    }

    pub async fn conflicts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LinkConflictRow>, StoreError> {
        self.store.link_conflicts(after, limit).await
    }

    pub async fn stats(&self) -> Result<LinkStatsRow, StoreError> {
        self.store.link_stats().await
    }

    /// Refreshes the link tables' statistics when the linked records have doubled since the
    /// last time (a handful of ANALYZE runs for any table size). A failure only costs speed.
    async fn refresh_statistics(&self, linked: i64) {
        let last = self.analyzed_at.load(Ordering::Relaxed);
        if linked < 2 * last.max(ANALYZE_FROM) {
            return;
        }
        if self
            .analyzed_at
            .compare_exchange(last, linked, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // another batch is refreshing them
        }
        if let Err(err) = self.store.analyze_link_tables().await {
            tracing::warn!(%err, "could not refresh the link tables' statistics");
        }
    }

    /// Links `records` of `partner` in order, in one transaction holding the link lock.
    pub async fn link_chunk(
        &self,
        partner: &str,
        records: &[LinkRecord],
        now_ms: i64,
    ) -> Result<Vec<Decision>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let mut tx = self.store.begin_link().await?;
        let patids: Vec<&str> = records.iter().map(|r| r.patid.as_str()).collect();
        let hashes: BTreeSet<&str> = records
            .iter()
            .flat_map(|r| r.hashes.iter().map(|(_, h)| h.as_str()))
            .collect();
        let hashes: Vec<&str> = hashes.into_iter().collect();
        let mut known = Known::with_capacity(records.len(), hashes.len());
        for row in tx.records(partner, &patids).await? {
            let flag = Flag::parse(&row.flag).ok_or(StoreError::Corrupt("link_records.flag"))?;
            known.records.insert(
                row.patid,
                StoredRecord {
                    uuid: row.uuid,
                    flag,
                    reason: row.reason,
                },
            );
        }
        let mut uuids = BTreeSet::new();
        for row in tx.hash_entries(&hashes).await? {
            let rule = Rule::from_code(row.rule).ok_or(StoreError::Corrupt("link_hashes.rule"))?;
            uuids.insert(row.uuid.clone());
            known.add_entry(
                rule,
                row.hash,
                HashEntry {
                    partner: row.partner,
                    patid: row.patid,
                    uuid: row.uuid,
                },
            );
        }
        let uuids: Vec<&str> = uuids.iter().map(String::as_str).collect();
        known
            .partner_uuids
            .extend(tx.partner_uuids(partner, &uuids).await?);
        let read = started.elapsed();
        let mut linker = Linker::new(&self.key, &self.priority, partner, known, tx.next_seq);
        let decisions: Vec<Decision> = records.iter().map(|r| linker.link(r)).collect();
        let (rows, next_seq) = linker.finish();
        let record_rows: Vec<LinkRecordRow> = rows
            .records
            .into_iter()
            .map(|r| LinkRecordRow {
                partner: partner.to_string(),
                patid: r.patid,
                uuid: r.uuid,
                flag: r.flag.as_str().to_string(),
                reason: r.reason,
                seq: r.seq,
                created_at: now_ms,
            })
            .collect();
        let hash_rows: Vec<LinkHashRow> = rows
            .hashes
            .into_iter()
            .map(|(rule, hash, seq)| LinkHashRow {
                hash,
                rule: rule.code(),
                seq,
            })
            .collect();
        let conflict_rows: Vec<LinkConflictRow> = rows
            .conflicts
            .into_iter()
            .map(|c| LinkConflictRow {
                seq: c.seq,
                partner: partner.to_string(),
                patid: c.patid,
                chosen_uuid: c.chosen,
                candidates: serde_json::to_string(&c.candidates).unwrap_or_default(),
                reason: c.reason,
                created_at: now_ms,
            })
            .collect();
        let decided = started.elapsed();
        tx.insert_records(&record_rows).await?;
        tx.insert_hashes(&hash_rows).await?;
        tx.insert_conflicts(&conflict_rows).await?;
        let written = started.elapsed();
        tx.commit(next_seq).await?;
        // Where a chunk's time goes, for whoever tunes a hub (RUST_LOG=keyway_link=debug).
        tracing::debug!(
            records = records.len(),
            read_ms = read.as_millis() as u64,
            link_ms = (decided - read).as_millis() as u64,
            write_ms = (written - decided).as_millis() as u64,
            commit_ms = (started.elapsed() - written).as_millis() as u64,
            "linked a chunk"
        );
        self.refresh_statistics(next_seq).await;
        Ok(decisions)
    }
}
