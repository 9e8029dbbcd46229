//! The loaded code: templates ([`Prepared`]: a deserialized artifact, pre-linked) kept in
//! memory so the next request of a version skips the load. Bounded three ways, so that
//! idle code costs nothing but its metadata however many versions are stored:
//!
//! * **bytes** (`--code-cache-mb`): the sum of the loaded artifacts' sizes (the compiled
//!   code mapped in memory, ≈ what a loaded module keeps resident); over it, the least
//!   recently used templates go;
//! * **count** (`--loaded-modules`): the same, by number of templates;
//! * **idle time** (`--code-idle-s`): a template unused that long is unloaded by the
//!   sweeper thread, whatever the room left.
//!
//! Unloading costs the next request of that code one load (read, blake3 check,
//! deserialize, pre-link: ≈ 0.1–0.3 ms for the bundled guests), never correctness: the
//! artifact stays on disk and is verified again when it comes back. A request that holds
//! a template keeps it alive (it is reference-counted) until the instance ends.
//!
//! Hand-written over [`lru::LruCache`] (already the loader's LRU) rather than a cache
//! crate: the byte budget, the idle sweep and the counters are a few lines on top of it,
//! and the lookup stays one mutex and one hash probe.

use super::executor::Prepared;
use crate::model::{CodeHash, GuestKind};
use lru::LruCache;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub type Key = (CodeHash, GuestKind);

/// The bounds ([`crate::runtime::RuntimeConfig`] carries them from the CLI).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_bytes: usize,
    pub max_modules: usize,
    /// `None`: never unloaded for idleness.
    pub idle: Option<Duration>,
}

/// Generic over the template so its bookkeeping is unit-tested without an engine.
pub struct CodeCache<V = Prepared> {
    bounds: Bounds,
    state: Mutex<State<V>>,
    loads: AtomicU64,
    evicted: AtomicU64,
    unloaded_idle: AtomicU64,
}

struct State<V> {
    lru: LruCache<Key, Entry<V>>,
    bytes: usize,
}

struct Entry<V> {
    prepared: V,
    bytes: usize,
    last_used: Instant,
}

/// What `GET /v1/runtime` and the metrics report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CodeCacheStats {
    pub loaded_modules: usize,
    pub loaded_bytes: usize,
    pub max_bytes: usize,
    pub max_modules: usize,
    /// Idle timeout in seconds (`None`: off).
    pub idle_s: Option<u64>,
    /// Templates loaded since start (first use, reload after an unload, repair, upload).
    pub loads: u64,
    /// Unloaded to stay within the byte or count bound.
    pub evicted: u64,
    /// Unloaded after the idle timeout.
    pub unloaded_idle: u64,
}

impl<V: Clone> CodeCache<V> {
    pub fn new(bounds: Bounds) -> Self {
        CodeCache {
            bounds,
            state: Mutex::new(State { lru: LruCache::unbounded(), bytes: 0 }),
            loads: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            unloaded_idle: AtomicU64::new(0),
        }
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The template of `key`, marked used now.
    pub fn get(&self, key: &Key) -> Option<V> {
        let now = Instant::now(); // read before the lock, not under it
        let mut s = self.state.lock();
        let e = s.lru.get_mut(key)?;
        e.last_used = now;
        Some(e.prepared.clone())
    }

    /// The template of `key`, without marking it used.
    pub fn peek(&self, key: &Key) -> Option<V> {
        self.state.lock().lru.peek(key).map(|e| e.prepared.clone())
    }

    /// Keeps `prepared` (`bytes`: its artifact's size), unloading the least recently used
    /// others while over a bound. The new one stays even if it alone is over the budget:
    /// the request that loaded it runs it anyway.
    pub fn insert(&self, key: Key, prepared: V, bytes: usize) {
        self.loads.fetch_add(1, Relaxed);
        let mut dropped = Vec::new();
        {
            let mut s = self.state.lock();
            let entry = Entry { prepared, bytes, last_used: Instant::now() };
            if let Some(old) = s.lru.put(key, entry) {
                s.bytes -= old.bytes;
                dropped.push(old);
            }
            s.bytes += bytes;
            while s.lru.len() > 1 && (s.bytes > self.bounds.max_bytes || s.lru.len() > self.bounds.max_modules) {
                let Some((_, old)) = s.lru.pop_lru() else { break };
                s.bytes -= old.bytes;
                self.evicted.fetch_add(1, Relaxed);
                dropped.push(old);
            }
        }
        // Unmapping code takes a few µs each: not under the lock.
        drop(dropped);
    }

    /// Unloads every template unused since `now - idle`; returns how many.
    pub fn unload_idle(&self, now: Instant) -> usize {
        let Some(idle) = self.bounds.idle else { return 0 };
        let mut dropped = Vec::new();
        {
            let mut s = self.state.lock();
            // LRU order is last-use order: the stale ones are at the tail.
            while s.lru.peek_lru().is_some_and(|(_, e)| now.saturating_duration_since(e.last_used) >= idle) {
                let Some((_, old)) = s.lru.pop_lru() else { break };
                s.bytes -= old.bytes;
                dropped.push(old);
            }
        }
        self.unloaded_idle.fetch_add(dropped.len() as u64, Relaxed);
        dropped.len()
    }

    /// Unloads everything; returns how many.
    pub fn clear(&self) -> usize {
        let dropped: Vec<(Key, Entry<V>)> = {
            let mut s = self.state.lock();
            s.bytes = 0;
            std::iter::from_fn(|| s.lru.pop_lru()).collect()
        };
        dropped.len()
    }

    pub fn stats(&self) -> CodeCacheStats {
        let (loaded_modules, loaded_bytes) = {
            let s = self.state.lock();
            (s.lru.len(), s.bytes)
        };
        CodeCacheStats {
            loaded_modules,
            loaded_bytes,
            max_bytes: self.bounds.max_bytes,
            max_modules: self.bounds.max_modules,
            idle_s: self.bounds.idle.map(|d| d.as_secs()),
            loads: self.loads.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
            unloaded_idle: self.unloaded_idle.load(Relaxed),
        }
    }
}

/// How often the sweeper looks for idle code: a quarter of the timeout (so code goes
/// within 1.25× of it), between 50 ms and 10 s.
pub fn sweep_period(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        (CodeHash::of(&[n]), GuestKind::default())
    }

    fn cache(max_bytes: usize, max_modules: usize, idle: Option<Duration>) -> CodeCache<u8> {
        CodeCache::new(Bounds { max_bytes, max_modules, idle })
    }

    #[test]
    fn byte_budget_unloads_least_recently_used() {
        let c = cache(300, 100, None);
        for n in 0..3 {
            c.insert(key(n), n, 100);
        }
        assert_eq!(c.get(&key(0)), Some(0)); // 1 is now the least recently used
        c.insert(key(3), 3, 100);
        assert_eq!(c.peek(&key(1)), None);
        assert!(c.peek(&key(0)).is_some() && c.peek(&key(2)).is_some() && c.peek(&key(3)).is_some());
        let s = c.stats();
        assert_eq!((s.loaded_modules, s.loaded_bytes, s.loads, s.evicted), (3, 300, 4, 1));
        // One template over the whole budget stays (its request runs it) and evicts the rest.
        c.insert(key(9), 9, 1000);
        let s = c.stats();
        assert_eq!((s.loaded_modules, s.loaded_bytes, s.evicted), (1, 1000, 4));
    }

    #[test]
    fn count_bound_and_reinsert() {
        let c = cache(usize::MAX, 2, None);
        c.insert(key(0), 0, 10);
        c.insert(key(0), 0, 20); // replaced, not counted twice
        assert_eq!(c.stats().loaded_bytes, 20);
        c.insert(key(1), 1, 10);
        c.insert(key(2), 2, 10);
        assert_eq!(c.peek(&key(0)), None);
        assert_eq!(c.stats().loaded_modules, 2);
        assert_eq!(c.clear(), 2);
        assert_eq!(c.stats().loaded_bytes, 0);
    }

    #[test]
    fn idle_code_is_unloaded_and_used_code_stays() {
        let c = cache(usize::MAX, 100, Some(Duration::from_secs(60)));
        c.insert(key(0), 0, 10);
        c.insert(key(1), 1, 10);
        let now = Instant::now();
        assert_eq!(c.unload_idle(now), 0);
        assert_eq!(c.unload_idle(now + Duration::from_secs(61)), 2);
        let s = c.stats();
        assert_eq!((s.loaded_modules, s.loaded_bytes, s.unloaded_idle, s.evicted), (0, 0, 2, 0));
        // Without a timeout nothing goes.
        let forever = cache(usize::MAX, 100, None);
        forever.insert(key(0), 0, 10);
        assert_eq!(forever.unload_idle(now + Duration::from_secs(1 << 30)), 0);
    }

    #[test]
    fn sweep_period_is_clamped() {
        assert_eq!(sweep_period(Duration::from_secs(1)), Duration::from_millis(250));
        assert_eq!(sweep_period(Duration::from_millis(10)), Duration::from_millis(50));
        assert_eq!(sweep_period(Duration::from_secs(3600)), Duration::from_secs(10));
    }
}
