//! Per-edge statistics over a sliding window, in fixed memory: [`SLOTS`] slots of [`SLOT_MS`]
//! each, recycled as time moves on, each with a log-scale latency histogram (4 buckets per
//! doubling, so a percentile is exact to within 19 %). Time is a parameter (`now_ms`).

/// Width of one slot.
pub(super) const SLOT_MS: i64 = 5_000;
/// Slots in the window: 12 × 5 s = the last 60 s.
pub(super) const SLOTS: usize = 12;
/// The window's length.
pub(super) const WINDOW_MS: i64 = SLOT_MS * SLOTS as i64;

/// Buckets per doubling of latency.
const SUB: u32 = 4;
/// 1 µs to 2^30 µs (about 18 minutes); slower calls land in the last bucket.
const BUCKETS: usize = 30 * SUB as usize;

/// The histogram bucket of a latency in microseconds.
fn bucket(latency_us: u64) -> usize {
    let us = latency_us.max(1);
    let octave = 63 - us.leading_zeros();
    // The two bits below the leading one pick the quarter of the octave.
    let sub = if octave >= 2 {
        ((us >> (octave - 2)) & 0b11) as u32
    } else {
        ((us << (2 - octave)) & 0b11) as u32
    };
    ((octave * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in microseconds (what a percentile reports).
fn bucket_upper_us(index: usize) -> f64 {
    let octave = (index as u32 / SUB) as i32;
    let sub = (index as u32 % SUB) as f64;
    2f64.powi(octave) * (1.0 + (sub + 1.0) / SUB as f64)
}

#[derive(Clone)]
struct Slot {
    /// Which slot of time this holds (`ts_ms / SLOT_MS`); stale slots are reset on reuse.
    epoch: i64,
    calls: u64,
    errors: u64,
    refused: u64,
    bytes_in: u64,
    bytes_out: u64,
    latency: Box<[u32; BUCKETS]>,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            epoch: i64::MIN,
            calls: 0,
            errors: 0,
            refused: 0,
            bytes_in: 0,
            bytes_out: 0,
            latency: Box::new([0; BUCKETS]),
        }
    }

    fn reset(&mut self, epoch: i64) {
        self.epoch = epoch;
        self.calls = 0;
        self.errors = 0;
        self.refused = 0;
        self.bytes_in = 0;
        self.bytes_out = 0;
        self.latency.fill(0);
    }
}

/// One slot as a node shares it with the others: its histogram as (bucket, count) pairs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct SlotShare {
    epoch: i64,
    calls: u64,
    errors: u64,
    refused: u64,
    bytes_in: u64,
    bytes_out: u64,
    latency: Vec<(u16, u32)>,
}

/// One observed call, as far as the statistics care.
#[derive(Debug, Clone, Copy)]
pub(super) struct Observation {
    pub ts_ms: i64,
    pub latency_us: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// A 5xx answer or a refusal.
    pub error: bool,
    /// Refused by toki verification or authorisation.
    pub refused: bool,
}

/// An edge's figures over the window ending at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EdgeFigures {
    pub calls: u64,
    pub rate_per_s: f64,
    pub errors: u64,
    pub error_ratio: f64,
    pub refused: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The sliding window of one edge.
#[derive(Clone)]
pub(super) struct EdgeWindow {
    slots: Vec<Slot>,
    pub last_seen_ms: i64,
}

impl Default for EdgeWindow {
    fn default() -> Self {
        EdgeWindow {
            slots: vec![Slot::empty(); SLOTS],
            last_seen_ms: 0,
        }
    }
}

impl EdgeWindow {
    /// Adds a call; calls older than the window (or from beyond `now_ms` + one slot, a
    /// reporter's bad clock) are ignored and `false` is returned.
    pub(super) fn observe(&mut self, call: Observation, now_ms: i64) -> bool {
        if call.ts_ms <= now_ms - WINDOW_MS || call.ts_ms > now_ms + SLOT_MS {
            return false;
        }
        let epoch = call.ts_ms.div_euclid(SLOT_MS);
        let slot = &mut self.slots[epoch.rem_euclid(SLOTS as i64) as usize];
        if slot.epoch != epoch {
            if slot.epoch > epoch {
                return false; // the slot already holds newer time
            }
            slot.reset(epoch);
        }
        slot.calls += 1;
        slot.errors += u64::from(call.error);
        slot.refused += u64::from(call.refused);
        slot.bytes_in = slot.bytes_in.saturating_add(call.bytes_in);
        slot.bytes_out = slot.bytes_out.saturating_add(call.bytes_out);
        slot.latency[bucket(call.latency_us)] += 1;
        self.last_seen_ms = self.last_seen_ms.max(call.ts_ms);
        true
    }

    /// The figures of the slots still inside the window ending at `now_ms`.
    pub(super) fn figures(&self, now_ms: i64) -> EdgeFigures {
        let newest = now_ms.div_euclid(SLOT_MS);
        let live = self
            .slots
            .iter()
            .filter(|s| s.epoch > newest - SLOTS as i64 && s.epoch <= newest + 1);
        let mut histogram = [0u64; BUCKETS];
        let mut f = EdgeFigures {
            calls: 0,
            rate_per_s: 0.0,
            errors: 0,
            error_ratio: 0.0,
            refused: 0,
            p50_ms: 0.0,
            p99_ms: 0.0,
            bytes_in: 0,
            bytes_out: 0,
        };
        for slot in live {
            f.calls += slot.calls;
            f.errors += slot.errors;
            f.refused += slot.refused;
            f.bytes_in = f.bytes_in.saturating_add(slot.bytes_in);
            f.bytes_out = f.bytes_out.saturating_add(slot.bytes_out);
            for (sum, count) in histogram.iter_mut().zip(slot.latency.iter()) {
                *sum += u64::from(*count);
            }
        }
        if f.calls > 0 {
            f.rate_per_s = f.calls as f64 * 1000.0 / WINDOW_MS as f64;
            f.error_ratio = f.errors as f64 / f.calls as f64;
            f.p50_ms = percentile(&histogram, f.calls, 0.50) / 1000.0;
            f.p99_ms = percentile(&histogram, f.calls, 0.99) / 1000.0;
        }
        f
    }

    /// The live slots that saw calls, for the other nodes of a cluster (sparse histograms).
    pub(super) fn share(&self, now_ms: i64) -> Vec<SlotShare> {
        let newest = now_ms.div_euclid(SLOT_MS);
        self.slots
            .iter()
            .filter(|s| s.calls > 0 && s.epoch > newest - SLOTS as i64 && s.epoch <= newest + 1)
            .map(|s| SlotShare {
                epoch: s.epoch,
                calls: s.calls,
                errors: s.errors,
                refused: s.refused,
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                latency: s
                    .latency
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(index, count)| (index as u16, *count))
                    .collect(),
            })
            .collect()
    }

    /// Adds another node's slot (slots are aligned on absolute time, so they add up); a slot
    /// outside the window, or older than the one in its place, is skipped.
    pub(super) fn merge(&mut self, shared: &SlotShare, last_seen_ms: i64, now_ms: i64) {
        let newest = now_ms.div_euclid(SLOT_MS);
        if shared.epoch <= newest - SLOTS as i64 || shared.epoch > newest + 1 {
            return;
        }
        let slot = &mut self.slots[shared.epoch.rem_euclid(SLOTS as i64) as usize];
        if slot.epoch > shared.epoch {
            return;
        }
        if slot.epoch < shared.epoch {
            slot.reset(shared.epoch);
        }
        slot.calls = slot.calls.saturating_add(shared.calls);
        slot.errors = slot.errors.saturating_add(shared.errors);
        slot.refused = slot.refused.saturating_add(shared.refused);
        slot.bytes_in = slot.bytes_in.saturating_add(shared.bytes_in);
        slot.bytes_out = slot.bytes_out.saturating_add(shared.bytes_out);
        for (index, count) in &shared.latency {
            if let Some(bucket) = slot.latency.get_mut(usize::from(*index)) {
                *bucket = bucket.saturating_add(*count);
            }
        }
        self.last_seen_ms = self.last_seen_ms.max(last_seen_ms);
    }

    /// Whether nothing of this edge is left in the window (it can be forgotten).
    pub(super) fn is_idle(&self, now_ms: i64) -> bool {
        self.last_seen_ms <= now_ms - WINDOW_MS
    }
}

/// The latency (µs, a bucket's upper bound) below which `q` of the `total` calls fall.
fn percentile(histogram: &[u64; BUCKETS], total: u64, q: f64) -> f64 {
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (index, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return bucket_upper_us(index);
        }
    }
    bucket_upper_us(BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(ts_ms: i64, latency_us: u64, error: bool) -> Observation {
        Observation {
            ts_ms,
            latency_us,
            bytes_in: 10,
            bytes_out: 20,
            error,
            refused: false,
        }
    }

    #[test]
    fn buckets_grow_monotonically_and_bound_their_values() {
        let mut last = 0;
        for us in 1..100_000u64 {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let upper = bucket_upper_us(b);
            assert!(
                us as f64 <= upper && upper <= us as f64 * 1.26,
                "{us} -> {upper}"
            );
        }
        assert_eq!(bucket(0), bucket(1));
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_within_a_bucket_of_the_truth() {
        let mut edge = EdgeWindow::default();
        let now = 1_000_000;
        // 1..=1000 ms, one call each: p50 = 500 ms, p99 = 990 ms.
        for ms in 1..=1000u64 {
            assert!(edge.observe(call(now - 1000, ms * 1000, ms % 10 == 0), now));
        }
        let f = edge.figures(now);
        assert_eq!(f.calls, 1000);
        assert!((500.0..=500.0 * 1.19).contains(&f.p50_ms), "{}", f.p50_ms);
        assert!((990.0..=990.0 * 1.19).contains(&f.p99_ms), "{}", f.p99_ms);
        assert_eq!(f.errors, 100);
        assert!((f.error_ratio - 0.1).abs() < 1e-9);
        assert!((f.rate_per_s - 1000.0 / 60.0).abs() < 1e-9);
        assert_eq!((f.bytes_in, f.bytes_out), (10_000, 20_000));
    }

    #[test]
    fn the_window_slides_and_forgets() {
        let mut edge = EdgeWindow::default();
        let start = 10 * WINDOW_MS;
        for second in 0..60 {
            edge.observe(
                call(start + second * 1000, 100, false),
                start + second * 1000,
            );
        }
        let end = start + 59_000;
        assert_eq!(edge.figures(end).calls, 60);
        // 30 s later, the first half has left the window (to slot granularity).
        let later = end + 30_000;
        let calls = edge.figures(later).calls;
        assert!((25..=35).contains(&calls), "{calls}");
        assert!(!edge.is_idle(later));
        // New calls reuse old slots without mixing with their old counts.
        edge.observe(call(later, 100, true), later);
        assert_eq!(edge.figures(later).errors, 1);
        let gone = later + WINDOW_MS + SLOT_MS;
        assert_eq!(edge.figures(gone).calls, 0);
        assert!(edge.is_idle(gone));
    }

    #[test]
    fn stale_and_future_calls_are_ignored() {
        let mut edge = EdgeWindow::default();
        let now = 100 * WINDOW_MS;
        assert!(!edge.observe(call(now - WINDOW_MS, 1, false), now));
        assert!(!edge.observe(call(now + 2 * SLOT_MS, 1, false), now));
        assert!(edge.observe(call(now, 1, false), now));
        assert_eq!(edge.figures(now).calls, 1);
    }
}
