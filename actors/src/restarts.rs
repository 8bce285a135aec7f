//! Restart counts, kept per actor so `/metrics` can show them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How many times a supervised actor has been restarted.
#[derive(Debug, Clone, Default)]
pub struct RestartCounter(Arc<AtomicU64>);

impl RestartCounter {
    pub fn record(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
