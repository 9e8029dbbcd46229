//! A fresh instance per invocation: the generic lifecycle around every guest kind — pool
//! slot, template lookup, the WASI context (args, env; stderr is the function's log),
//! the store with its memory limit and deadline (epoch callback), how the guest stopped
//! (Lambda's error types) and the teardown ([`Retired`]). What runs inside — input in,
//! entry point, output out — is the kind's executor ([`super::executor`]). The instance,
//! its memory and its WASI context live exactly as long as one invocation.

use super::executor::{self, GuestInput, GuestOutput};
use super::limits::{Deadline, MemoryLimitExceeded, MemoryLimiter, TimedOut};
use super::wasi_p1::{Exit, Wasi};
use super::{CodeRef, InvokeError, Runtime};
use crate::model::stage::PriorityClass;
use crate::model::{FunctionConfig, VersionId};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};

pub use super::host_state::HostState;

/// One call: what to run and the context it runs in.
pub struct Invocation<'a> {
    pub function: &'a str,
    pub executed_version: VersionId,
    /// As the caller named it: `$LATEST`, `7` or an alias name.
    pub qualifier: &'a str,
    pub alias: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub request_id: &'a str,
    pub code: &'a CodeRef,
    pub config: &'a FunctionConfig,
    /// The request as the code's executor encoded it ([`executor::encode`]).
    pub input: GuestInput,
    /// When the caller stops waiting (API Gateway's integration timeout), if that can come
    /// before the function's own timeout: the invocation is stopped then, like a timeout,
    /// and [`Outcome::cut_off`] says so.
    pub cut_off: Option<Duration>,
    /// Development invocations draw from development's share of the pool.
    pub class: PriorityClass,
    /// The version's outbound allow-list for the invocation's environment (components'
    /// outgoing HTTP); `None`: every request is refused.
    pub outbound: Option<Arc<crate::model::outbound::AllowList>>,
    /// The configuration files it may read under `/config` (WASI preview1 modules);
    /// `None`: the version reads no profiles, and no directory is preopened.
    pub files: Option<&'a [Arc<crate::model::appconfig::ConfigFile>]>,
}

#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// Set when this invocation had to load the code (deserialize + pre-link).
    pub load: Option<Duration>,
    pub instantiate: Duration,
    pub run: Duration,
    /// CPU time the guest's thread spent instantiating and running it.
    pub cpu: Duration,
    /// How many times the guest gave its worker back before it finished (epoch ticks
    /// and waits).
    pub yields: u32,
    /// Its outbound HTTP requests (components only; zero when none were made).
    pub outbound: super::outbound::OutboundUse,
}

/// The function failed (Lambda's "Unhandled" function error).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FunctionError {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

#[derive(Debug)]
pub struct Outcome {
    /// What the guest produced; read it with [`GuestOutput::http`] or [`GuestOutput::raw`].
    pub output: GuestOutput,
    pub logs: Bytes,
    pub logs_truncated: bool,
    pub error: Option<FunctionError>,
    pub timing: Timing,
    pub max_memory_bytes: usize,
    /// The finished instance, not yet torn down: see [`Retired`].
    pub retired: Option<Retired>,
    /// The invocation was stopped at [`Invocation::cut_off`], before its own timeout.
    pub cut_off: bool,
}

/// A finished instance and its place in the pool. Dropping it tears the instance down
/// (resets its memory slot, ≈ 3–5 µs): dropped inline that is paid before the caller can
/// answer; [`Retired::release_later`] pays it after the response is on its way instead.
/// The pool slot (and the concurrency slot) stay taken until the instance is gone.
pub struct Retired {
    _store: Store<HostState>,
    _slot: tokio::sync::OwnedSemaphorePermit,
    /// A development invocation's place in development's share of the pool.
    _share: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Retired {
    /// Tears the instance down in a task of its own. Spawned from a tokio worker, the task
    /// waits in that worker's LIFO slot (no other worker is woken) and runs as soon as the
    /// current task yields — for a gateway request, after hyper has written the response.
    pub fn release_later(self) {
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn(async move { drop(self) })),
            Err(_) => drop(self),
        }
    }
}

impl std::fmt::Debug for Retired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Retired")
    }
}

impl Outcome {
    /// An invocation that never ran (e.g. throttled): for records of failures.
    pub fn empty() -> Self {
        Outcome {
            output: GuestOutput::default(),
            logs: Bytes::new(),
            logs_truncated: false,
            error: None,
            timing: Timing::default(),
            max_memory_bytes: 0,
            retired: None,
            cut_off: false,
        }
    }
}

impl Runtime {
    pub async fn invoke(&self, inv: Invocation<'_>) -> Result<Outcome, InvokeError> {
        // The pool is the concurrency limit: no slot, no instance (Lambda answers 429).
        // Development work takes a place in its share first, so it never holds more.
        let share = match inv.class {
            PriorityClass::Production => None,
            PriorityClass::Development => {
                Some(self.development_slots.clone().try_acquire_owned().map_err(|_| InvokeError::DevelopmentShare)?)
            }
        };
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| InvokeError::Throttled)?;
        let (pre, load) = match self.loader.get(inv.code).map_err(InvokeError::CodeUnavailable)? {
            super::loader::Lookup::Ready(pre, load) => (pre, load),
            // The repair case only: compile on a blocking thread, not on the reactor.
            super::loader::Lookup::NeedsRepair(why) => {
                let (loader, code) = (self.loader.clone(), inv.code.clone());
                let (pre, took) = tokio::task::spawn_blocking(move || loader.repair(&code, &why))
                    .await
                    .map_err(|e| InvokeError::Internal(anyhow::anyhow!("artifact repair task failed: {e}")))?
                    .map_err(InvokeError::CodeUnavailable)?;
                (pre, Some(took))
            }
        };

        let started = Instant::now();
        let own_timeout = Duration::from_millis(inv.config.timeout_ms as u64);
        let timeout = inv.cut_off.map_or(own_timeout, |c| c.min(own_timeout));
        let deadline = Deadline(started + timeout);
        // Stdin stays empty unless the executor puts its input there.
        let mut wasi = Wasi::new(Bytes::new(), self.config.max_response_bytes, self.config.max_log_bytes);
        wasi.arg(inv.function);
        for (k, v) in &inv.config.env {
            wasi.env(k, v);
        }
        wasi.env("AWS_LAMBDA_FUNCTION_NAME", inv.function)
            .env_display("AWS_LAMBDA_FUNCTION_VERSION", inv.executed_version)
            .env_display("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", inv.config.memory_mb)
            .env("WAYGATE_QUALIFIER", inv.qualifier)
            .env("WAYGATE_REQUEST_ID", inv.request_id);
        if let Some(alias) = inv.alias {
            wasi.env("WAYGATE_ALIAS", alias);
        }
        if let Some(stage) = inv.stage {
            wasi.env("WAYGATE_STAGE", stage);
        }
        if let Some(files) = inv.files {
            if inv.code.kind == crate::model::GuestKind::StdioProxy {
                wasi.mount_config(files);
            } else {
                // A component's WASI 0.2 host preopens a host directory: the set's view.
                match self.config_views.dir_for(files) {
                    Ok(dir) => wasi.set_config_dir(dir),
                    Err(e) => tracing::error!(error = %e, "could not make the /config view: the component gets none"),
                }
            }
        }
        let mut store = self.store(wasi, inv.config.memory_mb as usize, deadline);
        // Components may make outbound requests: their budget, allow-list and deadline.
        if inv.code.kind != crate::model::GuestKind::StdioProxy {
            let allow = inv.outbound.clone().unwrap_or_default();
            let backends = self.backends.get().cloned();
            store.data_mut().outbound = Some(Arc::new(super::outbound::Outbound::new(allow, backends, deadline.0)));
        }
        store.set_epoch_deadline(1);
        match inv.class {
            PriorityClass::Production => {
                self.production.mark();
                store.epoch_deadline_callback(|ctx| {
                    if ctx.data().deadline.passed() {
                        Err(TimedOut.into())
                    } else {
                        Ok(UpdateDeadline::Yield(1))
                    }
                });
            }
            PriorityClass::Development => {
                let production = self.production.clone();
                store.epoch_deadline_callback(move |ctx| {
                    let deadline = ctx.data().deadline;
                    if deadline.passed() {
                        Err(TimedOut.into())
                    } else if production.busy() {
                        Ok(UpdateDeadline::YieldCustom(1, Box::pin(production.clone().quiet(deadline))))
                    } else {
                        Ok(UpdateDeadline::Yield(1))
                    }
                });
            }
        }

        // The epoch callback stops the guest's code at the deadline, and a module's only
        // waiting host call (`poll_oneoff`) wakes at the deadline and traps. A component
        // can wait in the host where no wasm runs (a clock or stream poll, a response not
        // yet there): the run is also raced against the deadline (plus a tick, so the
        // epoch path ends what it can) and dropped when that fires — wasmtime unwinds the
        // suspended fiber — ending as a timeout.
        let mut cpu = Duration::ZERO;
        let mut polls = 0u32;
        let ran = {
            let guest = std::pin::pin!(executor::run(&pre, &mut store, inv.input, started));
            let thread_clock = inv.class == PriorityClass::Development;
            let metered = Metered { inner: guest, cpu: &mut cpu, polls: &mut polls, thread_clock };
            if inv.code.kind == crate::model::GuestKind::StdioProxy {
                // A module needs no timer (above): its hot path keeps none.
                Some(metered.await)
            } else {
                tokio::time::timeout_at((deadline.0 + self.config.epoch_tick).into(), metered).await.ok()
            }
        };
        let ran = ran.unwrap_or_else(|| {
            executor::component::abandon(&mut store);
            executor::Ran {
                instantiate: Duration::ZERO,
                result: Err(TimedOut.into()),
                output: Default::default(),
                output_overflow: false,
            }
        });
        let total = started.elapsed();
        let max_memory_bytes = store.data().limiter.peak_bytes;
        let (logs, logs_truncated) = store.data_mut().wasi.take_log();
        let timed_out = matches!(&ran.result, Err(e) if e.downcast_ref::<TimedOut>().is_some());

        // A response over the limit is the first cause: a guest whose write failed may
        // well have panicked or exited non-zero because of it.
        let error = if ran.output_overflow {
            Some(FunctionError {
                error_type: "Function.ResponseSizeTooLarge".into(),
                error_message: format!(
                    "Response payload size exceeded maximum allowed payload size ({} bytes).",
                    self.config.max_response_bytes
                ),
            })
        } else {
            ran.result.err().and_then(|e| classify(e, inv.request_id, timeout))
        };
        // Stopped at the caller's cut-off (and not first for an oversized response).
        let cut_off = timed_out && timeout < own_timeout && !ran.output_overflow;
        let instantiate = ran.instantiate;
        Ok(Outcome {
            output: ran.output,
            logs,
            logs_truncated,
            error,
            timing: Timing {
                load,
                instantiate,
                run: total.saturating_sub(instantiate),
                cpu,
                yields: polls.saturating_sub(1),
                outbound: store.data().outbound.as_ref().map(|o| o.usage()).unwrap_or_default(),
            },
            max_memory_bytes,
            retired: Some(Retired { _store: store, _slot: slot, _share: share }),
            cut_off,
        })
    }
}

/// Counts the polls of a guest's future and the CPU time spent in them: the guest runs
/// inside `poll` (on a fiber of the polling thread). Development guests read the
/// thread's CPU clock around each poll (a system call, ≈ 1 µs here: their worker may be
/// preempted mid-poll, so wall time would overstate). Production guests, whose workers run
/// at normal priority, take the time inside each poll from the monotonic clock (vDSO,
/// ≈ 25 ns) instead: the thread clock cost the hot path 12 % more CPU per request in
/// `bench/ab.sh`.
struct Metered<'a, F> {
    inner: F,
    cpu: &'a mut Duration,
    polls: &'a mut u32,
    thread_clock: bool,
}

impl<F: std::future::Future + Unpin> std::future::Future for Metered<'_, F> {
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let out;
        let spent = if self.thread_clock {
            let before = super::priority::thread_cpu_time();
            out = std::pin::Pin::new(&mut self.inner).poll(cx);
            super::priority::thread_cpu_time().saturating_sub(before)
        } else {
            let before = Instant::now();
            out = std::pin::Pin::new(&mut self.inner).poll(cx);
            before.elapsed()
        };
        *self.cpu += spent;
        *self.polls = self.polls.saturating_add(1);
        out
    }
}

impl Runtime {
    /// Instantiates `code` once without running it, then tears the instance down: the pool
    /// slot it used keeps the module's memory image mapped (the pool prefers that slot for
    /// the module next time), so the first real request skips mapping it. Called after a
    /// preload, off the request path; a no-op when the code isn't loaded or no slot is free.
    pub async fn warm(&self, code: &CodeRef) {
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else { return };
        let Some(pre) = self.loader.peek(code) else { return };
        let deadline = Deadline(Instant::now() + Duration::from_secs(1));
        let mut store = self.store(Wasi::new(Bytes::new(), 0, 0), self.config.max_memory_mb as usize, deadline);
        if let Err(e) = executor::warm(&pre, &mut store).await {
            tracing::debug!(code_hash = %code.code_hash, error = %e, "warm-up instantiation failed");
        }
    }
}

impl Runtime {
    /// A store for one instance: its WASI context, a memory limit of `memory_mb`, and the
    /// deadline the epoch callback checks.
    fn store(&self, wasi: Wasi, memory_mb: usize, deadline: Deadline) -> Store<HostState> {
        let limiter = MemoryLimiter { limit_bytes: memory_mb << 20, peak_bytes: 0 };
        let mut store = Store::new(&self.engine, HostState::new(wasi, limiter, deadline));
        store.limiter(|s| &mut s.limiter);
        store
    }
}

/// Maps how the guest stopped to Lambda's error types. `None`: it exited with status 0.
/// `timeout`: the deadline it ran under (its own timeout, or the caller's cut-off).
fn classify(e: wasmtime::Error, request_id: &str, timeout: Duration) -> Option<FunctionError> {
    let err = |t: &str, m: String| {
        Some(FunctionError { error_type: t.into(), error_message: format!("RequestId: {request_id} Error: {m}") })
    };
    if let Some(exit) = e.downcast_ref::<Exit>() {
        return match exit.0 {
            0 => None,
            code => err("Runtime.ExitError", format!("Runtime exited with error: exit status {code}")),
        };
    }
    if let Some(failed) = e.downcast_ref::<executor::handler::HandlerFailed>() {
        // The handler's own error (`err(message)`): its message as it wrote it, like a
        // Lambda handler's thrown error.
        return Some(FunctionError { error_type: "Function.Error".into(), error_message: failed.0.clone() });
    }
    if e.downcast_ref::<TimedOut>().is_some() {
        return err("Sandbox.Timedout", format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()));
    }
    if let Some(m) = e.downcast_ref::<MemoryLimitExceeded>() {
        return err("Runtime.OutOfMemory", format!("Runtime exited with error: {m}"));
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return err("Runtime.Trap", format!("wasm trap: {trap}"));
    }
    err("Runtime.Error", format!("{e:#}"))
}
