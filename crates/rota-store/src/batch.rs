//! Batched persistence of high-rate counters (the gateway's success/failure counts).
//!
//! Counting a request must not cost an fsync: deltas accumulate in memory and a background
//! thread folds them into the store in one mutation every few seconds (and on [`flush`] /
//! drop). Cooldowns, switches and token changes do not go through here: they are written at
//! once with [`Store::mutate`].
//!
//! [`flush`]: BatchedCounters::flush

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::Result;
use crate::store::{Store, StoreState};

/// Default interval between flushes.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(3);

/// Counts to add to one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterDelta {
    pub success: u64,
    pub failure: u64,
    /// Last HTTP status seen, if any (the latest wins).
    pub last_status: Option<u16>,
}

type Apply<S> = dyn Fn(&mut S, &str, CounterDelta) + Send + Sync;

struct Inner<S> {
    store: Arc<Store<S>>,
    pending: Mutex<BTreeMap<String, CounterDelta>>,
    apply: Box<Apply<S>>,
}

impl<S: StoreState> Inner<S> {
    fn flush(&self) -> Result<usize> {
        let batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        let result = self.store.mutate(|txn| {
            for (id, delta) in &batch {
                (self.apply)(&mut txn.state, id, *delta);
            }
            Ok::<_, crate::StoreError>(())
        });
        if let Err(e) = result {
            // Keep the counts for the next attempt, merged with what arrived meanwhile.
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, delta) in batch {
                let slot = pending.entry(id).or_default();
                slot.success += delta.success;
                slot.failure += delta.failure;
                slot.last_status = slot.last_status.or(delta.last_status);
            }
            return Err(e);
        }
        Ok(n)
    }
}

/// In-memory counters flushed periodically into the store.
pub struct BatchedCounters<S: StoreState + 'static> {
    inner: Arc<Inner<S>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<S: StoreState + 'static> fmt::Debug for BatchedCounters<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("BatchedCounters")
            .field("pending_accounts", &pending)
            .finish_non_exhaustive()
    }
}

impl<S: StoreState + 'static> BatchedCounters<S> {
    /// Starts the flush thread. `apply` adds a delta to one account in the state (ignoring
    /// accounts that no longer exist).
    pub fn start(
        store: Arc<Store<S>>,
        interval: Duration,
        apply: impl Fn(&mut S, &str, CounterDelta) + Send + Sync + 'static,
    ) -> Self {
        let inner = Arc::new(Inner {
            store,
            pending: Mutex::new(BTreeMap::new()),
            apply: Box::new(apply),
        });
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let worker = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("rota-store-flush".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    if let Err(e) = worker.flush() {
                        tracing::warn!(error = %e, "counter flush failed; will retry");
                    }
                }
            })
            .ok();
        Self {
            inner,
            stop: Some(stop_tx),
            thread,
        }
    }

    pub fn record_success(&self, record_id: &str, status: Option<u16>) {
        self.add(
            record_id,
            CounterDelta {
                success: 1,
                failure: 0,
                last_status: status,
            },
        );
    }

    pub fn record_failure(&self, record_id: &str, status: Option<u16>) {
        self.add(
            record_id,
            CounterDelta {
                success: 0,
                failure: 1,
                last_status: status,
            },
        );
    }

    /// Adds a delta to the pending counts of an account.
    pub fn add(&self, record_id: &str, delta: CounterDelta) {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = pending.entry(record_id.to_owned()).or_default();
        slot.success += delta.success;
        slot.failure += delta.failure;
        if delta.last_status.is_some() {
            slot.last_status = delta.last_status;
        }
    }

    /// Writes pending counts now (one mutation); returns how many accounts were updated.
    pub fn flush(&self) -> Result<usize> {
        self.inner.flush()
    }
}

impl<S: StoreState + 'static> Drop for BatchedCounters<S> {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Err(e) = self.inner.flush() {
            tracing::warn!(error = %e, "final counter flush failed; counts lost");
        }
    }
}
