//! The process-wide [`Engine`] and its configuration. Every knob that matters for the
//! per-request cost is set here, with the reason and the figure it was measured at
//! (ARCHITECTURE.md "Runtime choices" collects them).

use super::loader::Loader;
use crate::store::layout::DataDir;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The wasmtime release the artifacts are compiled with (pinned in host/Cargo.toml). Part
/// of the engine fingerprint, so an upgrade recompiles instead of loading stale code.
pub const WASMTIME_VERSION: &str = "48.0.8";

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Instances that may exist at once, across all functions. This sizes the pooling
    /// allocator (one memory, table and async stack slot each) and is the platform's
    /// concurrency limit: an invocation that finds no free slot is throttled (429), as
    /// Lambda's account concurrency limit does. Default 1000, Lambda's default.
    ///
    /// Cost: virtual address space only — each memory slot reserves `max_memory_mb` plus
    /// guard pages (about 4 GiB at the default), so 1000 slots reserve about 4 TiB of
    /// address space and no physical memory until used.
    pub max_instances: u32,
    /// How many of those instances development work may hold at once (its share of the
    /// pool, memory included): a development invocation that finds its share used up is
    /// throttled (429) even if the pool has room, so a flood of development instances or
    /// memory bombs cannot take production's slots. `None`: half the pool. At most
    /// `max_instances`.
    pub development_instances: Option<u32>,
    /// Worker threads of the development pool (`priority.rs`). `None`: one per CPU, so
    /// development can use every CPU production leaves idle.
    pub development_threads: Option<usize>,
    /// Run the development pool's threads at the lowest priority (`SCHED_IDLE`). On by
    /// default; off only in tests that share the CPU with other tests' compiles, where a
    /// starved development worker would turn into a flaky timeout (the isolation tests
    /// keep it on).
    pub lower_development_priority: bool,
    /// Largest `memory_mb` a function may configure; the size of one pool memory slot.
    pub max_memory_mb: u32,
    /// Compiled modules kept loaded (deserialized, with an `InstancePre`). Eviction costs
    /// the next request a reload (≈ 0.1 ms), never correctness.
    pub loaded_modules: usize,
    /// Bytes of compiled code kept loaded (the artifacts' sizes; `--code-cache-mb`,
    /// default 512 MiB); over it the least recently used code is unloaded
    /// ([`super::code_cache`]).
    pub code_cache_bytes: usize,
    /// Code unused this long is unloaded (`--code-idle-s`, default 300 s, like an idle
    /// Lambda environment going away after minutes); `None`: never for idleness. Idle
    /// versions then cost only their metadata; the next request pays one load.
    pub code_idle: Option<Duration>,
    /// Pool slots kept warm (affine to the module that last ran in them, its memory image
    /// mapped and up to `KEEP_RESIDENT` of its pages resident) while no instance uses
    /// them (wasmtime's `max_unused_warm_slots`, default 100): bounds the memory idle
    /// slots hold to this × 8 MiB at worst (modules dirty a few pages, the JS and Python
    /// engines megabytes). A slot beyond it is reused for another module.
    pub warm_slots: u32,
    /// How often the single epoch ticker thread bumps the engine's epoch. Each tick is a
    /// chance for a running guest to yield to the async executor and for its deadline to
    /// be checked: it bounds both timeout precision and how long one guest can hold a
    /// worker thread. 1 ms: the thread's cost is negligible; the in-guest check is the
    /// same whatever the period (≈ 2–7 % of guest time, measured). It is also the quiet
    /// period after which development guests resume once production stops starting
    /// invocations (`priority.rs`).
    pub epoch_tick: Duration,
    /// Use the pooling allocator (falls back to on-demand with a warning if the pool
    /// cannot be reserved). Off only for tests of the fallback path.
    pub pooling: bool,
    /// Cap on captured stdout (the response): Lambda's 6 MB synchronous payload limit.
    pub max_response_bytes: usize,
    /// Cap on captured stderr (the function's log) per invocation; the rest is dropped.
    pub max_log_bytes: usize,
    /// Appended to the engine fingerprint that names artifacts (`-host-ID`): hosts sharing
    /// one database each record their own artifacts, which live on their own disks. `None`
    /// with the embedded store.
    pub artifact_scope: Option<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 1000,
            development_instances: None,
            development_threads: None,
            lower_development_priority: true,
            max_memory_mb: 4096,
            loaded_modules: 1024,
            code_cache_bytes: 512 << 20,
            code_idle: Some(Duration::from_secs(300)),
            warm_slots: 100,
            epoch_tick: Duration::from_millis(1),
            pooling: true,
            max_response_bytes: 6 * 1024 * 1024,
            max_log_bytes: 256 * 1024,
            artifact_scope: None,
        }
    }
}

/// See [`Runtime::warm_slots`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WarmSlots {
    pub unused_warm_slots: u32,
    pub resident_bytes: usize,
}

pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linkers: super::executor::Linkers,
    pub(crate) fingerprint: String,
    pub(crate) loader: Loader,
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// Development's share of `slots` ([`RuntimeConfig::development_instances`]).
    pub(crate) development_slots: Arc<tokio::sync::Semaphore>,
    pub(crate) development_share: u32,
    pub(crate) production: Arc<super::priority::ProductionActivity>,
    pub(crate) config: RuntimeConfig,
    pub(crate) pooling: bool,
    /// The outbound HTTP client functions' requests go through (set once at start).
    pub(crate) backends: std::sync::OnceLock<Arc<crate::backend::Backends>>,
    /// `/config` directories for components.
    pub(crate) config_views: super::config_views::ConfigViews,
    _ticker: EpochTicker,
}

impl Runtime {
    pub fn new(config: RuntimeConfig, data: DataDir) -> anyhow::Result<Self> {
        let (engine, pooling) = match config.pooling {
            true => match Engine::new(&engine_config(&config, true)) {
                Ok(e) => (e, true),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "could not reserve the pooling allocator ({} slots of {} MB); falling back to \
                         on-demand allocation (slower instantiation). Lower --max-instances or raise \
                         the virtual memory limit (ulimit -v) to get pooling back",
                        config.max_instances,
                        config.max_memory_mb
                    );
                    (Engine::new(&engine_config(&config, false))?, false)
                }
            },
            false => (Engine::new(&engine_config(&config, false))?, false),
        };
        let linkers = super::executor::Linkers::new(&engine)?;
        let fingerprint = match &config.artifact_scope {
            Some(scope) => format!("{}-host-{scope}", fingerprint(&engine)),
            None => fingerprint(&engine),
        };
        let config_views = super::config_views::ConfigViews::new(data.config_views_dir());
        let bounds = super::code_cache::Bounds {
            max_bytes: config.code_cache_bytes,
            max_modules: config.loaded_modules,
            idle: config.code_idle,
        };
        let loader = Loader::new(engine.clone(), linkers.clone(), data, fingerprint.clone(), bounds);
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick);
        let development_share =
            config.development_instances.unwrap_or(config.max_instances / 2).min(config.max_instances);
        Ok(Runtime {
            slots: Arc::new(tokio::sync::Semaphore::new(config.max_instances as usize)),
            development_slots: Arc::new(tokio::sync::Semaphore::new(development_share as usize)),
            development_share,
            production: super::priority::ProductionActivity::new(config.epoch_tick),
            engine,
            linkers,
            fingerprint,
            loader,
            config,
            pooling,
            backends: std::sync::OnceLock::new(),
            config_views,
            _ticker: ticker,
        })
    }

    /// Gives functions' outbound requests their client. Only the first call has an
    /// effect; without it, every outbound request is refused.
    pub fn attach_backends(&self, backends: Arc<crate::backend::Backends>) {
        let _ = self.backends.set(backends);
    }

    /// Identifies the compiled-code format: artifacts are stored per fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn is_pooling(&self) -> bool {
        self.pooling
    }

    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Instances in use: all of them, and development's.
    pub fn instances_in_use(&self) -> (u32, u32) {
        let used = |s: &tokio::sync::Semaphore, of: u32| of.saturating_sub(s.available_permits() as u32);
        (used(&self.slots, self.config.max_instances), used(&self.development_slots, self.development_share))
    }

    /// Pool memory slots no instance uses that stay warm, and the bytes they keep
    /// resident (zero without the pooling allocator).
    pub fn warm_slots(&self) -> WarmSlots {
        match self.engine.pooling_allocator_metrics() {
            Some(m) => WarmSlots {
                unused_warm_slots: m.unused_warm_memories(),
                resident_bytes: m.unused_memory_bytes_resident() + m.unused_table_bytes_resident(),
            },
            None => WarmSlots::default(),
        }
    }

    /// Development's share of the pool ([`RuntimeConfig::development_instances`]).
    pub fn development_share(&self) -> u32 {
        self.development_share
    }

    /// Validates and compiles uploaded code ([`super::compile::compile_with`]): the guest
    /// kind and the artifact bytes. CPU-heavy: call it off the async reactor.
    pub fn compile(&self, wasm: &[u8]) -> Result<super::compile::Compiled, super::compile::CompileError> {
        super::compile::compile_with(&self.engine, &self.linkers, wasm)
    }
}

/// Core instances the pool holds per instance slot, for components: each instantiated core
/// module of a component takes one. Measured (`jco print`, counting `instantiate`): a Rust
/// wasip2 component 3, componentize-js 3, componentize-py 13 (CPython's shared libraries
/// and their shims), so 16 lets every slot run a Python handler at once. A core instance
/// slot is bookkeeping only (its vmctx is allocated when used), so this costs a module
/// nothing.
const COMPONENT_CORE_INSTANCES: u32 = 16;
/// Bytes of a pool slot's linear memory kept resident between instances: reset in place
/// (with `pagemap_scan`, only the pages the last instance dirtied) instead of discarded and
/// faulted in again by the next one. A module dirties a few pages, so this changes nothing
/// for it; a JavaScript or Python engine touches megabytes per request, and refaulting them
/// was a third of a JS handler's time. Same-sitting A/B, 64 KiB → 8 MiB, 3 rounds each
/// (`waygate bench` direct invoke): hello-js p50 1.17–1.20 → 0.83–0.95 ms at c=1 and
/// 450–527 → 602–989 req/s at c=8; hello-py p50 1.96–2.10 → 1.75–1.79 ms (one outlier
/// 2.46) at c=1, 336–404 → 407–492 req/s at c=8; the p1 hello the same within noise. The
/// cost: a slot that ran such an engine keeps up to this much resident until reused.
const KEEP_RESIDENT: usize = 8 << 20;
/// Tables per instance slot: every component measured needs 2 (`resources_required`); a
/// table slot reserves address space (20,000 elements), so it stays at 4.
const COMPONENT_TABLES: u32 = 4;

fn engine_config(rc: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    // Async wasmtime: guests run on the tokio workers as fibers and yield at every epoch
    // tick, so a slow guest never stalls other requests. Measured faster than a blocking
    // pool (58.0k vs 44.3k req/s on 2 vCPUs).
    c.epoch_interruption(true);
    // `WAYGATE_PERFMAP=1`: write /tmp/perf-PID.map so that `perf report` names guest
    // functions (`wasm[0]::function[N]`, or their names when the module keeps its name
    // section) instead of `[JIT]` addresses. Off by default; no cost when off.
    if std::env::var_os("WAYGATE_PERFMAP").is_some() {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // Copy-on-write memory images: instantiation maps the data segments instead of copying.
    c.memory_init_cow(true);
    // wasi:http components (runtime/executor/wasi_http.rs).
    c.wasm_component_model(true);
    if pooling {
        let mut p = PoolingAllocationConfig::new();
        p.total_memories(rc.max_instances)
            .total_stacks(rc.max_instances)
            // A component is several core instances (its modules, the shims its toolchain
            // adds) and tables, and one memory (every one measured, JS and Python
            // included): core instances and tables are sized per slot above; memories,
            // the costly reservation, stay one per slot, so a component with more memories
            // than that waits for (or is refused) like any guest beyond the pool.
            .total_component_instances(rc.max_instances)
            .total_core_instances(rc.max_instances.saturating_mul(COMPONENT_CORE_INSTANCES))
            .total_tables(rc.max_instances.saturating_mul(COMPONENT_TABLES))
            .max_memory_size((rc.max_memory_mb as usize) << 20)
            // The decisive knob on this kernel: scan the page map and memset resident
            // pages back instead of madvise + refault. Halves per-call cost; needs a
            // non-zero keep-resident size (64 KiB was enough for modules; 8 MiB for the
            // JS/Python engines, see KEEP_RESIDENT). Auto = only where the kernel
            // supports PAGEMAP_SCAN (Linux ≥ 6.7).
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .max_unused_warm_slots(rc.warm_slots)
            .table_keep_resident(64 * 1024);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

fn fingerprint(engine: &Engine) -> String {
    // The hash covers the compiler settings, tunables and wasm features that make an
    // artifact loadable; the version guards against format changes it does not cover.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("wasmtime-{WASMTIME_VERSION}-{:016x}", h.finish())
}

/// The one thread per process that advances the engine's epoch.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // If the thread can't be spawned the process can't enforce timeouts: fail loudly.
        std::thread::Builder::new()
            .name("waygate-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(period);
                    engine.increment_epoch();
                }
            })
            .map(drop)
            .unwrap_or_else(|e| panic!("cannot start the epoch ticker thread: {e}"));
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
