//! End-to-end encrypted server-to-server transfer (the successor of OVTP).
//!
//! Both sides hold Ed25519 identities. They speak TLS 1.3 with raw public keys (RFC 7250) on
//! aws-lc-rs — mutual authentication, forward secrecy and authenticated encryption of every
//! byte, replies included — and exchange bounded frames (`docs/transfer.md`). The server admits
//! only keys in its `authorized_keys`; the client pins the server key (`known_hosts`).
//!
//! ```no_run
//! use keyway_transfer::{AuthorizedKeys, Client, Identity, Incoming, Reply, Server, ServerConfig, ServerPin};
//!
//! # async fn demo() -> Result<(), keyway_transfer::TransferError> {
//! let server_identity = Identity::generate()?;
//! let client_identity = Identity::generate()?;
//! let authorized = AuthorizedKeys::parse(&format!("{}", client_identity.public_key()))?;
//! let server_key = server_identity.public_key();
//! let server = Server::bind("127.0.0.1:0", ServerConfig::new(server_identity, authorized)).await?;
//! let addr = server.local_addr()?;
//! tokio::spawn(server.serve(|incoming: Incoming| async move {
//!     Reply::new(0, format!("got {} bytes", incoming.body.len()))
//! }));
//! let mut client = Client::connect(&addr.to_string(), &client_identity, ServerPin::Key(server_key)).await?;
//! let reply = client.send_message("hello").await?;
//! assert_eq!(reply.status, 0);
//! # Ok(()) }
//! ```

mod authorized_keys;
mod client;
mod client_files;
mod confined_dir;
mod digest;
mod error;
mod file_body;
mod file_sink;
mod file_source;
pub mod frame;
mod identity;
mod known_hosts;
mod paths;
mod pending_handshakes;
mod server;
mod server_files;
mod tls;

pub use authorized_keys::{AuthorizedKeys, KeyRights};
pub use client::Client;
pub use error::{HandshakeAbandoned, TransferError};
pub use frame::Kind;
pub use identity::{Identity, PublicKey};
pub use known_hosts::ServerPin;
pub use paths::PathError;
pub use server::{Incoming, Reply, Server, ServerConfig};
pub use server_files::refused;
