//! Version code → ready-to-instantiate template. On first use (or after eviction) the
//! artifact is read, checked against its recorded hash, deserialized and pre-linked by
//! its kind's executor into a [`Prepared`] (for stdio: an `InstancePre`); the
//! [`super::code_cache`] keeps the recently used ones, keyed by (code hash, kind), within
//! its byte, count and idle bounds (a sweeper thread unloads idle code).
//!
//! A missing or corrupt artifact is not fatal: the blob is the source of truth, so
//! [`Loader::repair`] rebuilds the artifact from it once the blob's own hash checks out
//! (a corrupt blob stays refused). That is the only compile on the request path, and it
//! runs off the reactor.
//!
//! Loading reads the verified bytes and deserializes those same bytes (rather than
//! `Module::deserialize_file`, which would mmap the file again): nothing can change the
//! code between the check and its use. The cost is one copy, ≈ the same as the mmap.

use super::code_cache::{Bounds, CodeCache, CodeCacheStats};
use super::executor::{Artifact, Linkers, PrepareCx, Prepared};
use crate::model::{CodeHash, GuestKind};
use crate::store::{artifacts, blobs, layout::DataDir, ArtifactRecord};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use wasmtime::Engine;

/// What the routing snapshot knows about a version's code: enough to load it without
/// asking the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRef {
    pub code_hash: CodeHash,
    /// The guest ABI, decided when the code was compiled.
    pub kind: GuestKind,
    /// The recorded artifact hash for this engine, or why the code can't run.
    pub artifact: Result<String, CodeUnavailable>,
}

/// Why code can't run, known when the snapshot is built. The texts reach clients (502).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeUnavailable {
    /// The blob no longer matches its hash.
    #[error("code blob {hash} failed its integrity check (its bytes no longer match their hash); refusing to run it")]
    CorruptBlob { hash: CodeHash },
    /// No artifact for this engine's fingerprint.
    #[error("code {hash} has no compiled artifact for this engine")]
    NoArtifact { hash: CodeHash },
}

/// Cheap to clone (one `Arc`): a clone moves into `spawn_blocking` for a repair.
#[derive(Clone)]
pub struct Loader {
    inner: Arc<Inner>,
}

/// The one write a request can cause: recording an artifact the loader rebuilt. The
/// runtime (the data plane) gets this narrow handle, never the store; the platform
/// implements it over the store.
pub trait ArtifactLedger: Send + Sync {
    fn record(&self, artifact: &ArtifactRecord) -> anyhow::Result<()>;
    /// The blob's bytes from a store that keeps them (a shared one), for a host without a
    /// local copy; `None` otherwise.
    fn fetch_blob(&self, hash: &CodeHash) -> anyhow::Result<Option<Vec<u8>>>;
}

struct Inner {
    engine: Engine,
    linkers: Linkers,
    data: DataDir,
    fingerprint: String,
    cache: CodeCache,
    /// Where a repaired artifact's new hash is recorded (set by the platform once the
    /// store is open; without it a repair still runs, unrecorded).
    ledger: OnceLock<Arc<dyn ArtifactLedger>>,
    /// Artifact hashes written by repairs, until the next snapshot carries them.
    repaired: Mutex<HashMap<CodeHash, String>>,
    /// One repair at a time: concurrent requests for the same broken code compile once.
    repairing: Mutex<()>,
}

/// A verified artifact: a module's open file, a component's bytes.
enum Checked {
    Bytes(Vec<u8>),
    File(std::fs::File, u64),
}

/// The outcome of [`Loader::get`].
pub enum Lookup {
    /// The template, and how long loading took when this call had to load it.
    Ready(Prepared, Option<Duration>),
    /// The artifact is missing or corrupt but the code is known: [`Loader::repair`] (which
    /// compiles: call it off the reactor) can rebuild it from the blob.
    NeedsRepair(String),
}

impl Loader {
    /// With an idle timeout, starts the sweeper thread that unloads idle code (it ends
    /// with the loader).
    pub(crate) fn new(engine: Engine, linkers: Linkers, data: DataDir, fingerprint: String, bounds: Bounds) -> Self {
        let inner = Arc::new(Inner {
            engine,
            linkers,
            data,
            fingerprint,
            cache: CodeCache::new(Bounds { max_modules: bounds.max_modules.max(1), ..bounds }),
            ledger: OnceLock::new(),
            repaired: Mutex::new(HashMap::new()),
            repairing: Mutex::new(()),
        });
        if let Some(idle) = bounds.idle {
            spawn_sweeper(Arc::downgrade(&inner), idle);
        }
        Loader { inner }
    }

    /// Lets repairs record the artifacts they rebuild. Only the first call has an effect.
    pub fn attach_ledger(&self, ledger: Arc<dyn ArtifactLedger>) {
        let _ = self.inner.ledger.set(ledger);
    }

    /// The template for `code` from the cache or its verified artifact. Never compiles.
    pub fn get(&self, code: &CodeRef) -> Result<Lookup, String> {
        // Code found unrunnable (a corrupt blob) after it was loaded stays refused.
        code.artifact.as_ref().map_err(|why| why.to_string())?;
        let key = (code.code_hash, code.kind);
        if let Some(pre) = self.inner.cache.get(&key) {
            return Ok(Lookup::Ready(pre, None));
        }
        let started = Instant::now();
        let checked = match self.read_artifact(code)? {
            Ok(c) => c,
            Err(why) => return Ok(Lookup::NeedsRepair(why)),
        };
        let (pre, size) = match checked {
            Checked::Bytes(bytes) => (self.prepare(&code.code_hash, code.kind, Artifact::Bytes(&bytes))?, bytes.len()),
            Checked::File(file, size) => (
                self.prepare(&code.code_hash, code.kind, Artifact::File(file))?,
                usize::try_from(size).unwrap_or(usize::MAX),
            ),
        };
        self.inner.cache.insert(key, pre.clone(), size);
        Ok(Lookup::Ready(pre, Some(started.elapsed())))
    }

    /// Loads `code` now unless it is loaded already, so that no request pays for it:
    /// called off the request path (blocking) when a version is published. Repairs a
    /// missing or corrupt artifact.
    pub fn preload(&self, code: &CodeRef) -> Result<(), String> {
        match self.get(code)? {
            Lookup::Ready(..) => Ok(()),
            Lookup::NeedsRepair(why) => self.repair(code, &why).map(drop),
        }
    }

    /// Rebuilds the artifact of `code` from its blob after checking the blob's hash (a
    /// corrupt blob is refused), writes it atomically, records its hash and loads it.
    /// Compiles: blocking, call it off the async reactor.
    pub fn repair(&self, code: &CodeRef, why: &str) -> Result<(Prepared, Duration), String> {
        let _one = self.inner.repairing.lock();
        let started = Instant::now();
        // A concurrent request may have repaired it while this one waited.
        if let Some(pre) = self.inner.cache.get(&(code.code_hash, code.kind)) {
            return Ok((pre, started.elapsed()));
        }
        let hash = code.code_hash;
        let inner = &self.inner;
        let fetch = || match inner.ledger.get() {
            Some(ledger) => ledger.fetch_blob(&hash),
            None => Ok(None),
        };
        let wasm = blobs::read_or_fetch(&inner.data, &hash, fetch).map_err(|e| {
            tracing::error!(code_hash = %hash, error = %format!("{e:#}"), "artifact unusable ({why}) and its blob failed its integrity check; refusing to run it");
            format!("{e:#}")
        })?;
        let compiled = super::compile::compile_with(&inner.engine, &inner.linkers, &wasm)
            .map_err(|e| format!("code {hash} could not be recompiled: {e}"))?;
        if compiled.kind != code.kind {
            return Err(format!(
                "code {hash} recompiled as a {} guest, but its versions were recorded as {}",
                compiled.kind, code.kind
            ));
        }
        let rec = artifacts::put(&inner.data, &hash, &inner.fingerprint, compiled.kind, &compiled.artifact)
            .map_err(|e| format!("the rebuilt artifact for code {hash} could not be stored: {e:#}"))?;
        match inner.ledger.get() {
            Some(ledger) => {
                if let Err(e) = ledger.record(&rec) {
                    // The file is written; a later load that finds it unrecorded repairs again.
                    tracing::error!(code_hash = %hash, error = %e, "could not record the rebuilt artifact");
                }
            }
            None => tracing::warn!(code_hash = %hash, "rebuilt artifact not recorded: no ledger attached"),
        }
        inner.repaired.lock().insert(hash, rec.artifact_hash.clone());
        tracing::error!(code_hash = %hash, reason = %why, "artifact for code {hash} was missing/corrupt, rebuilt from its verified blob");
        let pre = self.prepare(&hash, compiled.kind, Artifact::Bytes(&compiled.artifact))?;
        inner.cache.insert((hash, compiled.kind), pre.clone(), compiled.artifact.len());
        Ok((pre, started.elapsed()))
    }

    /// Makes `compiled` (what [`super::Runtime::compile`] just produced for `code`, still
    /// in memory) the loaded template of `code`: the upload path's preload, without
    /// reading back what it just wrote.
    pub fn insert_compiled(&self, code: &CodeHash, compiled: &super::compile::Compiled) -> Result<(), String> {
        let pre = self.prepare(code, compiled.kind, Artifact::Bytes(&compiled.artifact))?;
        self.inner.cache.insert((*code, compiled.kind), pre, compiled.artifact.len());
        Ok(())
    }

    /// The verified artifact; `Ok(Err(why))` when the file is missing, unreadable or does
    /// not match its record (repairable); `Err` when the code can't run at all. A module's
    /// file is checked and handed over open (wasmtime maps it: no copy of its code, and its
    /// memory image is the file's pages rather than a new memfd — most of a reload's cost
    /// otherwise); a component's bytes are read and checked (wasmtime has no open-file
    /// load for components).
    fn read_artifact(&self, code: &CodeRef) -> Result<Result<Checked, String>, String> {
        let expected = code.artifact.as_ref().map_err(|why| why.to_string())?;
        let repaired = self.inner.repaired.lock().get(&code.code_hash).cloned();
        let accepted: Vec<&str> = std::iter::once(expected.as_str()).chain(repaired.as_deref()).collect();
        let (data, fingerprint) = (&self.inner.data, self.inner.fingerprint.as_str());
        let checked = match code.kind {
            GuestKind::StdioProxy => artifacts::open_verified(data, &code.code_hash, fingerprint, &accepted)
                .map(|(file, size)| Checked::File(file, size)),
            GuestKind::WasiHttp | GuestKind::Handler => {
                artifacts::read_verified(data, &code.code_hash, fingerprint, &accepted).map(Checked::Bytes)
            }
        };
        Ok(checked.map_err(
            |e| {
                tracing::warn!(code_hash = %code.code_hash, error = %format!("{e:#}"), "artifact unusable; rebuilding it from its blob");
                format!("{e:#}")
            },
        ))
    }

    /// `bytes` must be what this engine's compiler produced for `code` (verified against
    /// the recorded artifact hash, or just compiled).
    fn prepare(&self, code: &CodeHash, kind: GuestKind, artifact: Artifact<'_>) -> Result<Prepared, String> {
        let cx: PrepareCx<'_> = self.inner.linkers.cx(&self.inner.engine);
        // SAFETY: the executor maps these bytes as executable code. They are exactly the
        // bytes wasmtime produced at compile time for this engine fingerprint: either the
        // blake3 check of `load` proves they were not altered since, or they never left
        // memory (`insert_compiled`, `repair`).
        unsafe { Prepared::load(kind, &cx, code, artifact) }
    }

    /// The loaded template of `code`, if it is loaded (no load, no LRU promotion).
    pub fn peek(&self, code: &CodeRef) -> Option<Prepared> {
        self.inner.cache.peek(&(code.code_hash, code.kind))
    }

    /// Drops every loaded template (the next invocation of each reloads it); returns how
    /// many.
    pub fn evict_all(&self) -> usize {
        self.inner.cache.clear()
    }

    pub fn loaded(&self) -> usize {
        self.inner.cache.stats().loaded_modules
    }

    pub fn stats(&self) -> CodeCacheStats {
        self.inner.cache.stats()
    }
}

/// The thread that unloads idle code every [`super::code_cache::sweep_period`]; it ends
/// when the loader is dropped. A thread rather than a tokio task: the runtime is built
/// outside any reactor (and the epoch ticker is one too).
fn spawn_sweeper(inner: Weak<Inner>, idle: Duration) {
    let period = super::code_cache::sweep_period(idle);
    let spawned = std::thread::Builder::new().name("waygate-code-idle".into()).spawn(move || loop {
        std::thread::sleep(period);
        let Some(inner) = inner.upgrade() else { return };
        let n = inner.cache.unload_idle(Instant::now());
        if n > 0 {
            tracing::debug!(unloaded = n, "unloaded idle code");
        }
    });
    if let Err(e) = spawned {
        // Code then stays loaded within the byte and count bounds: degraded, not broken.
        tracing::error!(error = %e, "cannot start the idle-code sweeper; idle code stays loaded");
    }
}
