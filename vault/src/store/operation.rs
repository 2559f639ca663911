//! Units of work, so that a back-end can swap its engine without acknowledging a lost write.
//!
//! A unit of work — a call, a page of a key rotation, a reaper pass — writes, then waits for
//! [`super::Durability::sync`], then answers. The embedded store reopens its engine when the
//! disk under it failed (full, read-only): the failed engine may have accepted writes into
//! memory that never reached the disk. Were a new engine opened between such a write and its
//! unit's `sync`, the `sync` would succeed on the new engine and the unit would acknowledge a
//! write that was lost with the old one. So every unit of work holds an [`Operation`] for its
//! whole length, and the store's reopen first makes every store call fail, then waits in
//! [`Drain::wait_for_earlier`] until every operation that began before has ended, and only then
//! opens the new engine.
//!
//! Epochs rather than a lock: a unit of work that begins while the drain waits never waits for
//! it (it belongs to the next epoch), so new calls keep failing fast with `UNAVAILABLE` instead
//! of queueing, and an operation taken inside another cannot deadlock the drain.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

/// Counts the operations in flight per epoch (two epochs: the current one and the one being
/// drained).
#[derive(Default)]
pub struct Drain {
    state: Mutex<State>,
    ended: Condvar,
}

#[derive(Default)]
struct State {
    epoch: u64,
    active: [usize; 2],
}

fn parity(epoch: u64) -> usize {
    usize::from(epoch % 2 == 1)
}

impl Drain {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Counters only: a panic elsewhere leaves them consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Begins an operation in the current epoch; it ends when the guard drops.
    pub fn begin(self: &Arc<Self>) -> Operation {
        let mut state = self.lock();
        let epoch = state.epoch;
        state.active[parity(epoch)] += 1;
        Operation(Some((Arc::clone(self), epoch)))
    }

    /// Operations in flight now (both epochs).
    pub fn in_flight(&self) -> usize {
        let state = self.lock();
        state.active[0] + state.active[1]
    }

    /// Starts a new epoch and blocks until every operation of the one before has ended,
    /// calling `still_waiting(n)` every `every` while `n` are left. Only one thread drains at a
    /// time (the store's watcher), and each drain runs to its end, so the earlier epoch that
    /// shares the new one's counter is already empty.
    pub fn wait_for_earlier(&self, every: Duration, mut still_waiting: impl FnMut(usize)) {
        let mut state = self.lock();
        let earlier = state.epoch;
        state.epoch = earlier.wrapping_add(1);
        while state.active[parity(earlier)] > 0 {
            let (next, timeout) = self
                .ended
                .wait_timeout(state, every)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            if timeout.timed_out() && state.active[parity(earlier)] > 0 {
                still_waiting(state.active[parity(earlier)]);
            }
        }
    }
}

/// A unit of work in flight (see the module docs). Hold it from before the first store call to
/// after the answer's `sync`.
#[must_use = "an operation ends when the guard drops"]
pub struct Operation(Option<(Arc<Drain>, u64)>);

impl Operation {
    /// For back-ends that never swap their engine.
    pub fn untracked() -> Self {
        Self(None)
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if let Some((drain, epoch)) = self.0.take() {
            let mut state = drain.lock();
            let slot = &mut state.active[parity(epoch)];
            *slot = slot.saturating_sub(1);
            if *slot == 0 {
                drain.ended.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn a_drain_waits_for_earlier_operations_and_not_for_later_ones() {
        let drain = Arc::new(Drain::default());
        let earlier = drain.begin();
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = {
            let drain = Arc::clone(&drain);
            std::thread::spawn(move || {
                drain.wait_for_earlier(Duration::from_millis(10), |_| {});
                done_tx.send(()).unwrap();
            })
        };
        // The drain has begun once a new operation lands in the next epoch.
        while drain.lock().epoch == 0 {
            std::thread::yield_now();
        }
        let later = drain.begin();
        assert!(
            done_rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "the drain ended while an earlier operation was in flight"
        );
        drop(earlier);
        done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
        assert_eq!(drain.in_flight(), 1);
        drop(later);
        assert_eq!(drain.in_flight(), 0);
        // The next drain waits for nothing: the later operation ended too.
        drain.wait_for_earlier(Duration::from_millis(10), |_| unreachable!());
    }

    #[test]
    fn a_slow_drain_reports_what_it_waits_for() {
        let drain = Arc::new(Drain::default());
        let held = drain.begin();
        let reported = Arc::new(Mutex::new(Vec::new()));
        let waiter = {
            let (drain, reported) = (Arc::clone(&drain), Arc::clone(&reported));
            std::thread::spawn(move || {
                drain.wait_for_earlier(Duration::from_millis(5), |n| {
                    reported.lock().unwrap().push(n);
                });
            })
        };
        while reported.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(held);
        waiter.join().unwrap();
        assert!(reported.lock().unwrap().iter().all(|&n| n == 1));
        assert!(Operation::untracked().0.is_none());
    }
}
