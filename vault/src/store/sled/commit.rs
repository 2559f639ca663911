//! Group commit: many concurrent requests wait for one flush.
//!
//! A request that hands out pseudonyms must not answer before its mapping is on disk. Flushing
//! per request would cap throughput at the disk's fsync rate; instead each write is counted, and
//! a caller that needs its writes durable waits for the one flush slot: its holder flushes
//! everything written so far, so the callers queued behind it find theirs covered (see
//! [`GroupCommit::sync`]; `tools/group-commit.sh` measures requests per flush).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::watch;

use crate::store::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, Default)]
struct Durable {
    upto: u64,
}

struct Inner {
    writes: AtomicU64,
    /// Flushes that succeeded, and `sync` calls that had to wait for one (requests per flush is
    /// their ratio).
    flushes: AtomicU64,
    waits: AtomicU64,
    /// How far the writes are durable.
    done: watch::Sender<Durable>,
    /// The flush slot: one flush at a time.
    slot: tokio::sync::Mutex<()>,
    /// Makes everything written so far durable.
    flush: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
}

/// The group-commit coordinator of one store.
pub(crate) struct GroupCommit {
    inner: Arc<Inner>,
}

impl GroupCommit {
    /// A coordinator whose `flush` makes everything written so far durable.
    pub(crate) fn start<F>(flush: F) -> Self
    where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        let (done, _) = watch::channel(Durable::default());
        let inner = Arc::new(Inner {
            writes: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            done,
            slot: tokio::sync::Mutex::new(()),
            flush: Box::new(flush),
        });
        Self { inner }
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

    /// Flushes done and syncs that waited for one, since start.
    pub(crate) fn stats(&self) -> crate::store::CommitStats {
        crate::store::CommitStats {
            flushes: self.inner.flushes.load(Ordering::Relaxed),
            waits: self.inner.waits.load(Ordering::Relaxed),
        }
    }

    /// Waits until every write recorded before this call is durable.
    ///
    /// One flush at a time, run by a caller (no hand-off to a thread and back: two wake-ups
    /// were most of a single call's latency). Whoever holds the flush slot flushes everything
    /// written so far; the callers that queued behind it meanwhile mostly find their writes
    /// covered when they get the slot, and return without a flush of their own. So with N
    /// requests in flight one flush serves about as many as arrived during the one before.
    pub(crate) async fn sync(&self) -> StoreResult<()> {
        let target = self.inner.writes.load(Ordering::SeqCst);
        if self.inner.done.borrow().upto >= target {
            return Ok(());
        }
        self.inner.waits.fetch_add(1, Ordering::Relaxed);
        let _slot = self.inner.slot.lock().await;
        if self.inner.done.borrow().upto >= target {
            return Ok(());
        }
        let upto = self.inner.writes.load(Ordering::SeqCst);
        match (self.inner.flush)() {
            Ok(()) => {
                self.inner.flushes.fetch_add(1, Ordering::Relaxed);
                self.inner.done.send_modify(|d| d.upto = d.upto.max(upto));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "durable flush failed");
                Err(StoreError::Durability(format!("flush failed: {e}")))
            }
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
        // Always, even with nothing left to make durable: the flush also waits for sled's own
        // writes in flight on its I/O threads, which hold the database (and its directory lock)
        // until they end — without it, opening the directory again at once can find it locked.
        // And what was written but never waited for (a caller cut off) is made durable too.
        if let Err(e) = (self.inner.flush)() {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}
