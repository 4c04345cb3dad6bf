//! How long the gateway waits on a target. The response head must arrive within the
//! response timeout of the request body's last part: an upload takes as long as its pace
//! allows (the caller's pace is `body_deadline.rs`'s to judge), and a target that stops
//! reading it is given up on as one that does not answer. (Once the answer streams, each part
//! of its body must follow the one before within the same time: `DeadlineBody::idle`.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::Instant;

/// When a request body last moved, and whether reading it failed.
pub(crate) struct Progress {
    started: Instant,
    /// Milliseconds after `started`.
    last_ms: AtomicU64,
    /// The caller's body could not be read (cut off, not valid HTTP framing, over a limit):
    /// a failed call is then the caller's doing, not the target's.
    failed: std::sync::atomic::AtomicBool,
}

impl Progress {
    pub(crate) fn new() -> Arc<Progress> {
        Arc::new(Progress {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            failed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether reading the caller's body failed.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn note(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A request body that notes its progress.
pub(crate) struct Tracked<B> {
    inner: B,
    progress: Arc<Progress>,
}

impl<B> Tracked<B> {
    pub(crate) fn new(inner: B, progress: Arc<Progress>) -> Tracked<B> {
        Tracked { inner, progress }
    }
}

impl<B: http_body::Body<Data = Bytes> + Unpin> http_body::Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if polled.is_ready() {
            self.progress.note();
        }
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.progress.failed.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `response`, unless `within` passes after the request body last moved (`None`).
pub(crate) async fn head_within<F: Future>(
    response: F,
    progress: &Progress,
    within: Duration,
) -> Option<F::Output> {
    tokio::pin!(response);
    loop {
        let since = progress.last();
        tokio::select! {
            answer = &mut response => return Some(answer),
            () = tokio::time::sleep_until(since + within) => {
                if progress.last() <= since {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_head_is_awaited_from_the_bodys_last_part() {
        let progress = Progress::new();
        let within = Duration::from_secs(30);
        // An upload that moves every 20 s for a minute, then the answer 10 s later.
        let mover = {
            let progress = progress.clone();
            async move {
                for _ in 0..3 {
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    progress.note();
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
                "answer"
            }
        };
        assert_eq!(head_within(mover, &progress, within).await, Some("answer"));
        // Nothing moves and nothing answers: given up on after `within`.
        let progress = Progress::new();
        let started = Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(head_within(never, &progress, within).await, None);
        assert_eq!(started.elapsed(), within);
    }
}
