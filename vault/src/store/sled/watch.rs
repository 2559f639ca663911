//! A disk that fills up or turns read-only, met without a restart.
//!
//! sled stops taking writes after its first I/O error: from then on every write and flush of
//! that engine fails, even once space is free again, and only opening the files again recovers.
//! So a watcher thread checks the engine every [`PROBE_EVERY`]; when its flush fails it
//!
//! 1. logs the reason once (`the data directory cannot be written …`) and makes every store
//!    call fail with `UNAVAILABLE` naming it (health turns NOT_SERVING);
//! 2. waits until every unit of work that began before has ended ([`super::super::operation`]),
//!    so nothing that wrote to the failed engine can still acknowledge through a new one;
//! 3. lets the failed engine go (its files stay as they were: sled writes its log
//!    append-only and checks each entry at open, so an entry cut short by the full disk is
//!    discarded, never half-applied) and, every second, opens the files again and proves the
//!    disk takes a durable write;
//! 4. then serves again and logs `the data directory is writable again`.
//!
//! Writes the failed engine accepted in memory but never flushed are gone; none of them was
//! acknowledged, because acknowledging waits for the flush that failed. Caches elsewhere in the
//! process may hold what such a write changed, stamped with the tenant's change counter as the
//! failed engine showed it; so every counter read after a reopen is raised by 2³² (in this
//! process only: a restart starts with empty caches), and no stamp from before matches again.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, PoisonError, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use crate::store::{
    StoreError, StoreResult,
    operation::{Drain, Operation},
};

/// What the watcher needs of an engine (the sled trees, in `super`).
pub(super) trait Files: Send + Sync + 'static {
    /// How the engine was opened (kept to open it the same way again).
    type Options: Send + Sync + 'static;
    /// Opens the files in `dir` again and proves they take a durable write.
    fn reopen(dir: &Path, options: &Self::Options) -> StoreResult<Arc<Self>>;
    /// Flushes what was written: the error (an `Unavailable` naming the cause) if the engine
    /// cannot write any more.
    fn check(&self) -> StoreResult<()>;
}

/// How often the watcher checks the engine, and tries to open it again once it failed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often a drain that takes long says what it waits for.
const DRAIN_REPORT_EVERY: Duration = Duration::from_secs(10);
/// How often a reopen that keeps failing says so again.
const RETRY_REPORT_EVERY: Duration = Duration::from_secs(60);
/// Added to every change counter read per reopen (see the module docs).
const GENERATION_STEP: u64 = 1 << 32;

/// The reason given for a failed disk, without a path (the message goes to callers).
pub(super) fn disk_failure(io: &std::io::Error) -> String {
    format!(
        "the data directory cannot be written ({}); the vault retries every second and serves \
         again once it can",
        io.kind()
    )
}

enum Slot<T> {
    Open(Arc<T>),
    Failed(String),
}

/// The engine a store uses now, swapped by the watcher.
pub(super) struct Engine<T: Files> {
    dir: PathBuf,
    options: T::Options,
    slot: RwLock<Slot<T>>,
    drain: Arc<Drain>,
    reopened: AtomicU64,
}

impl<T: Files> Engine<T> {
    pub(super) fn new(dir: &Path, options: T::Options, trees: Arc<T>) -> Arc<Self> {
        Arc::new(Self {
            dir: dir.to_path_buf(),
            options,
            slot: RwLock::new(Slot::Open(trees)),
            drain: Arc::new(Drain::default()),
            reopened: AtomicU64::new(0),
        })
    }

    /// The open engine, or `UNAVAILABLE` with the reason.
    pub(super) fn trees(&self) -> StoreResult<Arc<T>> {
        match &*self.slot.read().unwrap_or_else(PoisonError::into_inner) {
            Slot::Open(trees) => Ok(Arc::clone(trees)),
            Slot::Failed(why) => Err(StoreError::Unavailable(why.clone())),
        }
    }

    /// A unit of work (see `store::operation`).
    pub(super) fn operation(&self) -> Operation {
        self.drain.begin()
    }

    /// A change counter as callers see it: raised per reopen (see the module docs).
    pub(super) fn generation(&self, stored: u64) -> u64 {
        stored.wrapping_add(
            self.reopened
                .load(Ordering::SeqCst)
                .wrapping_mul(GENERATION_STEP),
        )
    }

    fn set(&self, slot: Slot<T>) {
        *self.slot.write().unwrap_or_else(PoisonError::into_inner) = slot;
    }

    /// One round of the watcher.
    fn probe(&self, retry_reported: &mut Option<Instant>) {
        let open = match &*self.slot.read().unwrap_or_else(PoisonError::into_inner) {
            Slot::Open(trees) => Some(Arc::clone(trees)),
            Slot::Failed(_) => None,
        };
        match open {
            Some(trees) => {
                if let Err(e) = trees.check() {
                    drop(trees);
                    self.fail(e);
                    *retry_reported = Some(Instant::now());
                    self.reopen(retry_reported);
                }
            }
            None => self.reopen(retry_reported),
        }
    }

    fn fail(&self, e: StoreError) {
        let why = match e {
            StoreError::Unavailable(why) => why,
            other => format!("the store failed ({other}); the vault retries every second"),
        };
        tracing::error!(
            dir = %self.dir.display(),
            error = %why,
            "the data directory cannot be written: every call fails with UNAVAILABLE and \
             health is NOT_SERVING until it can; nothing acknowledged is lost; retrying every second"
        );
        // From here no call gets the failed engine; its last users are in flight.
        self.set(Slot::Failed(why));
        self.drain.wait_for_earlier(DRAIN_REPORT_EVERY, |n| {
            tracing::warn!(
                calls = n,
                "waiting for calls that began before the disk failed to end before reopening"
            );
        });
    }

    /// Opens the files again and proves the disk takes a durable write; installs the engine if
    /// both work.
    fn reopen(&self, retry_reported: &mut Option<Instant>) {
        match T::reopen(&self.dir, &self.options) {
            Ok(trees) => {
                self.reopened.fetch_add(1, Ordering::SeqCst);
                self.set(Slot::Open(trees));
                *retry_reported = None;
                tracing::info!(
                    dir = %self.dir.display(),
                    "the data directory is writable again: the store was reopened and serves"
                );
            }
            Err(e) => {
                if retry_reported.is_none_or(|at| at.elapsed() >= RETRY_REPORT_EVERY) {
                    tracing::warn!(error = %e, "the data directory still cannot be written; retrying");
                    *retry_reported = Some(Instant::now());
                }
            }
        }
    }
}

/// The watcher thread of one store; dropping this stops it (and waits for it, so the files are
/// let go of when the store is).
pub(super) struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching `engine` (weakly: the store owns it).
    pub(super) fn start<T: Files>(engine: &Arc<Engine<T>>) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = Arc::downgrade(engine);
        let thread = std::thread::Builder::new()
            .name("valv-store-watch".into())
            .spawn(move || run(&engine, &stopped))
            .map_err(|e| tracing::error!(error = %e, "cannot start the store's disk watcher"))
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run<T: Files>(engine: &Weak<Engine<T>>, stopped: &mpsc::Receiver<()>) {
    let mut retry_reported = None;
    // A closed channel (the store was dropped) ends the thread at once.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(PROBE_EVERY) {
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.probe(&mut retry_reported);
    }
}
