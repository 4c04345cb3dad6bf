//! NATS through async-nats: the token rides in the `oscartoki` message header; the message id
//! is also set as `Nats-Msg-Id` (JetStream de-duplicates on it).

use async_nats::{Client, HeaderMap, Message, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use keyway_toki::{HEADER_NAME, MessageRoute, TokiError, VerifiedMessage};

use crate::{BrokerError, TokiConsumer, TokiPublisher};

const TRANSPORT: &str = "nats";
const NATS_MSG_ID: &str = "Nats-Msg-Id";

impl TokiPublisher {
    /// `headers` plus the `oscartoki` token for this subject and body, and `Nats-Msg-Id`.
    pub fn nats_headers(
        &self,
        subject: &str,
        body: &[u8],
        mut headers: HeaderMap,
    ) -> Result<HeaderMap, TokiError> {
        let token = self.sign(&MessageRoute::Nats { subject }, body)?;
        headers.insert(HEADER_NAME, token.encode());
        headers.insert(NATS_MSG_ID, token.message_id_text());
        Ok(headers)
    }

    /// Signs and publishes one message on `subject`.
    pub async fn publish_nats(
        &self,
        client: &Client,
        subject: &str,
        body: Bytes,
    ) -> Result<(), BrokerError> {
        let headers = self.nats_headers(subject, &body, HeaderMap::new())?;
        client
            .publish_with_headers(subject.to_owned(), headers, body)
            .await
            .map_err(|error| BrokerError::Nats(error.to_string()))
    }
}

impl TokiConsumer {
    /// Verifies a message against the subject it was delivered on.
    pub fn verify_nats(&self, message: &Message) -> Result<VerifiedMessage, TokiError> {
        let header = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(HEADER_NAME))
            .map(|value| value.as_str());
        let route = MessageRoute::Nats {
            subject: message.subject.as_str(),
        };
        self.check(TRANSPORT, Ok(header), &route, &message.payload)
    }

    /// The next message whose token verifies; the others are dropped and counted. `None` when
    /// the subscription ends.
    pub async fn next_nats(
        &self,
        subscriber: &mut Subscriber,
    ) -> Option<(Message, VerifiedMessage)> {
        loop {
            let message = subscriber.next().await?;
            let header = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get(HEADER_NAME))
                .map(|value| value.as_str());
            self.resolve_sender(header).await;
            if let Ok(verified) = self.verify_nats(&message) {
                return Some((message, verified));
            }
        }
    }
}
