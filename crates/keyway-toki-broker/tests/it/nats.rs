use async_nats::HeaderMap;
use bytes::Bytes;
use keyway_toki::TokiError;

use crate::{broker_url, endpoints, unique};

#[tokio::test]
async fn nats_round_trip_drops_tampered_and_replayed_messages() {
    let Some(url) = broker_url("nats round trip", "KEYWAY_TEST_NATS_URL") else {
        return;
    };
    let client = async_nats::connect(&url)
        .await
        .expect("NATS at KEYWAY_TEST_NATS_URL");
    let subject = unique("keyway.toki.test");
    let mut subscription = client.subscribe(subject.clone()).await.unwrap();
    client.flush().await.unwrap();
    let (publisher, consumer) = endpoints();
    let (sink, mut events) = keyway_toki_http::ActivitySink::channel(64);
    let consumer = consumer.with_activity(keyway_toki::ServiceId::new("ledger").unwrap(), sink);
    let raw = |headers: HeaderMap, body: &'static [u8]| {
        let (client, subject) = (client.clone(), subject.clone());
        async move {
            client
                .publish_with_headers(subject, headers, Bytes::from_static(body))
                .await
                .unwrap();
        }
    };

    publisher
        .publish_nats(&client, &subject, Bytes::from_static(b"{\"id\":1}"))
        .await
        .unwrap();
    // Signed for one body, sent with another.
    let signed = publisher
        .nats_headers(&subject, b"{\"id\":2}", HeaderMap::new())
        .unwrap();
    raw(signed, b"{\"id\":3}").await;
    // A good message and its replay.
    let signed = publisher
        .nats_headers(&subject, b"{\"id\":4}", HeaderMap::new())
        .unwrap();
    raw(signed.clone(), b"{\"id\":4}").await;
    raw(signed, b"{\"id\":4}").await;
    // Signed for another subject.
    let moved = publisher
        .nats_headers("keyway.elsewhere", b"{\"id\":5}", HeaderMap::new())
        .unwrap();
    raw(moved, b"{\"id\":5}").await;
    // No token, then a last good one.
    raw(HeaderMap::new(), b"{\"id\":6}").await;
    publisher
        .publish_nats(&client, &subject, Bytes::from_static(b"{\"id\":7}"))
        .await
        .unwrap();
    client.flush().await.unwrap();

    let mut received = Vec::new();
    for _ in 0..3 {
        let (message, verified) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            consumer.next_nats(&mut subscription),
        )
        .await
        .expect("messages within 10 s")
        .unwrap();
        assert_eq!(verified.sender.as_str(), "orders");
        received.push(String::from_utf8(message.payload.to_vec()).unwrap());
    }
    assert_eq!(received, ["{\"id\":1}", "{\"id\":4}", "{\"id\":7}"]);
    let counters = consumer.counters();
    assert_eq!(counters.verified, 3);
    assert_eq!(counters.dropped, 4);
    assert_eq!(counters.dropped_for(TokiError::BadSignature), 2);
    assert_eq!(counters.dropped_for(TokiError::Replayed), 1);
    assert_eq!(counters.dropped_for(TokiError::MissingToken), 1);

    // Each checked message became an activity event, sender → consumer.
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(
            (event.callee.as_str(), event.method.as_str()),
            ("ledger", "NATS")
        );
        assert_eq!(event.route, subject);
        seen.push((event.caller, event.status, event.failure));
    }
    let orders = || Some("orders".to_string());
    let failed = |code: &str| Some(code.to_string());
    assert_eq!(
        seen,
        [
            (orders(), 200, None),
            (orders(), 401, failed("bad_signature")),
            (orders(), 200, None),
            (orders(), 401, failed("replayed")),
            (orders(), 401, failed("bad_signature")),
            (None, 401, failed("missing_token")),
            (orders(), 200, None),
        ]
    );
}
