//! The kernel every keyway crate shares: the one clock and the one entropy source that logic
//! takes as parameters (tests pass a [`ManualClock`] or a fixed source), identifiers, and the
//! handling of private files (written 0600 atomically, refused when others can read them).
//! No I/O framework, no async: it sits below the protocol cores.

mod clock;
mod entropy;
mod net;
mod private_file;
pub mod rfc3339;
mod test_skip;

pub use clock::{Clock, ManualClock, SystemClock};
pub use entropy::{Entropy, SystemEntropy, push_hex, random_hex, random_token, uuid_v4};
pub use net::address_group;
pub use private_file::{
    PrivateFileError, create_private_dir, read_private_file, restrict_to_owner, write_private_file,
};
pub use test_skip::report_skip;
