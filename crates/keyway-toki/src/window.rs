/// Anti-replay for per-call counters: a sliding window of `WINDOW_BITS` counters below the
/// highest one accepted (the RFC 4303 §3.4.3 / RFC 6479 scheme). Requests on one session may
/// arrive in any order as long as they are within the window; each counter is accepted once.
pub const WINDOW_BITS: u64 = 1024;
const WORDS: usize = (WINDOW_BITS / 64) as usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowVerdict {
    Fresh,
    Replayed,
    BelowWindow,
}

#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// The highest counter accepted so far; 0 means none (counters start at 1).
    highest: u64,
    /// Bit `i` set: counter `highest - i` was accepted. Word 0 holds bits 0-63.
    seen: [u64; WORDS],
}

impl ReplayWindow {
    pub fn new() -> ReplayWindow {
        ReplayWindow::default()
    }

    /// What accepting `counter` would mean, without recording it.
    pub fn check(&self, counter: u64) -> WindowVerdict {
        if counter == 0 {
            return WindowVerdict::BelowWindow;
        }
        if counter > self.highest {
            return WindowVerdict::Fresh;
        }
        let offset = self.highest - counter;
        if offset >= WINDOW_BITS {
            return WindowVerdict::BelowWindow;
        }
        if self.bit(offset) {
            WindowVerdict::Replayed
        } else {
            WindowVerdict::Fresh
        }
    }

    /// Records `counter` if it is fresh; returns the verdict either way.
    pub fn accept(&mut self, counter: u64) -> WindowVerdict {
        let verdict = self.check(counter);
        if verdict != WindowVerdict::Fresh {
            return verdict;
        }
        if counter > self.highest {
            self.shift(counter - self.highest);
            self.highest = counter;
            self.seen[0] |= 1;
        } else {
            let offset = self.highest - counter;
            self.seen[(offset / 64) as usize] |= 1u64 << (offset % 64);
        }
        WindowVerdict::Fresh
    }

    pub fn highest(&self) -> u64 {
        self.highest
    }

    fn bit(&self, offset: u64) -> bool {
        self.seen[(offset / 64) as usize] & (1u64 << (offset % 64)) != 0
    }

    /// Moves every recorded bit `by` places towards older counters.
    fn shift(&mut self, by: u64) {
        if by >= WINDOW_BITS {
            self.seen = [0; WORDS];
            return;
        }
        let words = (by / 64) as usize;
        let bits = (by % 64) as u32;
        for index in (0..WORDS).rev() {
            let from = index.checked_sub(words);
            let high = from.map_or(0, |i| self.seen[i]);
            let carry = match from.and_then(|i| i.checked_sub(1)) {
                Some(i) if bits > 0 => self.seen[i] >> (64 - bits),
                _ => 0,
            };
            self.seen[index] = if bits > 0 {
                (high << bits) | carry
            } else {
                high
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_counter_once() {
        let mut window = ReplayWindow::new();
        assert_eq!(window.accept(1), WindowVerdict::Fresh);
        assert_eq!(window.accept(1), WindowVerdict::Replayed);
        assert_eq!(window.accept(3), WindowVerdict::Fresh);
        assert_eq!(window.accept(2), WindowVerdict::Fresh);
        assert_eq!(window.accept(2), WindowVerdict::Replayed);
        assert_eq!(window.accept(0), WindowVerdict::BelowWindow);
    }

    #[test]
    fn window_slides() {
        let mut window = ReplayWindow::new();
        assert_eq!(window.accept(5), WindowVerdict::Fresh);
        assert_eq!(window.accept(5 + WINDOW_BITS - 1), WindowVerdict::Fresh);
        // 5 is now the oldest counter inside the window and still remembered.
        assert_eq!(window.accept(5), WindowVerdict::Replayed);
        assert_eq!(window.accept(6), WindowVerdict::Fresh);
        assert_eq!(window.accept(5 + WINDOW_BITS), WindowVerdict::Fresh);
        // Now 5 has fallen out of the window; 6 is the oldest still inside.
        assert_eq!(window.accept(5), WindowVerdict::BelowWindow);
        assert_eq!(window.accept(6), WindowVerdict::Replayed);
        assert_eq!(window.accept(7), WindowVerdict::Fresh);
        assert_eq!(window.accept(10 * WINDOW_BITS), WindowVerdict::Fresh);
        assert_eq!(window.accept(5 + WINDOW_BITS), WindowVerdict::BelowWindow);
    }

    #[test]
    fn shifts_across_word_boundaries() {
        let mut window = ReplayWindow::new();
        for counter in [1, 64, 65, 130, 200, 700] {
            assert_eq!(window.accept(counter), WindowVerdict::Fresh);
        }
        for counter in [1, 64, 65, 130, 200, 700] {
            assert_eq!(window.accept(counter), WindowVerdict::Replayed, "{counter}");
        }
        for counter in [2, 63, 66, 129, 131, 699] {
            assert_eq!(window.check(counter), WindowVerdict::Fresh, "{counter}");
        }
    }

    proptest! {
        /// Counters delivered in any order, with duplicates, all within one window of each
        /// other: every distinct counter is accepted exactly once.
        #[test]
        fn any_order_within_the_window_is_accepted_once(
            base in 1u64..1_000_000,
            offsets in proptest::collection::vec(0u64..WINDOW_BITS, 1..400),
        ) {
            let mut window = ReplayWindow::new();
            let mut accepted = HashSet::new();
            for offset in &offsets {
                let counter = base + offset;
                let verdict = window.accept(counter);
                if accepted.insert(counter) {
                    prop_assert_eq!(verdict, WindowVerdict::Fresh);
                } else {
                    prop_assert_eq!(verdict, WindowVerdict::Replayed);
                }
            }
        }

        /// Shuffled distinct counters spanning several windows: none is accepted twice, and
        /// a counter is refused only when it is below the window at its arrival.
        #[test]
        fn no_counter_is_accepted_twice(
            counters in proptest::collection::vec(1u64..5000, 1..600),
        ) {
            let mut window = ReplayWindow::new();
            let mut accepted = HashSet::new();
            for counter in counters {
                let highest_before = window.highest();
                match window.accept(counter) {
                    WindowVerdict::Fresh => prop_assert!(accepted.insert(counter)),
                    WindowVerdict::Replayed => prop_assert!(accepted.contains(&counter)),
                    WindowVerdict::BelowWindow => {
                        prop_assert!(counter + WINDOW_BITS <= highest_before)
                    }
                }
            }
        }
    }
}
