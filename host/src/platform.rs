//! The running platform: store, runtime and the current routing snapshot, shared by the
//! management API (which changes things) and the data plane (which only reads the
//! snapshot).

use crate::model::{CodeHash, Limits};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::snapshot::Snapshot;
use crate::store::{artifacts, blobs, layout::DataDir, sqlite::SqliteStore, Store, StoreError};
use anyhow::Context;
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Server-side settings. Each limit is documented in the README's limits table.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub data_dir: PathBuf,
    pub runtime: RuntimeConfig,
    pub limits: Limits,
    /// Largest code upload accepted (Lambda: 50 MB zipped). Rejected while streaming.
    pub max_upload_bytes: usize,
    /// Largest invoke payload (Lambda: 6 MB synchronous).
    pub max_payload_bytes: usize,
    /// Log events kept per function for the logs API (`--log-buffer-lines`).
    pub log_buffer_lines: usize,
}

impl PlatformConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        PlatformConfig {
            data_dir: data_dir.into(),
            runtime: RuntimeConfig::default(),
            limits: Limits::default(),
            max_upload_bytes: 50 * 1024 * 1024,
            max_payload_bytes: 6 * 1024 * 1024,
            log_buffer_lines: crate::observe::logs::DEFAULT_LINES,
        }
    }
}

pub struct Platform {
    pub store: Arc<dyn Store>,
    pub data: DataDir,
    pub runtime: Arc<Runtime>,
    /// Log buffers and metrics.
    pub observe: crate::observe::Observer,
    pub config: PlatformConfig,
    pub admin_token: String,
    snapshot: ArcSwap<Snapshot>,
    /// Serialises snapshot rebuilds so an older rebuild can never be swapped in after a
    /// newer one.
    rebuild: parking_lot::Mutex<()>,
    corrupt_blobs: parking_lot::Mutex<HashSet<CodeHash>>,
    /// True when this start found an empty data directory.
    pub first_start: bool,
    /// Where the gateway listens: stages' invoke URLs are built from it.
    pub gateway_addr: std::net::SocketAddr,
}

impl Platform {
    /// Opens (or creates) the data directory, checks every stored blob against its hash,
    /// compiles what this engine has no artifact for, and builds the first snapshot.
    pub fn open(config: PlatformConfig, gateway_addr: std::net::SocketAddr) -> anyhow::Result<Arc<Self>> {
        let data = DataDir::new(&config.data_dir);
        let first_start = data.is_new();
        data.create_dirs().with_context(|| format!("creating data directory {}", data.root().display()))?;
        let admin_token = load_or_create_token(&data)?;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.database())?);
        let runtime = Arc::new(Runtime::new(config.runtime.clone(), data.clone())?);
        let corrupt = prepare_code(store.as_ref(), &data, &runtime)?;
        let snapshot = Snapshot::build(store.as_ref(), runtime.fingerprint(), &corrupt).map_err(store_err)?;
        Ok(Arc::new(Platform {
            store,
            data,
            runtime,
            observe: crate::observe::Observer::new(config.log_buffer_lines),
            config,
            admin_token,
            snapshot: ArcSwap::from_pointee(snapshot),
            rebuild: parking_lot::Mutex::new(()),
            corrupt_blobs: parking_lot::Mutex::new(corrupt),
            first_start,
            gateway_addr,
        }))
    }

    /// `http://HOST:PORT/{api}/{stage}`: a stage's invoke URL.
    pub fn invoke_url(&self, api: &str, stage: &str) -> String {
        format!("http://{}/{api}/{stage}", self.gateway_addr)
    }

    /// The current routing state. Cheap: one atomic load.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Rebuilds the snapshot from the store. Called after every committed change, before
    /// the change is acknowledged, so a client that saw "200" also sees the change live.
    pub async fn refresh(self: &Arc<Self>) -> anyhow::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = this.rebuild.lock();
            let corrupt = this.corrupt_blobs.lock().clone();
            let snap = Snapshot::build(this.store.as_ref(), this.runtime.fingerprint(), &corrupt).map_err(store_err)?;
            this.snapshot.store(Arc::new(snap));
            Ok(())
        })
        .await
        .context("snapshot rebuild panicked")?
    }

    /// Runs blocking store work off the async reactor.
    pub async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this.store.as_ref()))
            .await
            .map_err(|e| StoreError::Internal(anyhow::anyhow!("store task failed: {e}")))?
    }
}

fn store_err(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn load_or_create_token(data: &DataDir) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data.admin_token();
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let token = format!("wg_{}", hex::encode(rand::random::<[u8; 32]>()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    Ok(token)
}

/// Startup check of every blob, and compilation of blobs that have no artifact for this
/// engine (first start after a wasmtime upgrade or config change). Returns the blobs that
/// failed their hash check: versions using them refuse to run.
fn prepare_code(store: &dyn Store, data: &DataDir, runtime: &Runtime) -> anyhow::Result<HashSet<CodeHash>> {
    let have: HashSet<CodeHash> =
        store.artifacts(runtime.fingerprint()).map_err(store_err)?.into_iter().map(|a| a.code_hash).collect();
    let mut corrupt = HashSet::new();
    for (hash, _size) in store.blobs().map_err(store_err)? {
        let bytes = match blobs::read_verified(data, &hash) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(code_hash = %hash, error = %format!("{e:#}"), "code blob failed its integrity check; versions using it will refuse to run");
                corrupt.insert(hash);
                continue;
            }
        };
        if !have.contains(&hash) {
            tracing::info!(code_hash = %hash, "compiling for this engine ({})", runtime.fingerprint());
            match runtime.compile(&bytes) {
                Ok(artifact) => {
                    let rec = artifacts::put(data, &hash, runtime.fingerprint(), &artifact)?;
                    store.add_artifact(&rec).map_err(store_err)?;
                }
                Err(e) => tracing::error!(code_hash = %hash, error = %e, "stored code no longer compiles"),
            }
        }
    }
    Ok(corrupt)
}
