//! The activity map across the nodes of a cluster (ARCHITECTURE.md, "The activity map in a
//! cluster"): every second each node writes what it saw itself to its row of
//! `activity_shares` and reads the other nodes' rows, so `/activity` on any node shows the
//! whole cluster's traffic within about a second. Two statements per node per second,
//! whatever the traffic; nothing on the call path.

use std::sync::Arc;
use std::time::Duration;

use keyway_auth::AuthService;

use super::{ActivityMap, NodeActivity};

/// How often a node shares its map and reads the others'.
const SHARE_EVERY: Duration = Duration::from_secs(1);
/// A node whose row is older than this is taken for gone (its calls leave the map).
const NODE_GONE_MS: i64 = 15_000;
/// A share larger than this (JSON) is not written; the node's calls then show on its own
/// page only. 512 edges of typical traffic take well under 1 MiB.
const MAX_SHARE_BYTES: usize = 8 << 20;

/// Shares this node's activity and takes in the other nodes', until `stop` changes. A round
/// under way is finished, never cut off (the hub closes its store after this returns).
pub(crate) async fn share_with_cluster(
    auth: Arc<AuthService>,
    map: Arc<ActivityMap>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SHARE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = share_once(&auth, &map).await {
                    tracing::warn!(%error, "sharing the activity map failed; will retry");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn share_once(auth: &AuthService, map: &ActivityMap) -> Result<(), String> {
    let now_ms = auth.clock().now_ms();
    let node = &auth.config().node_id;
    let payload = serde_json::to_string(&map.share(now_ms)).map_err(|e| e.to_string())?;
    if payload.len() <= MAX_SHARE_BYTES {
        auth.store()
            .share_activity(node, now_ms, &payload)
            .await
            .map_err(|e| e.to_string())?;
    } else {
        tracing::warn!(
            bytes = payload.len(),
            "activity share too large; not shared"
        );
    }
    let rows = auth
        .store()
        .activity_shares(node, now_ms - NODE_GONE_MS)
        .await
        .map_err(|e| e.to_string())?;
    let mut nodes = Vec::with_capacity(rows.len());
    for (other, payload) in rows {
        match serde_json::from_str::<NodeActivity>(&payload) {
            Ok(share) => nodes.push(share),
            Err(error) => tracing::warn!(node = %other, %error, "unreadable activity share"),
        }
    }
    map.set_remote(nodes);
    Ok(())
}
