//! `AtomicTimeout`: an `Option<Duration>` threads read and change without a lock: a
//! client's timeouts, which can be changed while other threads read and write.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// `None` is stored as `u64::MAX` nanoseconds (585 years: longer than any real timeout).
#[derive(Debug)]
pub(crate) struct AtomicTimeout(AtomicU64);

impl AtomicTimeout {
    pub(crate) fn new(timeout: Option<Duration>) -> AtomicTimeout {
        AtomicTimeout(AtomicU64::new(encode(timeout)))
    }

    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Relaxed) {
            u64::MAX => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    pub(crate) fn set(&self, timeout: Option<Duration>) {
        self.0.store(encode(timeout), Relaxed);
    }

    /// The deadline of a call starting now.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.get().map(|t| Instant::now() + t)
    }
}

fn encode(timeout: Option<Duration>) -> u64 {
    timeout.map_or(u64::MAX, |t| {
        u64::try_from(t.as_nanos()).unwrap_or(u64::MAX - 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_none_and_durations() {
        let t = AtomicTimeout::new(None);
        assert_eq!(t.get(), None);
        t.set(Some(Duration::from_millis(1500)));
        assert_eq!(t.get(), Some(Duration::from_millis(1500)));
        t.set(Some(Duration::MAX));
        assert!(t.get().is_some());
    }
}
