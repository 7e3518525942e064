//! `Turn`: one thread at a time, like a `Mutex`, except that a thread waiting for its turn
//! gives up at a deadline (std's `Mutex::lock` cannot). A client's write waiting behind
//! another thread's write keeps its own deadline this way.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::signal::{Signal, Waiters};

#[derive(Debug, Default)]
pub(crate) struct Turn<T> {
    taken: Mutex<Taken>,
    changed: Signal,
    /// Locked only by the thread whose turn it is, so never contended.
    data: Mutex<T>,
}

#[derive(Debug, Default)]
struct Taken {
    busy: bool,
    waiters: usize,
}

impl Waiters for Taken {
    fn waiters(&mut self) -> &mut usize {
        &mut self.waiters
    }
}

/// The turn, and the data it guards, until dropped.
#[derive(Debug)]
pub(crate) struct TurnGuard<'a, T> {
    turn: &'a Turn<T>,
    data: Option<MutexGuard<'a, T>>,
}

impl<T> Turn<T> {
    pub(crate) fn new(data: T) -> Turn<T> {
        Turn {
            taken: Mutex::default(),
            changed: Signal::default(),
            data: Mutex::new(data),
        }
    }

    /// Waits for the turn until `deadline` (forever with `None`); `None` when it passed.
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Option<TurnGuard<'_, T>> {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        while taken.busy {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            taken = self.changed.wait(taken, deadline);
        }
        taken.busy = true;
        drop(taken);
        Some(TurnGuard {
            turn: self,
            data: Some(self.data.lock().unwrap_or_else(|e| e.into_inner())),
        })
    }

    /// Whether some thread has the turn now.
    pub(crate) fn is_taken(&self) -> bool {
        self.taken.lock().unwrap_or_else(|e| e.into_inner()).busy
    }
}

impl<T> Deref for TurnGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.data.as_ref().expect("held until dropped")
    }
}

impl<T> DerefMut for TurnGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.data.as_mut().expect("held until dropped")
    }
}

impl<T> Drop for TurnGuard<'_, T> {
    fn drop(&mut self) {
        self.data = None;
        let mut taken = self.turn.taken.lock().unwrap_or_else(|e| e.into_inner());
        taken.busy = false;
        self.turn.changed.notify(&mut *taken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_waiter_gives_up_at_its_deadline_and_gets_the_turn_once_free() {
        let turn = Turn::<u32>::default();
        let mut first = turn.take(None).unwrap();
        *first += 1;
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(turn.take(Some(deadline)).is_none());
        assert!(Instant::now() >= deadline);
        drop(first);
        assert_eq!(*turn.take(Some(Instant::now())).unwrap(), 1);
    }
}
