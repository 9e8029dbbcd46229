//! Version code → ready-to-instantiate template. On first use (or after eviction) the
//! artifact is read, checked against its recorded hash, deserialized and pre-linked into
//! an [`InstancePre`]; an LRU keeps the most recently used ones.
//!
//! Loading reads the verified bytes and deserializes those same bytes (rather than
//! `Module::deserialize_file`, which would mmap the file again): nothing can change the
//! code between the check and its use. The cost is one copy, ≈ the same as the mmap.

use super::instance::HostState;
use crate::model::CodeHash;
use crate::store::{artifacts, layout::DataDir};
use lru::LruCache;
use parking_lot::Mutex;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Engine, InstancePre, Linker, Module};

/// What the routing snapshot knows about a version's code: enough to load it without
/// asking the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRef {
    pub code_hash: CodeHash,
    /// The recorded artifact hash for this engine, or why the code can't run (no artifact
    /// for this engine, or a blob that failed its integrity check).
    pub artifact: Result<String, String>,
}

pub struct Loader {
    engine: Engine,
    linker: Linker<HostState>,
    data: DataDir,
    fingerprint: String,
    cache: Mutex<LruCache<CodeHash, Arc<InstancePre<HostState>>>>,
}

impl Loader {
    pub(crate) fn new(
        engine: Engine,
        linker: Linker<HostState>,
        data: DataDir,
        fingerprint: String,
        capacity: usize,
    ) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Loader { engine, linker, data, fingerprint, cache: Mutex::new(LruCache::new(cap)) }
    }

    /// The template for `code`, and how long loading took when this call had to load it.
    pub fn get(&self, code: &CodeRef) -> Result<(Arc<InstancePre<HostState>>, Option<Duration>), String> {
        if let Some(pre) = self.cache.lock().get(&code.code_hash) {
            return Ok((pre.clone(), None));
        }
        let started = Instant::now();
        let pre = Arc::new(self.load(code)?);
        self.cache.lock().put(code.code_hash, pre.clone());
        Ok((pre, Some(started.elapsed())))
    }

    /// Loads `code` now unless it is loaded already, so that no request pays for it:
    /// called off the request path when code is uploaded or a version is published.
    pub fn preload(&self, code: &CodeRef) -> Result<(), String> {
        if self.cache.lock().contains(&code.code_hash) {
            return Ok(());
        }
        let pre = Arc::new(self.load(code)?);
        self.cache.lock().put(code.code_hash, pre);
        Ok(())
    }

    /// Makes `compiled` (what [`super::Runtime::compile`] just produced for `code`, still
    /// in memory) the loaded template of `code`: the upload path's preload, without
    /// reading back what it just wrote.
    pub fn insert_compiled(&self, code: &CodeHash, compiled: &[u8]) -> Result<(), String> {
        let pre = Arc::new(self.prepare(code, compiled)?);
        self.cache.lock().put(*code, pre);
        Ok(())
    }

    fn load(&self, code: &CodeRef) -> Result<InstancePre<HostState>, String> {
        let expected = code.artifact.as_ref().map_err(|why| why.clone())?;
        let bytes =
            artifacts::read_verified(&self.data, &code.code_hash, &self.fingerprint, expected).map_err(|e| {
                tracing::error!(code_hash = %code.code_hash, error = %e, "refusing to load code");
                format!("{e:#}")
            })?;
        self.prepare(&code.code_hash, &bytes)
    }

    /// `bytes` must be what this engine's compiler produced for `code` (verified against
    /// the recorded artifact hash, or just compiled).
    fn prepare(&self, code: &CodeHash, bytes: &[u8]) -> Result<InstancePre<HostState>, String> {
        // SAFETY: `deserialize` maps these bytes as executable code. They are exactly the
        // bytes wasmtime produced at compile time for this engine fingerprint: either the
        // blake3 check of `load` proves they were not altered since, or they never left
        // memory (`insert_compiled`).
        let module = unsafe { Module::deserialize(&self.engine, bytes) }
            .map_err(|e| format!("compiled artifact for code {code} could not be loaded: {e:#}"))?;
        // Build the copy-on-write memory image now rather than in the first instantiation
        // (wasmtime does it lazily): part of loading, not of the first request.
        module
            .initialize_copy_on_write_image()
            .map_err(|e| format!("memory image for code {code} could not be built: {e:#}"))?;
        self.linker.instantiate_pre(&module).map_err(|e| format!("code {code} could not be linked: {e:#}"))
    }

    /// The loaded template of `code`, if it is loaded (no load, no LRU promotion).
    pub fn peek(&self, code: &CodeHash) -> Option<Arc<InstancePre<HostState>>> {
        self.cache.lock().peek(code).cloned()
    }

    /// Drops every loaded template (the next invocation of each reloads it).
    pub fn evict_all(&self) {
        self.cache.lock().clear();
    }

    pub fn loaded(&self) -> usize {
        self.cache.lock().len()
    }
}
