//! Toki's clock and entropy are the kernel's (one shape across keyway).

pub use keyway_kernel::{Clock, Entropy, ManualClock, SystemClock, SystemEntropy};
