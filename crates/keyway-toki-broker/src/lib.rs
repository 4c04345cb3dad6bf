//! oscartoki on message brokers (docs/toki.md, "Message token"): each published message
//! carries an Ed25519 signature by the sender's toki key over the sender, the exchange and
//! routing key (RabbitMQ) or the subject (NATS), the message id, the body digest and the
//! creation time. Consumers need only the senders' registered public keys; they drop and count
//! messages that fail ([`TokiConsumer::counters`]) and refuse replays per sender.
//!
//! RabbitMQ with lapin:
//!
//! ```no_run
//! use keyway_toki::*;
//! use keyway_toki_broker::{TokiConsumer, TokiPublisher};
//! use lapin::{BasicProperties, Connection, ConnectionProperties, options::*, types::FieldTable};
//!
//! # async fn run(orders_key: TokiKeyPair, orders_public: TokiPublicKey) -> Result<(), Box<dyn std::error::Error>> {
//! let connection =
//!     Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", ConnectionProperties::default())
//!         .await?;
//! let channel = connection.create_channel().await?;
//! channel
//!     .queue_declare("entries".into(), QueueDeclareOptions::default(), FieldTable::default())
//!     .await?;
//!
//! let publisher = TokiPublisher::new(ServiceId::new("orders")?, orders_key);
//! publisher
//!     .publish_amqp(&channel, "", "entries", BasicPublishOptions::default(), b"{\"id\":7}",
//!         BasicProperties::default())
//!     .await?
//!     .await?;
//!
//! let mut peers = StaticPeerKeys::new();
//! peers.insert(ServiceId::new("orders")?, orders_public);
//! let consumer = TokiConsumer::new(peers, MessagePolicy::default());
//! let mut deliveries = channel
//!     .basic_consume("entries".into(), "ledger".into(), BasicConsumeOptions::default(),
//!         FieldTable::default())
//!     .await?;
//! // Messages that fail verification are rejected (not requeued) and counted.
//! if let Some(next) = consumer.next_amqp(&mut deliveries).await {
//!     let (delivery, verified) = next?;
//!     println!("{} sent {} bytes", verified.sender, delivery.data.len());
//!     delivery.ack(BasicAckOptions::default()).await?;
//! }
//! println!("dropped so far: {}", consumer.counters().dropped);
//! # Ok(())
//! # }
//! ```
//!
//! NATS with async-nats:
//!
//! ```no_run
//! use keyway_toki::*;
//! use keyway_toki_broker::{TokiConsumer, TokiPublisher};
//!
//! # async fn run(orders_key: TokiKeyPair, orders_public: TokiPublicKey) -> Result<(), Box<dyn std::error::Error>> {
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let mut peers = StaticPeerKeys::new();
//! peers.insert(ServiceId::new("orders")?, orders_public);
//! let consumer = TokiConsumer::new(peers, MessagePolicy::default());
//! let mut subscription = client.subscribe("ledger.entries").await?;
//!
//! let publisher = TokiPublisher::new(ServiceId::new("orders")?, orders_key);
//! publisher.publish_nats(&client, "ledger.entries", "{\"id\":7}".into()).await?;
//!
//! if let Some((message, verified)) = consumer.next_nats(&mut subscription).await {
//!     println!("{} sent {:?}", verified.sender, message.payload);
//! }
//! # Ok(())
//! # }
//! ```

mod amqp;
mod counters;
mod endpoint;
mod nats;

pub use counters::{ConsumerCounters, CounterSnapshot};
pub use endpoint::{TokiConsumer, TokiPublisher};

use keyway_toki::TokiError;
use thiserror::Error;

/// Why publishing failed.
#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("toki: {0}")]
    Toki(#[from] TokiError),
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("NATS publish: {0}")]
    Nats(String),
}
