//! The listener's TLS session cache: rustls' server-side store for resumption (TLS 1.2
//! session ids and TLS 1.3 stateful tickets), with entries that expire after the
//! configured `session_timeout` and a bounded size.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::server::StoresServerSessions;

#[derive(Debug)]
pub(crate) struct ExpiringSessions {
    lifetime: Duration,
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Vec<u8>, (Vec<u8>, Instant)>,
    /// Keys in insertion order, to evict the oldest when full.
    order: VecDeque<Vec<u8>>,
}

impl ExpiringSessions {
    pub(crate) fn new(lifetime: Duration, capacity: usize) -> ExpiringSessions {
        ExpiringSessions {
            lifetime,
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StoresServerSessions for ExpiringSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut entries = self.lock();
        while entries.map.len() >= self.capacity {
            match entries.order.pop_front() {
                Some(oldest) => {
                    entries.map.remove(&oldest);
                }
                None => break,
            }
        }
        if entries
            .map
            .insert(key.clone(), (value, Instant::now()))
            .is_none()
        {
            entries.order.push_back(key);
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entries = self.lock();
        let (value, stored) = entries.map.get(key)?;
        (stored.elapsed() < self.lifetime).then(|| value.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut entries = self.lock();
        let (value, stored) = entries.map.remove(key)?;
        entries.order.retain(|k| k != key);
        (stored.elapsed() < self.lifetime).then_some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_oldest_is_evicted() {
        let cache = ExpiringSessions::new(Duration::from_secs(3600), 2);
        cache.put(b"a".to_vec(), b"1".to_vec());
        cache.put(b"b".to_vec(), b"2".to_vec());
        cache.put(b"c".to_vec(), b"3".to_vec());
        assert_eq!(cache.get(b"a"), None);
        assert_eq!(cache.get(b"b"), Some(b"2".to_vec()));
        assert_eq!(cache.take(b"c"), Some(b"3".to_vec()));
        assert_eq!(cache.get(b"c"), None);

        let expired = ExpiringSessions::new(Duration::ZERO, 8);
        expired.put(b"k".to_vec(), b"v".to_vec());
        assert_eq!(expired.get(b"k"), None);
    }
}
