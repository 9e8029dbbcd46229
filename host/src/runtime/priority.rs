//! Priority classes on one host, in two layers:
//!
//! 1. **Threads.** Production invocations run on the process's main tokio workers;
//!    development invocations run on a [`DevelopmentPool`] of their own whose OS threads
//!    are scheduled `SCHED_IDLE` (Linux), so the kernel gives them only the CPU no normal
//!    thread wants. A looping development guest still yields at every epoch tick, but a
//!    production request no longer waits behind it in a tokio queue: its worker is
//!    another thread, which the kernel runs first.
//! 2. **Stepping aside.** `SCHED_IDLE` alone left prod's p99 at 3–5× its figure alone
//!    on the 2-vCPU machine: busy idle-class threads still cost normal ones (the same
//!    tail appears with a plain busy loop at `SCHED_IDLE` in another process — the
//!    `idle-burn` scenario of `bench/isolation.sh`). So at each epoch tick a development
//!    guest checks [`ProductionActivity`]: if production started an invocation within
//!    the last tick, the guest sleeps (its worker is free, its instance waits) until
//!    production has been quiet for a tick or the guest's deadline passes. With both
//!    layers prod keeps 0.99× its req/s and ≈ 1.2–1.3× its p99 (docs/isolation.md).
//!
//! The cost: development makes no progress while production starts work at least once a
//! millisecond; it runs in every gap of a millisecond or more, on every idle CPU. Why
//! threads and a gate rather than a weighted scheduler of our own: the guests already
//! yield at every tick, the kernel picks among runnable threads with no bookkeeping on
//! the hot path, and production pays one relaxed store per invocation.
//!
//! The two system calls here (`sched_setscheduler`, `clock_gettime` of the thread's CPU
//! clock) are made through `libc` directly: the crates that wrap them (`thread-priority`,
//! `cpu-time`) are a layer over the same one call each.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// When production last started an invocation, for development guests to step aside:
/// while production is active, a development guest at its epoch yield sleeps instead of
/// taking its next slice. Cheap to mark (one relaxed store per production invocation).
pub struct ProductionActivity {
    origin: std::time::Instant,
    last_ns: std::sync::atomic::AtomicU64,
    quiet_for: Duration,
}

impl ProductionActivity {
    pub fn new(quiet_for: Duration) -> std::sync::Arc<Self> {
        std::sync::Arc::new(ProductionActivity {
            origin: std::time::Instant::now(),
            last_ns: std::sync::atomic::AtomicU64::new(0),
            quiet_for,
        })
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A production invocation starts.
    pub fn mark(&self) {
        self.last_ns.store(self.now_ns(), Ordering::Relaxed);
    }

    /// Production started an invocation within the last `quiet_for`.
    pub fn busy(&self) -> bool {
        let last = self.last_ns.load(Ordering::Relaxed);
        last != 0 && self.now_ns().saturating_sub(last) < u64::try_from(self.quiet_for.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Resolves once production has been quiet for `quiet_for`, or at `deadline`.
    pub async fn quiet(self: std::sync::Arc<Self>, deadline: super::limits::Deadline) {
        while self.busy() && !deadline.passed() {
            tokio::time::sleep(self.quiet_for).await;
        }
    }
}

/// Set on the first worker that could not lower its priority (logged once).
static LOWERING_FAILED: AtomicBool = AtomicBool::new(false);

/// A tokio runtime whose worker (and blocking) threads run at the lowest priority.
pub struct DevelopmentPool {
    runtime: Option<tokio::runtime::Runtime>,
}

impl DevelopmentPool {
    /// `threads` workers (one per CPU is what lets development use every idle CPU), at the
    /// lowest priority when `lower`.
    pub fn new(threads: usize, lower: bool) -> anyhow::Result<Self> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads.max(1)).thread_name("waygate-dev").enable_all();
        if lower {
            builder.on_thread_start(lower_priority);
        }
        let runtime = builder.build()?;
        Ok(DevelopmentPool { runtime: Some(runtime) })
    }

    /// Runs `work` on the pool. Dropping the returned future aborts the work (the caller
    /// went away: its instance is stopped, as it would be on the caller's own worker).
    pub fn spawn<F>(&self, work: F) -> Hop<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(rt) => Hop(rt.spawn(work)),
            // Only between `Drop` starting and ending; nothing can call it then.
            None => Hop(tokio::spawn(work)),
        }
    }
}

impl Drop for DevelopmentPool {
    fn drop(&mut self) {
        // A runtime may not be dropped from inside another one (tests drop servers there).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The result of work handed to the [`DevelopmentPool`]; aborts the work when dropped.
pub struct Hop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for Hop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Hop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Puts the calling thread in the idle scheduling class; if the system refuses, at the
/// lowest niceness (19) instead. Either way it is logged once when it fails.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain system calls on the calling thread (pid 0 = this thread on Linux);
        // `param` outlives the call.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
        let niced = idle || unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) } == 0;
        if !niced && !LOWERING_FAILED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "cannot lower the priority of the development workers: development code competes with production for the CPU"
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    if !LOWERING_FAILED.swap(true, Ordering::Relaxed) {
        tracing::warn!("development workers run at normal priority on this system (SCHED_IDLE is Linux-only)");
    }
}

/// CPU time the calling thread has used so far (zero where the clock is unavailable).
pub fn thread_cpu_time() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: writes one timespec we own.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    Duration::ZERO
}

/// The scheduling policy of the calling thread (`libc::SCHED_*`), for tests.
#[cfg(all(test, target_os = "linux"))]
fn current_policy() -> i32 {
    // SAFETY: no arguments besides this thread.
    unsafe { libc::sched_getscheduler(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_threads_run_idle_and_work_comes_back() {
        let pool = DevelopmentPool::new(1, true).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (name, policy) = rt.block_on(async {
            pool.spawn(async {
                let name = std::thread::current().name().map(str::to_string);
                #[cfg(target_os = "linux")]
                let policy = current_policy();
                #[cfg(not(target_os = "linux"))]
                let policy = 0;
                (name, policy)
            })
            .await
            .unwrap()
        });
        assert_eq!(name.as_deref(), Some("waygate-dev"));
        #[cfg(target_os = "linux")]
        assert_eq!(policy, libc::SCHED_IDLE, "development workers are in the idle class");
        let before = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_time() > before, "the thread's CPU clock advances");
    }

    #[test]
    fn production_activity_holds_development_until_quiet_or_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let p = ProductionActivity::new(Duration::from_millis(5));
        assert!(!p.busy(), "no production yet");
        p.mark();
        assert!(p.busy());
        rt.block_on(async {
            // Quiet after 5 ms: the wait ends by itself.
            let started = std::time::Instant::now();
            p.clone().quiet(super::super::limits::Deadline(started + Duration::from_secs(10))).await;
            assert!(!p.busy() && started.elapsed() >= Duration::from_millis(5));
            // Production keeps marking: the wait ends at the deadline.
            p.mark();
            let marker = {
                let p = p.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        p.mark();
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
            };
            let deadline = std::time::Instant::now() + Duration::from_millis(30);
            p.clone().quiet(super::super::limits::Deadline(deadline)).await;
            assert!(std::time::Instant::now() >= deadline);
            marker.abort();
        });
    }

    #[test]
    fn dropping_the_hop_aborts_the_work() {
        let pool = DevelopmentPool::new(1, false).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        rt.block_on(async {
            let hop = pool.spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                flag.store(true, Ordering::SeqCst);
            });
            drop(hop);
            tokio::time::sleep(Duration::from_millis(400)).await;
        });
        assert!(!done.load(Ordering::SeqCst), "aborted work never finishes");
    }
}
