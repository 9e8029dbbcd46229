//! The running platform: the store, the runtime and the current routing snapshot. The
//! management side changes things only through [`Platform::commit`] (called by `ops`);
//! the data plane gets [`Platform::data_plane`], a handle without the store.

use crate::model::{CodeHash, Limits};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::snapshot::Snapshot;
use crate::store::postgres::{follow, PostgresStore};
use crate::store::{artifacts, blobs, layout::DataDir, sqlite::SqliteStore, Store, StoreError, Tx};
use anyhow::Context;
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Server-side settings. Each limit is documented in docs/limits.md.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub data_dir: PathBuf,
    /// The metadata store: `None` for the embedded SQLite file in the data directory, or a
    /// PostgreSQL URL shared by several hosts (`--store`, `WAYGATE_STORE`).
    pub store: Option<String>,
    /// Where the admin token is read from instead of DATA_DIR/admin.token (`--admin-token-file`):
    /// hosts sharing a database are given the same one.
    pub admin_token_file: Option<PathBuf>,
    pub runtime: RuntimeConfig,
    pub limits: Limits,
    /// Largest code upload accepted (Lambda: 50 MB zipped). Rejected while streaming.
    pub max_upload_bytes: usize,
    /// Largest invoke payload (Lambda: 6 MB synchronous).
    pub max_payload_bytes: usize,
    /// The secrets master key: a file (created 0600 with a random key when absent) or the
    /// key itself (hex, e.g. from `WAYGATE_MASTER_KEY`). Default file: DATA_DIR/master.key.
    pub master_key_file: Option<PathBuf>,
    pub master_key_hex: Option<zeroize::Zeroizing<String>>,
    /// Memory bound of the stage response cache as a whole (`--cache-max-mb`).
    pub cache_max_bytes: u64,
    /// Log events kept per function for the logs API (`--log-buffer-lines`).
    pub log_buffer_lines: usize,
    /// Connection caps and timeouts of both listeners (`--max-gateway-connections` etc.).
    pub connections: crate::connections::ConnectionLimits,
    /// The outbound HTTP client's CA bundle, timeouts and pool (`--backend-ca-file` etc.).
    pub backend: crate::backend::BackendConfig,
    /// The AWS-compatible API's region and account id (`--aws-region`, `--aws-account-id`).
    pub aws: crate::control::aws::AwsSettings,
    /// Delay before the first retry of a failed asynchronous (`Event`) invocation; the
    /// second waits twice as long (`--event-retry-delay-ms`, Lambda: 1 minute).
    pub event_retry_delay: std::time::Duration,
}

impl PlatformConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        PlatformConfig {
            data_dir: data_dir.into(),
            store: None,
            admin_token_file: None,
            runtime: RuntimeConfig::default(),
            limits: Limits::default(),
            max_upload_bytes: 50 * 1024 * 1024,
            max_payload_bytes: 6 * 1024 * 1024,
            master_key_file: None,
            master_key_hex: None,
            cache_max_bytes: 64 * 1024 * 1024,
            log_buffer_lines: crate::observe::logs::DEFAULT_LINES,
            connections: crate::connections::ConnectionLimits::default(),
            backend: crate::backend::BackendConfig::default(),
            aws: crate::control::aws::AwsSettings::default(),
            event_retry_delay: std::time::Duration::from_secs(60),
        }
    }
}

pub struct Platform {
    /// Reached through [`Platform::read`] and [`Platform::commit`] (and by `ops`, which
    /// holds the rules); never by the data plane.
    pub(crate) store: Arc<dyn Store>,
    pub data: DataDir,
    pub runtime: Arc<Runtime>,
    /// Log buffers and metrics (shared with the data plane).
    pub observe: Arc<crate::observe::Observer>,
    pub config: PlatformConfig,
    pub admin_token: String,
    /// The admin's AWS credentials (DATA_DIR/aws-credentials): SigV4 with them is root.
    pub admin_aws: AdminAws,
    /// Lambda's asynchronous invocations waiting or running.
    pub events: crate::control::aws::events::EventQueue,
    /// Encrypts secrets at rest; decrypts them into the snapshot.
    pub master_key: crate::secrets::MasterKey,
    /// The cell the data plane reads; `refresh` stores each rebuilt snapshot into it.
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Cache entries, throttle buckets, in-flight counters: outlive snapshot rebuilds
    /// (shared with the data plane).
    pub live: Arc<crate::live::LiveState>,
    /// The gateway's and direct invoke's handle: snapshot, live state, runtime, observer.
    data_plane: Arc<crate::data_plane::DataPlane>,
    /// Serialises snapshot rebuilds so an older rebuild can never be swapped in after a
    /// newer one.
    rebuild: parking_lot::Mutex<()>,
    /// Held exclusively by a commit from its write until its snapshot is live, and shared
    /// by reads: a management read never returns state the data plane doesn't serve yet
    /// (a client that read "rolled back" invokes the rolled-back version).
    visible: parking_lot::RwLock<()>,
    corrupt_blobs: parking_lot::Mutex<HashSet<CodeHash>>,
    /// The background integrity pass started with the platform ([`spawn_integrity_check`]).
    pub integrity: IntegrityCheck,
    /// True when this start found an empty data directory.
    pub first_start: bool,
    /// The shared store's change feed (`None` with the embedded store).
    pub feed: Option<Arc<follow::Feed>>,
    /// This host's id (DATA_DIR/host-id), with a shared store.
    pub host_id: Option<String>,
    /// The shared store itself (`None` with the embedded store), for `GET /v1/cluster`.
    pub(crate) shared: Option<Arc<PostgresStore>>,
    /// When this platform started (RFC 3339).
    pub started_at: String,
    /// Where the gateway listens: stages' invoke URLs are built from it.
    pub gateway_addr: std::net::SocketAddr,
    /// Held (flock) for the platform's lifetime: one process per data directory, which is
    /// what lets the startup sweep delete unrecorded files.
    _lock: std::fs::File,
}

impl Platform {
    /// Opens (or creates) the data directory, compiles what this engine has no artifact
    /// record for, builds the first snapshot, and starts the background integrity check
    /// of every stored blob and artifact file ([`spawn_integrity_check`]).
    pub fn open(mut config: PlatformConfig, gateway_addr: std::net::SocketAddr) -> anyhow::Result<Arc<Self>> {
        let data = DataDir::new(&config.data_dir);
        let mut first_start = data.is_new();
        let loose = data.create_dirs().with_context(|| format!("creating data directory {}", data.root().display()))?;
        let lock = lock_data_dir(&data)?;
        warn_if_loose(&data, loose);
        // Nothing else runs yet and the lock keeps other processes out: the sweep cannot
        // race a write in progress.
        let master_key = load_master_key(&config, &data)?;
        let (store, shared, host_id): (Arc<dyn Store>, _, _) = match &config.store {
            None => (Arc::new(SqliteStore::open(&data.database())?), None, None),
            Some(url) => {
                let pg = Arc::new(PostgresStore::open(url)?);
                // The examples are registered once per database, not once per host.
                first_start = pg.created;
                let host_id = load_or_create_host_id(&data)?;
                // Artifacts are this host's: recorded under its own fingerprint.
                config.runtime.artifact_scope = Some(host_id.clone());
                (pg.clone() as Arc<dyn Store>, Some(pg), Some(host_id))
            }
        };
        let (admin_token, admin_aws) = match &shared {
            None => {
                let token = match &config.admin_token_file {
                    Some(path) => read_token_file(path)?,
                    None => load_or_create_token(&data)?,
                };
                (token, load_or_create_aws_credentials(&data)?)
            }
            Some(pg) => shared_admin(pg, &config, &data, &master_key)?,
        };
        let opened = std::time::Instant::now();
        let swept = crate::store::sweep::sweep(&data, store.as_ref())?;
        let swept_at = opened.elapsed();
        if swept != Default::default() {
            tracing::warn!(
                tmp = swept.tmp,
                blobs = swept.blobs,
                artifacts = swept.artifacts,
                "removed leftovers of an interrupted run"
            );
        }
        let runtime = Arc::new(Runtime::new(config.runtime.clone(), data.clone())?);
        runtime.loader().attach_ledger(Arc::new(ArtifactRecorder(store.clone())));
        let backends = crate::backend::Backends::new(&config.backend)?;
        runtime.attach_backends(backends.clone());
        let runtime_at = opened.elapsed();
        let corrupt = prepare_code(store.as_ref(), &data, &runtime, CodeCheck::Unrecorded)?;
        let code_at = opened.elapsed();
        let live = Arc::new(crate::live::LiveState::new(config.cache_max_bytes));
        let snapshot = build_snapshot(store.as_ref(), &runtime, &corrupt, &live, &admin_token, &master_key)?;
        tracing::info!(
            sweep_ms = swept_at.as_secs_f64() * 1e3,
            runtime_ms = (runtime_at - swept_at).as_secs_f64() * 1e3,
            code_ms = (code_at - runtime_at).as_secs_f64() * 1e3,
            snapshot_ms = (opened.elapsed() - code_at).as_secs_f64() * 1e3,
            functions = snapshot.functions.len(),
            "opened the data directory"
        );
        let snapshot = Arc::new(ArcSwap::from_pointee(snapshot));
        let observe = Arc::new(crate::observe::Observer::new(config.log_buffer_lines));
        let data_plane = Arc::new(crate::data_plane::DataPlane::new(
            snapshot.clone(),
            live.clone(),
            runtime.clone(),
            observe.clone(),
            crate::data_plane::DataPlaneConfig { max_payload_bytes: config.max_payload_bytes },
            backends,
        )?);
        let events = crate::control::aws::events::EventQueue::new(config.event_retry_delay);
        let feed = shared.as_ref().map(|_| Arc::new(follow::Feed::default()));
        let platform = Arc::new(Platform {
            events,
            store,
            data,
            runtime,
            observe,
            config,
            admin_token,
            admin_aws,
            master_key,
            snapshot,
            live,
            data_plane,
            rebuild: parking_lot::Mutex::new(()),
            visible: parking_lot::RwLock::new(()),
            corrupt_blobs: parking_lot::Mutex::new(corrupt),
            integrity: IntegrityCheck::default(),
            first_start,
            feed,
            host_id,
            shared: shared.clone(),
            started_at: crate::store::now_rfc3339(),
            gateway_addr,
            _lock: lock,
        });
        if let (Some(pg), Some(feed)) = (&shared, &platform.feed) {
            let weak = Arc::downgrade(&(platform.clone() as Arc<dyn follow::Follower>));
            follow::spawn(pg.config().clone(), feed.clone(), weak).context("starting the change feed")?;
        }
        spawn_integrity_check(&platform);
        Ok(platform)
    }

    /// `http://HOST:PORT/{api}/{stage}`: a stage's invoke URL.
    pub fn invoke_url(&self, api: &str, stage: &str) -> String {
        format!("http://{}/{api}/{stage}", self.gateway_addr)
    }

    /// The current routing state. Cheap: one atomic load.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// The data plane's handle (what the gateway and direct invoke run on).
    pub fn data_plane(&self) -> &Arc<crate::data_plane::DataPlane> {
        &self.data_plane
    }

    /// Runs `f` (a use case's reads and writes, see `ops`) in one store transaction,
    /// commits it, and swaps in the snapshot rebuilt from the committed state — all before
    /// returning, so a client that saw "200" also sees the change live. The one path by
    /// which anything reaches the store's write side: a change can't be committed without
    /// its snapshot being published.
    pub async fn commit<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&dyn Tx) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _visible = this.visible.write();
            let (out, committed) = crate::store::write(this.store.as_ref(), f)?;
            this.apply(&committed)?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::internal(format!("store task failed: {e}")))?
    }

    /// Runs `f` in one read transaction, off the async reactor.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&dyn Tx) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _visible = this.visible.read();
            crate::store::read(this.store.as_ref(), f)
        })
        .await
        .map_err(|e| StoreError::internal(format!("store task failed: {e}")))?
    }

    /// A blob's bytes as the store keeps them (the shared store keeps every blob; `None` from
    /// the embedded store, whose blobs are files). Blocking; not verified here.
    pub(crate) fn blob_bytes(&self, hash: &CodeHash) -> anyhow::Result<Option<Vec<u8>>> {
        crate::store::read(self.store.as_ref(), |tx| tx.blob_bytes(hash)).map_err(store_err)
    }

    /// The audit log (appended outside the calls' own transactions).
    pub fn audit_log(&self) -> &dyn crate::store::AuditLog {
        self.store.as_ref()
    }

    /// Brings the snapshot up to a commit of this platform (blocking): applies its changes
    /// to the current snapshot when that is the commit's predecessor
    /// ([`Snapshot::update`]: only what changed is read), else rebuilds in full. Serialised
    /// with every other rebuild; a snapshot already as new is left alone.
    fn apply(&self, committed: &crate::store::Committed) -> anyhow::Result<()> {
        let _guard = self.rebuild.lock();
        let prev = self.snapshot.load_full();
        if prev.change_seq >= committed.seq {
            return Ok(());
        }
        let corrupt = self.corrupt_blobs.lock().clone();
        let inputs = crate::snapshot::Inputs {
            corrupt_blobs: &corrupt,
            live: &self.live,
            admin_token: &self.admin_token,
            master_key: &self.master_key,
        };
        let fingerprint = self.runtime.fingerprint();
        let updated = crate::store::read(self.store.as_ref(), |tx| {
            Snapshot::update(&prev, &committed.changes, tx, &inputs, fingerprint)
        })
        .map_err(store_err)?;
        match updated {
            Some(snap) => self.snapshot.store(Arc::new(snap)),
            None => self.rebuild_locked()?,
        }
        Ok(())
    }

    /// A full build of the snapshot from the store, not swapped in: what the incremental
    /// updates must always equal (the tests compare them).
    pub fn full_snapshot(&self) -> anyhow::Result<Snapshot> {
        // Builds renew the live handles: one at a time.
        let _guard = self.rebuild.lock();
        self.build_full()
    }

    /// [`build_snapshot`] with this platform's inputs (the rebuild lock held by the caller).
    fn build_full(&self) -> anyhow::Result<Snapshot> {
        let corrupt = self.corrupt_blobs.lock().clone();
        build_snapshot(self.store.as_ref(), &self.runtime, &corrupt, &self.live, &self.admin_token, &self.master_key)
    }

    /// Rebuilds the snapshot from the store and swaps it in (blocking). Rebuilds are
    /// serialised, and one built from an older change sequence is never swapped in over a
    /// newer one.
    fn rebuild_snapshot(&self) -> anyhow::Result<()> {
        let _guard = self.rebuild.lock();
        self.rebuild_locked()
    }

    /// [`Self::rebuild_snapshot`] with the rebuild lock held.
    fn rebuild_locked(&self) -> anyhow::Result<()> {
        let snap = self.build_full()?;
        if snap.change_seq >= self.snapshot.load().change_seq {
            self.snapshot.store(Arc::new(snap));
        }
        Ok(())
    }
}

/// Another host committed `seq`: compile the code this host has no artifact for (so no
/// request pays a compile), then rebuild the snapshot — unless it is already that new.
impl follow::Follower for Platform {
    fn changed(&self, seq: u64) {
        if seq <= self.snapshot.load().change_seq {
            return;
        }
        match prepare_code(self.store.as_ref(), &self.data, &self.runtime, CodeCheck::Followed) {
            Ok(corrupt) => self.corrupt_blobs.lock().extend(corrupt),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "compiling code published by another host"),
        }
        if let Err(e) = self.rebuild_snapshot() {
            tracing::error!(error = %format!("{e:#}"), "rebuilding the snapshot after change {seq}");
        }
    }

    fn cache_event(&self, event: &str) {
        match event.split(' ').collect::<Vec<_>>()[..] {
            ["flush", api, stage] => self.live.cache.flush_stage(api, stage),
            _ => tracing::warn!(event, "unknown cache event from another host"),
        }
    }

    fn presence(&self) -> (String, String, String, u64) {
        let id = self.host_id.clone().unwrap_or_default();
        (id, self.gateway_addr.to_string(), self.started_at.clone(), self.snapshot.load().change_seq)
    }
}

/// Records the artifacts the loader rebuilds (its [`crate::runtime::loader::ArtifactLedger`]).
/// A write outside [`Platform::commit`]: an artifact row changes no routing state (the
/// loader keeps the rebuilt template), but it advances the change sequence like any write.
struct ArtifactRecorder(Arc<dyn Store>);

impl crate::runtime::loader::ArtifactLedger for ArtifactRecorder {
    fn record(&self, artifact: &crate::store::ArtifactRecord) -> anyhow::Result<()> {
        crate::store::write(self.0.as_ref(), |tx| tx.add_artifact(artifact)).map(drop).map_err(store_err)
    }

    fn fetch_blob(&self, hash: &CodeHash) -> anyhow::Result<Option<Vec<u8>>> {
        crate::store::read(self.0.as_ref(), |tx| tx.blob_bytes(hash)).map_err(store_err)
    }
}

fn store_err(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The snapshot in one pass from one consistent read of the store: the admin token (for
/// `access.allows`) and the master key (to decrypt secrets) go in with everything else.
fn build_snapshot(
    store: &dyn Store,
    runtime: &Runtime,
    corrupt: &HashSet<CodeHash>,
    live: &crate::live::LiveState,
    admin_token: &str,
    key: &crate::secrets::MasterKey,
) -> anyhow::Result<Snapshot> {
    let state = crate::store::load_routing_state(store, runtime.fingerprint()).map_err(store_err)?;
    Ok(Snapshot::build(state, &crate::snapshot::Inputs { corrupt_blobs: corrupt, live, admin_token, master_key: key }))
}

fn load_master_key(config: &PlatformConfig, data: &DataDir) -> anyhow::Result<crate::secrets::MasterKey> {
    if let Some(hex) = &config.master_key_hex {
        return crate::secrets::MasterKey::from_bytes(hex.as_bytes())
            .context("the master key given in the environment");
    }
    match &config.master_key_file {
        // Staged next to it: the rename must not cross filesystems.
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            crate::secrets::MasterKey::load_or_create(path, dir)
        }
        None => crate::secrets::MasterKey::load_or_create(&data.master_key(), &data.tmp_dir()),
    }
}

/// Takes the data directory's lock, waiting a few seconds for a previous holder in this
/// process (a restart) to finish dropping it.
pub(crate) fn lock_data_dir(data: &DataDir) -> anyhow::Result<std::fs::File> {
    let path = data.lock_file();
    let file = crate::store::layout::open_private_file(&path).with_context(|| format!("opening {}", path.display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "data directory {} is in use by another Waygate process (it holds {})",
                data.root().display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

/// Warns about group/world access to an existing data directory or its sensitive files.
/// Not changed: the operator may have meant it (a backup group), and a silent chmod of
/// someone's directory would surprise more than a warning.
fn warn_if_loose(data: &DataDir, mut loose: Vec<PathBuf>) {
    use std::os::unix::fs::PermissionsExt;
    for f in data.sensitive_files() {
        if std::fs::metadata(&f).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
            loose.push(f);
        }
    }
    for path in loose {
        tracing::warn!(
            path = %path.display(),
            "readable by other users: the data directory holds env values, the audit log, key \
             hashes and code; run `chmod -R go-rwx {}`",
            data.root().display()
        );
    }
}

/// The management token: read, or created (atomically, 0600) when missing or empty. An
/// empty file (a crash of an older version's first start) is simply replaced: nothing
/// depends on a token nobody could have read.
fn load_or_create_token(data: &DataDir) -> anyhow::Result<String> {
    let path = data.admin_token();
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let token = crate::access::token("wg_");
    crate::store::files::write_atomic(&data.tmp_dir(), &path, token.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(token)
}

/// An admin token the operator provides (`--admin-token-file`): must exist and hold one.
fn read_token_file(path: &std::path::Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path).with_context(|| format!("reading the admin token {}", path.display()))?;
    let token = token.trim();
    anyhow::ensure!(!token.is_empty(), "the admin token file {} is empty", path.display());
    Ok(token.to_string())
}

/// This host's id among those sharing a database: created once (a random UUID) and kept
/// in DATA_DIR/host-id, so a restarted host finds its artifacts under the same name.
fn load_or_create_host_id(data: &DataDir) -> anyhow::Result<String> {
    let path = data.root().join("host-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    crate::store::files::write_atomic(&data.tmp_dir(), &path, id.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// The admin's AWS access key pair: root, like the admin token.
pub struct AdminAws {
    pub access_key_id: String,
    pub secret: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for AdminAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminAws({}, ..)", self.access_key_id)
    }
}

/// The admin's AWS credentials: read from DATA_DIR/aws-credentials (an AWS
/// shared-credentials file, profile `default`), or created (atomically, 0600) when the
/// file is missing or holds no complete pair — like the admin token, nothing depends on a
/// pair nobody could read.
fn load_or_create_aws_credentials(data: &DataDir) -> anyhow::Result<AdminAws> {
    if let Some(admin) = read_aws_credentials(data) {
        return Ok(admin);
    }
    let (access_key_id, secret) = crate::access::generate_aws_credentials();
    let admin = AdminAws { access_key_id, secret };
    write_aws_credentials(data, &admin)?;
    Ok(admin)
}

/// The pair in DATA_DIR/aws-credentials, if the file holds a complete one.
pub(crate) fn read_aws_credentials(data: &DataDir) -> Option<AdminAws> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(data.aws_credentials()).ok()?);
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string()).filter(|v| !v.is_empty())
        })
    };
    Some(AdminAws {
        access_key_id: field("aws_access_key_id")?,
        secret: zeroize::Zeroizing::new(field("aws_secret_access_key")?),
    })
}

/// Writes DATA_DIR/aws-credentials (atomically, 0600) for `admin`.
pub(crate) fn write_aws_credentials(data: &DataDir, admin: &AdminAws) -> anyhow::Result<()> {
    let path = data.aws_credentials();
    let (access_key_id, secret) = (&admin.access_key_id, &admin.secret);
    let text = zeroize::Zeroizing::new(format!(
        "# Waygate's admin credentials for the AWS CLI and SDKs (full access, like admin.token):\n\
         #   AWS_SHARED_CREDENTIALS_FILE={} aws --endpoint-url http://ADMIN_ADDR --region REGION lambda list-functions\n\
         [default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {}\n",
        path.display(),
        secret.as_str()
    ));
    crate::store::files::write_atomic(&data.tmp_dir(), &path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The admin credentials of hosts sharing a database: the ones the first host stored
/// (sealed with the master key every host has), or — on the first host — this host's
/// own, stored for the others. Written to this host's data directory too, so the CLI and
/// the AWS tools work on every host alike. A `--admin-token-file` that disagrees with the
/// database is refused rather than silently ignored.
fn shared_admin(
    pg: &PostgresStore,
    config: &PlatformConfig,
    data: &DataDir,
    key: &crate::secrets::MasterKey,
) -> anyhow::Result<(String, AdminAws)> {
    let given = config.admin_token_file.as_deref().map(read_token_file).transpose()?;
    let (token, access_key_id, secret) = pg.admin_credentials(key, || {
        let token = match &given {
            Some(t) => t.clone(),
            None => load_or_create_token(data)?,
        };
        let aws = load_or_create_aws_credentials(data)?;
        Ok((token, aws.access_key_id, aws.secret))
    })?;
    if given.as_ref().is_some_and(|g| *g != token) {
        anyhow::bail!(
            "--admin-token-file holds another token than the one this database's hosts share (the first host wrote \
             it to its DATA_DIR/admin.token)"
        );
    }
    let admin = AdminAws { access_key_id, secret };
    if std::fs::read_to_string(data.admin_token()).map(|t| t.trim().to_string()).ok().as_deref() != Some(&token) {
        crate::store::files::write_atomic(&data.tmp_dir(), &data.admin_token(), token.as_bytes())
            .with_context(|| format!("writing {}", data.admin_token().display()))?;
    }
    write_aws_credentials(data, &admin)?;
    Ok((token, admin))
}

/// Which stored code [`prepare_code`] looks at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CodeCheck {
    /// Startup: only code this engine has no artifact record for (first start after a
    /// wasmtime upgrade or a configuration change; a new host of a shared store). Such
    /// code can't be loaded at all, so it is compiled before the first request.
    Unrecorded,
    /// A change another host committed: code with no record or no artifact file here.
    Followed,
    /// The background integrity pass: every blob against its hash, every artifact file's
    /// presence and size.
    All,
}

/// The background integrity pass's progress (`GET /v1/runtime` → `code.integrity`).
#[derive(Debug, Default)]
pub struct IntegrityCheck {
    blobs: AtomicU64,
    checked: AtomicU64,
    corrupt: AtomicU64,
    rebuilt: AtomicU64,
    done: AtomicBool,
    took_ms: AtomicU64,
}

impl IntegrityCheck {
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "blobs": self.blobs.load(Ordering::Relaxed),
            "checked": self.checked.load(Ordering::Relaxed),
            "corrupt": self.corrupt.load(Ordering::Relaxed),
            "rebuilt": self.rebuilt.load(Ordering::Relaxed),
            "done": self.done.load(Ordering::Relaxed),
            "took_ms": self.done.load(Ordering::Relaxed).then(|| self.took_ms.load(Ordering::Relaxed)),
        })
    }
}

/// What [`prepare_one`] did with one blob.
#[derive(PartialEq, Eq, Debug)]
enum BlobOutcome {
    Skipped,
    Verified,
    Compiled,
    Corrupt,
}

/// Compiles (and records) the stored code that `check` selects and this engine has no
/// usable artifact for. Returns the blobs that failed their hash check: versions using
/// them refuse to run.
fn prepare_code(
    store: &dyn Store,
    data: &DataDir,
    runtime: &Runtime,
    check: CodeCheck,
) -> anyhow::Result<HashSet<CodeHash>> {
    let have = recorded_artifacts(store, runtime)?;
    let mut corrupt = HashSet::new();
    for (hash, _size) in crate::store::read(store, |tx| tx.blobs()).map_err(store_err)? {
        if prepare_one(store, data, runtime, &have, hash, check)? == BlobOutcome::Corrupt {
            corrupt.insert(hash);
        }
    }
    Ok(corrupt)
}

fn recorded_artifacts(
    store: &dyn Store,
    runtime: &Runtime,
) -> anyhow::Result<std::collections::HashMap<CodeHash, crate::store::ArtifactRecord>> {
    Ok(crate::store::read(store, |tx| tx.artifacts(runtime.fingerprint()))
        .map_err(store_err)?
        .into_iter()
        .map(|a| (a.code_hash, a))
        .collect())
}

/// One blob of [`prepare_code`]: verified against its hash when `check` looks at it (a
/// blob with no local file is fetched from a shared store), compiled when its artifact
/// is unrecorded, missing or of the wrong size (deleted, truncated).
fn prepare_one(
    store: &dyn Store,
    data: &DataDir,
    runtime: &Runtime,
    have: &std::collections::HashMap<CodeHash, crate::store::ArtifactRecord>,
    hash: CodeHash,
    check: CodeCheck,
) -> anyhow::Result<BlobOutcome> {
    let recorded = have.get(&hash);
    let skip = match check {
        CodeCheck::Unrecorded => recorded.is_some(),
        CodeCheck::Followed => recorded.is_some_and(|rec| artifacts::present(data, rec)),
        CodeCheck::All => false,
    };
    if skip {
        return Ok(BlobOutcome::Skipped);
    }
    let fetch = || crate::store::read(store, |tx| tx.blob_bytes(&hash)).map_err(store_err);
    let bytes = match blobs::read_or_fetch(data, &hash, fetch) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(code_hash = %hash, error = %format!("{e:#}"), "code blob failed its integrity check; versions using it will refuse to run");
            return Ok(BlobOutcome::Corrupt);
        }
    };
    match recorded {
        Some(rec) if artifacts::present(data, rec) => return Ok(BlobOutcome::Verified),
        Some(_) => {
            tracing::error!(code_hash = %hash, "artifact for code {hash} was missing, rebuilding it from its verified blob")
        }
        None => tracing::info!(code_hash = %hash, "compiling for this engine ({})", runtime.fingerprint()),
    }
    match runtime.compile(&bytes) {
        Ok(compiled) => {
            let rec = artifacts::put(data, &hash, runtime.fingerprint(), compiled.kind, &compiled.artifact)?;
            crate::store::write(store, |tx| tx.add_artifact(&rec)).map_err(store_err)?;
            Ok(BlobOutcome::Compiled)
        }
        Err(e) => {
            tracing::error!(code_hash = %hash, error = %e, "stored code no longer compiles");
            Ok(BlobOutcome::Verified)
        }
    }
}

/// Starts the integrity pass on a thread of its own: every blob is read and checked
/// against its hash, every artifact file's presence and size, a missing one rebuilt. It
/// runs after the first snapshot is served, so a restart doesn't wait for it (nothing
/// unverified runs meanwhile: a load checks the artifact's own hash, a rebuild the
/// blob's). A corrupt blob found makes its versions refuse to run from then on. The
/// thread holds the platform weakly, one blob at a time, and ends with it.
fn spawn_integrity_check(platform: &Arc<Platform>) {
    let weak = Arc::downgrade(platform);
    let spawned = std::thread::Builder::new().name("waygate-integrity".into()).spawn(move || {
        if let Err(e) = integrity_pass(&weak) {
            tracing::error!(error = %format!("{e:#}"), "the code integrity check stopped");
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the code integrity check");
    }
}

fn integrity_pass(weak: &std::sync::Weak<Platform>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (have, blobs) = {
        let Some(p) = weak.upgrade() else { return Ok(()) };
        let have = recorded_artifacts(p.store.as_ref(), &p.runtime)?;
        let blobs = crate::store::read(p.store.as_ref(), |tx| tx.blobs()).map_err(store_err)?;
        p.integrity.blobs.store(blobs.len() as u64, Ordering::Relaxed);
        (have, blobs)
    };
    let (mut corrupt, mut rebuilt) = (HashSet::new(), 0u64);
    for (hash, _size) in blobs {
        let Some(p) = weak.upgrade() else { return Ok(()) };
        match prepare_one(p.store.as_ref(), &p.data, &p.runtime, &have, hash, CodeCheck::All)? {
            BlobOutcome::Corrupt => {
                corrupt.insert(hash);
                p.integrity.corrupt.fetch_add(1, Ordering::Relaxed);
            }
            BlobOutcome::Compiled => {
                rebuilt += 1;
                p.integrity.rebuilt.fetch_add(1, Ordering::Relaxed);
            }
            BlobOutcome::Skipped | BlobOutcome::Verified => {}
        }
        p.integrity.checked.fetch_add(1, Ordering::Relaxed);
    }
    let Some(p) = weak.upgrade() else { return Ok(()) };
    if !corrupt.is_empty() || rebuilt > 0 {
        p.corrupt_blobs.lock().extend(&corrupt);
        p.rebuild_snapshot()?;
    }
    let took = started.elapsed();
    p.integrity.took_ms.store(took.as_millis() as u64, Ordering::Relaxed);
    p.integrity.done.store(true, Ordering::Release);
    tracing::info!(
        blobs = p.integrity.checked.load(Ordering::Relaxed),
        corrupt = corrupt.len(),
        rebuilt,
        took_ms = took.as_millis() as u64,
        "code integrity check done"
    );
    Ok(())
}
