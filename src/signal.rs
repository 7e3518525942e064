//! `Signal`: a condition variable that knows whether anybody waits on it, so that the hot
//! path signals (a system call, even with no waiter) only when somebody does. The count
//! lives in the state the mutex guards.

use std::sync::{Condvar, MutexGuard};
use std::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct Signal {
    changed: Condvar,
}

/// State with a count of the threads waiting on its [`Signal`].
pub(crate) trait Waiters {
    fn waiters(&mut self) -> &mut usize;
}

impl Signal {
    /// Waits for a change, up to `deadline`, counted as a waiter meanwhile.
    pub(crate) fn wait<'a, T: Waiters>(
        &self,
        mut guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, T> {
        *guard.waiters() += 1;
        let mut guard = match deadline {
            None => self.changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.changed
                    .wait_timeout(guard, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        *guard.waiters() -= 1;
        guard
    }

    /// Wakes every waiter, if there is any.
    pub(crate) fn notify<T: Waiters>(&self, state: &mut T) {
        if *state.waiters() > 0 {
            self.changed.notify_all();
        }
    }
}
