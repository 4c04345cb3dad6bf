//! RabbitMQ (AMQP 0-9-1) through lapin: the token rides in the `oscartoki` message header
//! (a long string); the message id is also set as the AMQP `message_id` property.

use futures_util::StreamExt;
use keyway_toki::{HEADER_NAME, MessageRoute, TokiError, VerifiedMessage};
use lapin::options::{BasicPublishOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Consumer, PublisherConfirm, message::Delivery};

use crate::{BrokerError, TokiConsumer, TokiPublisher};

const TRANSPORT: &str = "amqp";

impl TokiPublisher {
    /// `properties` with the `oscartoki` header and `message_id` of a fresh token for this
    /// exchange, routing key and body. Other headers are kept.
    pub fn amqp_properties(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<BasicProperties, TokiError> {
        let route = MessageRoute::Amqp {
            exchange,
            routing_key,
        };
        let token = self.sign(&route, body)?;
        let mut headers = properties.headers().clone().unwrap_or_default();
        headers.insert(
            HEADER_NAME.into(),
            AMQPValue::LongString(LongString::from(token.encode())),
        );
        Ok(properties
            .with_headers(headers)
            .with_message_id(token.message_id_text().into()))
    }

    /// Signs and publishes one message; await the returned confirm as with lapin.
    pub async fn publish_amqp(
        &self,
        channel: &Channel,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<PublisherConfirm, BrokerError> {
        let properties = self.amqp_properties(exchange, routing_key, body, properties)?;
        Ok(channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                options,
                body,
                properties,
            )
            .await?)
    }
}

impl TokiConsumer {
    /// Verifies a delivery against the exchange and routing key it was published to.
    pub fn verify_delivery(&self, delivery: &Delivery) -> Result<VerifiedMessage, TokiError> {
        let route = MessageRoute::Amqp {
            exchange: delivery.exchange.as_str(),
            routing_key: delivery.routing_key.as_str(),
        };
        self.check(
            TRANSPORT,
            amqp_header(delivery.properties.headers()),
            &route,
            &delivery.data,
        )
    }

    /// The next delivery whose token verifies. The others are rejected without requeue (so
    /// they go to the queue's dead-letter exchange, if any) and counted. `None` when the
    /// consumer ends; `Err` for broker errors.
    pub async fn next_amqp(
        &self,
        consumer: &mut Consumer,
    ) -> Option<Result<(Delivery, VerifiedMessage), lapin::Error>> {
        loop {
            let delivery = match consumer.next().await? {
                Ok(delivery) => delivery,
                Err(error) => return Some(Err(error)),
            };
            if let Ok(header) = amqp_header(delivery.properties.headers()) {
                self.resolve_sender(header).await;
            }
            match self.verify_delivery(&delivery) {
                Ok(verified) => return Some(Ok((delivery, verified))),
                Err(_) => {
                    if let Err(error) = delivery.reject(BasicRejectOptions { requeue: false }).await
                    {
                        return Some(Err(error));
                    }
                }
            }
        }
    }
}

/// The `oscartoki` header as text: absent is `None`, a non-string value is malformed.
fn amqp_header(headers: &Option<FieldTable>) -> Result<Option<&str>, TokiError> {
    let Some(value) = headers.as_ref().and_then(|h| h.inner().get(HEADER_NAME)) else {
        return Ok(None);
    };
    let bytes = match value {
        AMQPValue::LongString(text) => text.as_bytes(),
        AMQPValue::ShortString(text) => text.as_str().as_bytes(),
        _ => return Err(TokiError::Malformed("message token")),
    };
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| TokiError::Malformed("message token"))
}
