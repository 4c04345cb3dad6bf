//! Connection workers: threads that each run a single-threaded runtime and serve the
//! connections the accept loop hands them, as nginx's worker processes do.
//!
//! Why not the multi-threaded runtime the hub starts in: a call through the gateway is two
//! tasks (the caller's connection and the pooled upstream connection) waking each other
//! several times, and between the threads of a work-stealing runtime every such wake-up is a
//! cross-thread notification (a futex, a context switch). On one thread per connection they
//! are a queue push. Measured with a bare hyper proxy on 2 cores: 59,000 req/s on a
//! multi-threaded runtime, 82,000 with connections handed to two single-threaded workers.
//! A worker serves its connections to their end; a connection goes to the worker serving the
//! fewest, so one long-lived connection cannot pile others onto a busy thread.
//!
//! Background tasks (upkeep, the audit writer, the store watch) keep running on the runtime
//! the hub was started in; tasks a request spawns run on its worker. A server database's
//! connection is opened by whichever task first needs it, often a worker's, and its socket
//! stays with that runtime's event loop: another runtime using it hears of its traffic when
//! that worker next polls for events (when idle, and every 61 tasks when busy), the
//! arrangement actix-web runs sqlx under. A request must therefore never block its worker
//! (CPU-heavy work such as password hashing goes to the blocking pool).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

/// Work for a worker: run inside its runtime (so it can `tokio::spawn` and register sockets).
pub(crate) type Job = Box<dyn FnOnce(Served) + Send>;

thread_local! {
    /// The index of the worker this thread is, if it is one.
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The worker the current thread is (`None` off the workers: tests, the CLI, background tasks).
pub(crate) fn current_worker() -> Option<usize> {
    WORKER.with(Cell::get)
}

/// The most connection workers a hub starts: their thread names, `keyway-http-255`, stay
/// within Linux's 15 characters.
pub const MAX_WORKERS: u16 = 256;

/// How many workers serve connections when none is configured: one per CPU, at most
/// [`MAX_WORKERS`].
pub(crate) fn default_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |cpus| usize::from(cpus).min(usize::from(MAX_WORKERS)))
}

/// The connection workers of one serving hub. Dropping it lets each worker finish: its
/// runtime stops once the accept loop is gone and is shut down (1 s at most for blocking
/// work still running).
pub(crate) struct Workers {
    queues: Vec<mpsc::UnboundedSender<(Job, Served)>>,
    /// Connections each worker serves now.
    loads: Vec<Arc<AtomicUsize>>,
}

/// A connection's place in its worker's count: dropped when the connection ends.
pub(crate) struct Served(Option<Arc<AtomicUsize>>);

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(load) = &self.0 {
            load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Workers {
    /// Starts `count` workers (at least one), each with its runtime built here first. A
    /// worker that cannot start (no runtime: out of open files; no thread: out of processes
    /// or memory) is an error naming it: a hub serving on fewer threads than asked, or none,
    /// would look up and answer slowly or not at all.
    pub(crate) fn start(count: usize) -> std::io::Result<Workers> {
        let count = count.max(1);
        let mut queues = Vec::new();
        let mut loads = Vec::new();
        // The workers started so far end when `queues` is dropped on the way out.
        for index in 0..count {
            let cannot = |err: std::io::Error, remedy: &str| {
                std::io::Error::new(
                    err.kind(),
                    format!(
                        "cannot start connection worker {index} of {count}: {err} ({remedy}, \
                         or ask for fewer workers)"
                    ),
                )
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| Unstarted(Some(runtime)))
                .map_err(|err| cannot(err, "raise the open-file limit, `ulimit -n`"))?;
            let (queue, jobs) = mpsc::unbounded_channel();
            std::thread::Builder::new()
                .name(format!("keyway-http-{index}"))
                .spawn(move || run(index, runtime, jobs))
                .map_err(|err| {
                    cannot(err, "raise the process limit, `ulimit -u`, or free memory")
                })?;
            queues.push(queue);
            loads.push(Arc::new(AtomicUsize::new(0)));
        }
        Ok(Workers { queues, loads })
    }

    /// Hands `job` to the worker serving the fewest connections; runs it here when that
    /// worker's thread has ended (it panicked).
    pub(crate) fn hand(&self, job: Job) {
        let least = self
            .loads
            .iter()
            .enumerate()
            .min_by_key(|(_, load)| load.load(Ordering::Relaxed));
        let Some((index, load)) = least else {
            return job(Served(None));
        };
        load.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError((job, served))) =
            self.queues[index].send((job, Served(Some(load.clone()))))
        {
            drop(served);
            job(Served(None));
        }
    }
}

/// A worker's runtime on its way to the worker's thread. Dropped unstarted (its thread could
/// not start, and `start` runs in the hub's runtime, where dropping a runtime would panic),
/// it is shut down without waiting.
struct Unstarted(Option<tokio::runtime::Runtime>);

impl Drop for Unstarted {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// One worker thread: its single-threaded runtime running the jobs it is handed.
fn run(index: usize, mut runtime: Unstarted, mut jobs: mpsc::UnboundedReceiver<(Job, Served)>) {
    WORKER.with(|worker| worker.set(Some(index)));
    let Some(runtime) = runtime.0.take() else {
        return;
    };
    runtime.block_on(async move {
        while let Some((job, served)) = jobs.recv().await {
            job(served);
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}
