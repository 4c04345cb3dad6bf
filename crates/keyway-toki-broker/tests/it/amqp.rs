use keyway_toki::TokiError;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

use crate::{broker_url, endpoints, unique};

#[tokio::test]
async fn rabbitmq_round_trip_drops_tampered_and_replayed_messages() {
    let Some(url) = broker_url("rabbitmq round trip", "KEYWAY_TEST_AMQP_URL") else {
        return;
    };
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ at KEYWAY_TEST_AMQP_URL");
    let channel = connection.create_channel().await.unwrap();
    let queue = unique("keyway-toki-test");
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.as_str().into(), options, FieldTable::default())
        .await
        .unwrap();
    let (publisher, consumer) = endpoints();
    let publish = |body: &'static [u8], properties: BasicProperties| {
        let (channel, queue) = (channel.clone(), queue.clone());
        async move {
            channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    body,
                    properties,
                )
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };

    // 1. A good message, through the helper.
    publisher
        .publish_amqp(
            &channel,
            "",
            &queue,
            BasicPublishOptions::default(),
            b"{\"id\":1}",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    // 2. Signed for one body, sent with another (one byte changed).
    let signed = publisher
        .amqp_properties("", &queue, b"{\"id\":2}", BasicProperties::default())
        .unwrap();
    publish(b"{\"id\":3}", signed).await;
    // 3. A good message, then 4. the very same message again (a replay).
    let signed = publisher
        .amqp_properties("", &queue, b"{\"id\":4}", BasicProperties::default())
        .unwrap();
    publish(b"{\"id\":4}", signed.clone()).await;
    publish(b"{\"id\":4}", signed).await;
    // 5. Signed for another routing key.
    let moved = publisher
        .amqp_properties("", "elsewhere", b"{\"id\":5}", BasicProperties::default())
        .unwrap();
    publish(b"{\"id\":5}", moved).await;
    // 6. No token at all, then 7. a last good one.
    publish(b"{\"id\":6}", BasicProperties::default()).await;
    publisher
        .publish_amqp(
            &channel,
            "",
            &queue,
            BasicPublishOptions::default(),
            b"{\"id\":7}",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let mut deliveries = channel
        .basic_consume(
            queue.as_str().into(),
            "toki-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut received = Vec::new();
    for _ in 0..3 {
        let next = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            consumer.next_amqp(&mut deliveries),
        )
        .await
        .expect("deliveries within 10 s");
        let (delivery, verified) = next.unwrap().unwrap();
        assert_eq!(verified.sender.as_str(), "orders");
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        received.push(String::from_utf8(delivery.data.clone()).unwrap());
    }
    assert_eq!(received, ["{\"id\":1}", "{\"id\":4}", "{\"id\":7}"]);
    let counters = consumer.counters();
    assert_eq!(counters.verified, 3);
    assert_eq!(counters.dropped, 4);
    assert_eq!(counters.dropped_for(TokiError::BadSignature), 2);
    assert_eq!(counters.dropped_for(TokiError::Replayed), 1);
    assert_eq!(counters.dropped_for(TokiError::MissingToken), 1);
    connection.close(0, "done".into()).await.unwrap();
}
