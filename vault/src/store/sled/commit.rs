//! Group commit: many concurrent requests wait for one flush.
//!
//! A request that hands out pseudonyms must not answer before its mapping is on disk. Flushing
//! per request would cap throughput at the disk's fsync rate; instead every waiter registers the
//! write counter it needs covered and one flusher thread flushes everything written so far, then
//! releases all waiters at once.

use std::sync::{
    Arc, Condvar, Mutex,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::watch;

use crate::store::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, Default)]
struct Durable {
    upto: u64,
    failed_upto: u64,
}

struct State {
    requested: u64,
    shutdown: bool,
}

struct Inner {
    writes: AtomicU64,
    state: Mutex<State>,
    wake: Condvar,
    done: watch::Sender<Durable>,
    /// The flush, shared by the flusher thread and inline flushes.
    flush: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    /// An inline flush is running (at most one at a time).
    inline: std::sync::atomic::AtomicBool,
}

/// The group-commit coordinator of one store.
pub(crate) struct GroupCommit {
    inner: Arc<Inner>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher thread; `flush` makes everything written so far durable.
    pub(crate) fn start<F>(flush: F) -> Self
    where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        let (done, _) = watch::channel(Durable::default());
        let inner = Arc::new(Inner {
            writes: AtomicU64::new(0),
            state: Mutex::new(State {
                requested: 0,
                shutdown: false,
            }),
            wake: Condvar::new(),
            done,
            flush: Box::new(flush),
            inline: std::sync::atomic::AtomicBool::new(false),
        });
        let worker = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("valv-group-commit".into())
            .spawn(move || flusher(&worker))
            .map_err(|e| tracing::error!(error = %e, "cannot start group-commit thread"))
            .ok();
        Self { inner, thread }
    }

    /// Records that a write happened. Call after the write is applied and before anything else
    /// can see it (inside the critical section that makes it visible), so that a caller who sees
    /// the row and then syncs waits for its flush too.
    pub(crate) fn wrote(&self) {
        self.inner.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// A handle that counts writes from blocking tasks (see [`GroupCommit::wrote`]).
    pub(crate) fn counter(&self) -> WriteCounter {
        WriteCounter(Arc::clone(&self.inner))
    }

    /// Waits until every write recorded before this call is durable.
    pub(crate) async fn sync(&self) -> StoreResult<()> {
        let target = self.inner.writes.load(Ordering::SeqCst);
        let mut rx = self.inner.done.subscribe();
        if rx.borrow().upto >= target {
            return Ok(());
        }
        // Alone (no other request flushing inline): flush right here. The flush takes a fraction
        // of a millisecond, and handing it to the flusher thread and back costs two thread
        // wake-ups, which on a busy machine are most of a single call's latency tail. Under
        // load, callers find the inline slot taken and group on the flusher thread instead.
        if !self.inner.inline.swap(true, Ordering::SeqCst) {
            let upto = self.inner.writes.load(Ordering::SeqCst);
            let result = (self.inner.flush)();
            self.inner.inline.store(false, Ordering::SeqCst);
            return match result {
                Ok(()) => {
                    self.inner.done.send_modify(|d| d.upto = d.upto.max(upto));
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %e, "durable flush failed");
                    Err(StoreError::Durability(format!("flush failed: {e}")))
                }
            };
        }
        {
            let mut state = self
                .inner
                .state
                .lock()
                .map_err(|_| StoreError::Durability("lock poisoned".into()))?;
            state.requested = state.requested.max(target);
        }
        self.inner.wake.notify_one();
        let d = rx
            .wait_for(|d| d.upto >= target || d.failed_upto >= target)
            .await
            .map(|d| *d)
            .map_err(|_| StoreError::Durability("flusher stopped".into()))?;
        if d.upto >= target {
            Ok(())
        } else {
            Err(StoreError::Durability(
                "flush failed (the log says why)".into(),
            ))
        }
    }
}

/// Counts writes toward the next flush, from any thread (see [`GroupCommit::wrote`]).
#[derive(Clone)]
pub(crate) struct WriteCounter(Arc<Inner>);

impl WriteCounter {
    /// Records that a write happened (see [`GroupCommit::wrote`]).
    pub(crate) fn wrote(&self) {
        self.0.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        if let Ok(mut state) = self.inner.state.lock() {
            state.shutdown = true;
        }
        self.inner.wake.notify_one();
        // Joining releases the flusher's handle on the database, so it can be opened again.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn flusher(inner: &Inner) {
    let flush = &inner.flush;
    loop {
        {
            let Ok(mut state) = inner.state.lock() else {
                return;
            };
            while state.requested <= inner.done.borrow().upto && !state.shutdown {
                state = match inner.wake.wait(state) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
            if state.shutdown {
                drop(state);
                if let Err(e) = flush() {
                    tracing::error!(error = %e, "final flush failed");
                }
                return;
            }
        }
        let upto = inner.writes.load(Ordering::SeqCst);
        match flush() {
            Ok(()) => inner.done.send_modify(|d| d.upto = d.upto.max(upto)),
            Err(e) => {
                tracing::error!(error = %e, "durable flush failed");
                inner
                    .done
                    .send_modify(|d| d.failed_upto = d.failed_upto.max(upto));
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}
