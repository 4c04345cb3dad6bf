//! Request bodies must keep arriving: a body gets [`GRACE`] plus one second for every
//! [`MIN_RATE`] bytes received so far. A client that trickles a byte now and then (the
//! slow-body form of slowloris) is cut off after the grace period and its connection freed;
//! any real upload, even a 2 GiB linkage batch at a modest 64 KiB/s, never notices.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Time every body has before the rate rule starts to matter.
pub(crate) const GRACE: Duration = Duration::from_secs(30);
/// Bytes per second that each extend the deadline by a second.
pub(crate) const MIN_RATE: u64 = 64 * 1024;

/// Middleware: gives every request body the deadline rule.
pub(crate) async fn with_deadline(request: Request) -> Request {
    // Most requests have no body (GETs): no timer for them.
    if http_body::Body::is_end_stream(request.body()) {
        return request;
    }
    request.map(|body| Body::new(DeadlineBody::new(body, GRACE)))
}

/// A body that must keep arriving, by its [`Rule`].
pub(crate) struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    sleep: Pin<Box<Sleep>>,
    rule: Rule,
}

/// How a body's deadline moves.
enum Rule {
    /// A request body's: [`MIN_RATE`] bytes earn a second.
    Rate,
    /// A gateway answer's: each part must come within this of the one before.
    Idle(Duration),
}

impl DeadlineBody {
    fn new(inner: Body, grace: Duration) -> DeadlineBody {
        DeadlineBody::with_rule(inner, grace, Rule::Rate)
    }

    /// A body each of whose parts must come within `idle` of the one before (the first within
    /// `idle` of now).
    pub(crate) fn idle(inner: Body, idle: Duration) -> DeadlineBody {
        DeadlineBody::with_rule(inner, idle, Rule::Idle(idle))
    }

    fn with_rule(inner: Body, first: Duration, rule: Rule) -> DeadlineBody {
        let deadline = Instant::now() + first;
        DeadlineBody {
            inner,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            rule,
        }
    }
}

/// The other side stopped sending a body.
#[derive(Debug, thiserror::Error)]
#[error("nothing of the body arrived for {0:?}")]
pub(crate) struct Stalled(Duration);

/// The body did not arrive fast enough.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {MIN_RATE} bytes per second after a grace period")]
pub(crate) struct TooSlow;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                match this.rule {
                    Rule::Rate => {
                        if let Some(data) = frame.data_ref() {
                            let earned = data.len() as u64 * 1_000_000 / MIN_RATE;
                            this.deadline += Duration::from_micros(earned);
                            this.sleep.as_mut().reset(this.deadline);
                        }
                    }
                    Rule::Idle(idle) => {
                        this.deadline = Instant::now() + idle;
                        this.sleep.as_mut().reset(this.deadline);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(match this.rule {
                    Rule::Rate => TooSlow.into(),
                    Rule::Idle(idle) => Stalled(idle).into(),
                }))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_is_cut_off_and_a_flowing_one_is_not() {
        let (mut tx, rx) = futures_channel_body();
        let body = DeadlineBody::new(rx, Duration::from_secs(1));
        let reader = tokio::spawn(async move { body.collect().await.map(|b| b.to_bytes()) });
        for _ in 0..5 {
            tx.send(Bytes::from_static(b"x")).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        drop(tx);
        assert!(reader.await.unwrap().is_err(), "a trickle is cut off");

        let (mut tx, rx) = futures_channel_body();
        let body = DeadlineBody::new(rx, Duration::from_secs(1));
        let reader = tokio::spawn(async move { body.collect().await.map(|b| b.to_bytes()) });
        for _ in 0..5 {
            tx.send(Bytes::from(vec![0u8; 64 * 1024])).await;
            tokio::time::sleep(Duration::from_millis(900)).await;
        }
        drop(tx);
        assert_eq!(reader.await.unwrap().unwrap().len(), 5 * 64 * 1024);
    }

    struct Sender(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

    impl Sender {
        async fn send(&mut self, bytes: Bytes) {
            let _ = self.0.send(Ok(bytes)).await;
        }
    }

    fn futures_channel_body() -> (Sender, Body) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        (Sender(tx), Body::from_stream(stream))
    }
}
