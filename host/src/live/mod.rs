//! Data-plane state that must outlive snapshot rebuilds: the stage response cache, the
//! throttle buckets, the functions' in-flight counters, per-stage request counters and
//! the usage of each priority class and stage, the invocation windows deployment monitors
//! read.
//! Owned by the platform; each snapshot build hands out handles into it, keyed so that a
//! settings change takes effect.

pub mod concurrency;
pub mod usage;
pub mod windows;

use crate::gateway::cache::ResponseCache;
use crate::gateway::throttle::Buckets;
use crate::observe::stage_metrics::StageMetrics;
use concurrency::InFlight;
use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::hash::Hash;
use usage::UsageBoard;

pub struct LiveState {
    pub cache: ResponseCache,
    pub buckets: Buckets,
    pub in_flight: InFlight,
    pub metrics: StageMetrics,
    /// Running instances, CPU time, queue wait and yields per class and stage.
    pub usage: UsageBoard,
    /// Invocations per watched (function, environment), for deployment monitors.
    pub windows: windows::Windows,
}

/// Handles keyed by their settings that outlive snapshot rebuilds (throttle buckets,
/// in-flight counters, stage counters, stage usage). A rebuild [`Renewable::renew`]s the
/// map: what it asks for again is carried over, the rest is dropped when the renewal
/// ends. Rebuilds are serialised by the platform, so the lock is held for one build.
pub struct Renewable<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Default for Renewable<K, V> {
    fn default() -> Self {
        Renewable(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Renewable<K, V> {
    pub fn renew(&self) -> Renewal<'_, K, V> {
        let mut live = self.0.lock();
        let old = std::mem::take(&mut *live);
        Renewal { live, old }
    }

    /// [`Self::renew`] for `keys` only: the other handles stay as they are (an
    /// incremental snapshot update that rebuilt only these keys' owners).
    pub fn renew_keys(&self, keys: impl IntoIterator<Item = K>) -> Renewal<'_, K, V> {
        let mut live = self.0.lock();
        let old = keys.into_iter().filter_map(|k| live.remove(&k).map(|v| (k, v))).collect();
        Renewal { live, old }
    }

    /// [`Self::renew`] for the keys `matching` only (an incremental update that rebuilt
    /// one API's stages renews that API's handles).
    pub fn renew_where(&self, matching: impl Fn(&K) -> bool) -> Renewal<'_, K, V> {
        let mut live = self.0.lock();
        let keys: Vec<K> = live.keys().filter(|k| matching(k)).cloned().collect();
        let old = keys.into_iter().filter_map(|k| live.remove(&k).map(|v| (k, v))).collect();
        Renewal { live, old }
    }

    /// The live handles (for views).
    pub fn lock(&self) -> MutexGuard<'_, HashMap<K, V>> {
        self.0.lock()
    }

    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One rebuild's hand-out of handles; see [`Renewable`].
pub struct Renewal<'a, K, V> {
    live: MutexGuard<'a, HashMap<K, V>>,
    old: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> Renewal<'_, K, V> {
    /// The handle for `key`: `make` gets the previous one (asked for earlier in this
    /// build, or in the previous build), or `None`, and returns the one to keep.
    pub fn carry(&mut self, key: K, make: impl FnOnce(Option<V>) -> V) -> V {
        let previous = self.live.remove(&key).or_else(|| self.old.remove(&key));
        let v = make(previous);
        self.live.insert(key, v.clone());
        v
    }
}

impl LiveState {
    pub fn new(cache_max_bytes: u64) -> Self {
        LiveState {
            cache: ResponseCache::new(cache_max_bytes),
            buckets: Buckets::default(),
            in_flight: InFlight::default(),
            metrics: StageMetrics::default(),
            usage: UsageBoard::default(),
            windows: windows::Windows::default(),
        }
    }
}
