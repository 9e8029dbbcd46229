//! Connection handling for both listeners: the accept loop (with back-off on accept
//! errors), a cap on open connections per listener, and the header-read, idle and
//! body-read timeouts. It replaces `axum::serve`, which has none of these.
//!
//! Why our own bookkeeping rather than hyper's `header_read_timeout`: hyper restarts that
//! clock whenever it waits for a request head, so it also caps keep-alive idle time and
//! one knob cannot be both. Here each connection is in one [`Phase`] — idle (no request in
//! flight, nothing of a head received), reading a head, or busy (a request in flight) —
//! and only idle and head phases have a deadline. A busy connection is never cut: its
//! function may run for up to 900 s. Which connection to close at the cap is a choice
//! hyper does not offer either.
//!
//! Deadlines are enforced by one reaper task per listener that scans the registry every
//! [`reap_interval`], not by a timer per connection: a phase change is then a lock and an
//! atomic, with no timer to re-arm and no task to wake on every request (a per-connection
//! timer, re-armed at each phase change, cost ≈ 15 % of full-path throughput at c=8 in a
//! same-run A/B, `bench/ab.sh`). A connection is closed at most one interval late.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Connection caps and timeouts of the two listeners (`waygate up --header-timeout-s`
/// etc.; docs/limits.md). Each open connection costs one file descriptor and a few KiB
/// of buffers; the file-descriptor limit is what a flood exhausts first.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// A connection that has sent part of a request head must complete it within this.
    ///
    /// Default 30 s (hyper's own default): long enough for a slow mobile link to send a
    /// few KiB of headers, short enough that a slow-loris client holding half a head
    /// frees its slot within half a minute. Shorter frees slots sooner but can cut clients
    /// on very slow links.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and nothing of a head received is closed
    /// after this long: both a keep-alive connection between requests and a new one that
    /// sends nothing.
    ///
    /// Default 60 s (AWS ALB's idle timeout): long enough for client pools to reuse
    /// connections across bursts (saving a TCP handshake per request), short enough that
    /// abandoned connections go away. An idle connection costs an fd and ~1 KiB; at the
    /// cap the longest-idle one is closed anyway, so a longer timeout costs little.
    pub idle_timeout: Duration,
    /// The longest gap between two frames of a request body once the handler reads it;
    /// past it the request is answered 408 `{"message": ...}`. Reset by every frame, so a
    /// large upload on a slow but steady link is never cut.
    ///
    /// Default 30 s: the same bound as for the head. A client that stops sending mid-body
    /// would otherwise hold the connection (and a request slot) forever, since a busy
    /// connection has no idle deadline.
    pub body_read_timeout: Duration,
    /// Open connections on the gateway listener. `None` sizes it from the raised
    /// RLIMIT_NOFILE: min(10,000, nofile − admin cap − loaded-modules bound −
    /// [`FD_RESERVE`]), at least [`MIN_GATEWAY_CONNECTIONS`]. So a gateway flood can never
    /// take the fds the admin listener and the process's own files need (database, code
    /// blobs, and one open artifact file per loaded module: wasmtime maps it).
    ///
    /// At the cap, a new connection makes the gateway close its longest-idle connection
    /// (no request in flight); when every connection is busy it stops accepting until one
    /// closes (new clients wait in the kernel's listen backlog). 10,000 is where the
    /// per-connection memory (buffers, task) reaches tens of MiB; beyond that, put a proxy
    /// in front.
    pub max_gateway_connections: Option<usize>,
    /// Open connections on the admin (management API) listener, counted apart from the
    /// gateway's so management stays reachable while the gateway is flooded.
    ///
    /// Default 256: management traffic is a few CLI calls and scrapers, and 256 fds are
    /// affordable even under the common soft limit of 1,024 (which we raise anyway).
    pub max_admin_connections: usize,
}

/// File descriptors kept out of the gateway's default cap for the process itself: the
/// SQLite database (+ WAL and shm), code blobs and artifacts being read, the listeners,
/// the runtime's epoll/eventfd, stdio and outbound HTTP.
pub const FD_RESERVE: u64 = 256;
/// Ceiling of the default gateway cap (see [`ConnectionLimits::max_gateway_connections`]).
pub const MAX_DEFAULT_GATEWAY_CONNECTIONS: u64 = 10_000;
/// Floor of the default gateway cap, for a tiny fd limit (a warning is logged then).
pub const MIN_GATEWAY_CONNECTIONS: usize = 32;

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_gateway_connections: None,
            max_admin_connections: 256,
        }
    }
}

impl ConnectionLimits {
    /// The gateway's cap under an fd limit of `nofile` with at most `loaded_modules`
    /// modules loaded (explicit setting or the default).
    pub fn gateway_cap(&self, nofile: u64, loaded_modules: u64) -> usize {
        if let Some(n) = self.max_gateway_connections {
            return n.max(1);
        }
        let spare = nofile
            .saturating_sub(self.max_admin_connections as u64)
            .saturating_sub(loaded_modules)
            .saturating_sub(FD_RESERVE);
        let cap = spare.min(MAX_DEFAULT_GATEWAY_CONNECTIONS) as usize;
        cap.max(MIN_GATEWAY_CONNECTIONS)
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (once per process) and returns the
/// soft limit now in force. The soft limit is often 1,024, which 1,100 idle connections
/// exhausted: accept failed with EMFILE on both listeners.
pub fn raise_nofile_limit() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let (soft, hard) = match rlimit::Resource::NOFILE.get() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the open-file limit (RLIMIT_NOFILE); assuming 1024");
                return 1024;
            }
        };
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(now) => {
                tracing::info!(soft_before = soft, hard, now, "open-file limit (RLIMIT_NOFILE)");
                now
            }
            Err(e) => {
                tracing::warn!(error = %e, soft, hard, "could not raise the open-file limit (RLIMIT_NOFILE)");
                soft
            }
        }
    })
}

/// True when `e` (or an error it wraps) is the body-read timeout of
/// [`ConnectionLimits::body_read_timeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = c.source();
    }
    false
}

/// Where a connection is; only `Idle` and `Head` have a deadline and may be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in flight and no byte of the next head received, since `.0`.
    Idle(Instant),
    /// Bytes of a head arrived (first at `.0`), but no complete head yet.
    Head(Instant),
    /// This many requests in flight (HTTP/2 multiplexes several).
    Busy(usize),
    /// Out of the registry; HTTP/2 stream tasks may still finish requests.
    Closed,
}

impl Phase {
    fn deadline(self, limits: &ConnectionLimits) -> Option<Instant> {
        match self {
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Head(since) => Some(since + limits.header_read_timeout),
            Phase::Busy(_) | Phase::Closed => None,
        }
    }

    /// Since when the connection has had no request in flight (`None`: busy or closed).
    fn quiet_since(self) -> Option<Instant> {
        match self {
            Phase::Idle(t) | Phase::Head(t) => Some(t),
            Phase::Busy(_) | Phase::Closed => None,
        }
    }
}

/// One open connection, shared by its task, its IO wrapper, its requests and the registry.
struct Conn {
    phase: Mutex<Phase>,
    /// Asks the task to close the connection: past its deadline (the reaper) or to make
    /// room at the cap (`for_cap` set). Ignored if it became busy meanwhile.
    evict: Notify,
    /// Set by the cap eviction, so a quiet connection not yet past its deadline closes.
    for_cap: std::sync::atomic::AtomicBool,
    registry: Arc<Registry>,
}

impl Conn {
    /// Moves to the phase `next` computes, keeping the registry's count of quiet
    /// connections in step (under the phase lock, so it never drifts).
    fn transition(&self, next: impl FnOnce(Phase) -> Phase) -> Phase {
        let mut p = self.phase.lock();
        let was_quiet = p.quiet_since().is_some();
        *p = next(*p);
        let quiet = p.quiet_since().is_some();
        if was_quiet && !quiet {
            self.registry.quiet.fetch_sub(1, Ordering::SeqCst);
        } else if quiet && !was_quiet {
            self.registry.quiet.fetch_add(1, Ordering::SeqCst);
            // Only the accept loop at the cap waits for this: no shared write per request
            // otherwise. (SeqCst pairs with `admissible`: one of the two sees the other.)
            if self.registry.waiting.load(Ordering::SeqCst) {
                self.registry.quiet_changed.notify_one();
            }
        }
        *p
    }

    /// Bytes arrived: an idle connection starts reading a head.
    fn on_read(&self) {
        let mut p = self.phase.lock();
        if let Phase::Idle(_) = *p {
            // Quiet before and after: the count does not change.
            *p = Phase::Head(Instant::now());
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.transition(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
            Phase::Closed => Phase::Closed,
        });
        InFlight(self.clone())
    }
}

/// A request in flight on its connection: held by the request until its response body
/// has been sent (or dropped), so the connection is busy for exactly that long.
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.transition(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            Phase::Busy(_) => Phase::Idle(Instant::now()),
            other => other,
        });
    }
}

/// The open connections of one listener.
struct Registry {
    /// One permit per connection the cap allows.
    slots: Arc<Semaphore>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    /// Connections with no request in flight (evictable), so the accept loop need not scan.
    quiet: AtomicUsize,
    /// Notified when a connection becomes quiet (the accept loop may be waiting for one).
    quiet_changed: Notify,
    /// True while the accept loop waits on `quiet_changed`.
    waiting: std::sync::atomic::AtomicBool,
}

impl Registry {
    fn new(cap: usize) -> Arc<Self> {
        Arc::new(Registry {
            slots: Arc::new(Semaphore::new(cap)),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            quiet: AtomicUsize::new(0),
            quiet_changed: Notify::new(),
            waiting: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn add(self: &Arc<Self>) -> (u64, Arc<Conn>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            phase: Mutex::new(Phase::Closed),
            evict: Notify::new(),
            for_cap: std::sync::atomic::AtomicBool::new(false),
            registry: self.clone(),
        });
        conn.transition(|_| Phase::Idle(Instant::now()));
        self.conns.lock().insert(id, conn.clone());
        (id, conn)
    }

    fn remove(&self, id: u64) {
        if let Some(c) = self.conns.lock().remove(&id) {
            c.transition(|_| Phase::Closed);
        }
    }

    /// Waits until a new connection could be admitted: `Some` a free slot, `None` at the
    /// cap with a quiet connection that can be closed to make room.
    async fn admissible(&self) -> Option<OwnedSemaphorePermit> {
        loop {
            let quiet = self.quiet_changed.notified();
            tokio::pin!(quiet);
            quiet.as_mut().enable();
            if let Ok(p) = self.slots.clone().try_acquire_owned() {
                return Some(p);
            }
            self.waiting.store(true, Ordering::SeqCst);
            if self.quiet.load(Ordering::SeqCst) > 0 {
                self.waiting.store(false, Ordering::SeqCst);
                return None;
            }
            let woke = tokio::select! {
                p = self.slots.clone().acquire_owned() => Some(p.ok()),
                _ = quiet => None,
            };
            self.waiting.store(false, Ordering::SeqCst);
            if let Some(p) = woke {
                return p;
            }
        }
    }

    /// Asks the connection that has had no request in flight the longest to close. A scan:
    /// it runs only at the cap, once per admitted connection, over at most the cap (10,000
    /// by default, tens of µs) — cheaper overall than keeping an ordered index up to date
    /// on every request.
    fn evict_longest_quiet(&self) -> bool {
        let conns = self.conns.lock();
        let oldest = conns
            .values()
            .filter_map(|c| c.phase.lock().quiet_since().map(|t| (t, c)))
            .min_by_key(|(t, _)| *t)
            .map(|(_, c)| c.clone());
        drop(conns);
        match oldest {
            Some(c) => {
                c.for_cap.store(true, Ordering::Relaxed);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }

    /// Asks every connection past its deadline to close (the reaper's scan).
    fn expire(&self, limits: &ConnectionLimits) {
        let now = Instant::now();
        for c in self.conns.lock().values() {
            if c.phase.lock().deadline(limits).is_some_and(|d| d <= now) {
                c.evict.notify_one();
            }
        }
    }
}

/// How often the reaper scans for connections past their deadline: an eighth of the
/// shorter timeout, between 10 ms and 1 s (the defaults give 1 s, so an idle connection
/// closes 60–61 s after its last request). A scan costs ≈ 20 ns per open connection.
fn reap_interval(limits: &ConnectionLimits) -> Duration {
    (limits.header_read_timeout.min(limits.idle_timeout) / 8).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Scans `registry` every [`reap_interval`] until shutdown.
async fn reap(registry: Arc<Registry>, limits: Arc<ConnectionLimits>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(reap_interval(&limits));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|v| *v) => return,
            _ = tick.tick() => registry.expire(&limits),
        }
    }
}

/// The connection's socket, reporting reads so an idle connection's first head bytes
/// start the header clock. (hyper has no hook for "bytes of a head arrived".)
struct Watched {
    io: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.on_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A response body that keeps its request in flight until hyper drops it (after sending
/// it). A struct rather than `Body::new(body.map_frame(..))`: no second box per response.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The delay after the `failures`-th consecutive accept error: 5 ms doubling to 1 s.
/// EMFILE/ENFILE persist until something closes, so retrying at once would spin a core.
fn accept_backoff(failures: u32) -> Duration {
    let ms = 5u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(1000))
}

async fn accept(tcp: &TcpListener, listener: &'static str) -> (TcpStream, SocketAddr) {
    let mut failures: u32 = 0;
    loop {
        match tcp.accept().await {
            Ok(x) => {
                if failures > 0 {
                    tracing::info!(listener, failures, "accepting connections again");
                }
                return x;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                // Once per run of errors, not once per retry: EMFILE can last minutes.
                if failures == 1 {
                    tracing::warn!(listener, error = %e, "accept failed; retrying with back-off (5 ms doubling to 1 s)");
                }
                tokio::time::sleep(accept_backoff(failures)).await;
            }
        }
    }
}

/// Serves `app` on `tcp` until `shutdown` turns true, then lets open connections finish
/// their requests (hyper's graceful shutdown: idle ones close at once) and returns when
/// all are closed.
pub(crate) async fn serve(
    listener: &'static str,
    tcp: TcpListener,
    app: Router,
    cap: usize,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    // The semaphore holds at most u32::MAX permits per acquire_many.
    let cap = cap.clamp(1, u32::MAX as usize);
    let registry = Registry::new(cap);
    let builder = Arc::new(hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()));
    let limits = Arc::new(limits);
    tokio::spawn(reap(registry.clone(), limits.clone(), shutdown.clone()));
    let mut at_cap_logged = false;
    loop {
        let slot = tokio::select! {
            _ = shutdown.wait_for(|v| *v) => break,
            s = registry.admissible() => s,
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait_for(|v| *v) => break,
            r = accept(&tcp, listener) => r,
        };
        let permit = match slot.or_else(|| registry.slots.clone().try_acquire_owned().ok()) {
            Some(p) => p,
            None => {
                if !at_cap_logged {
                    // Once per listener run: a flood would otherwise log per connection.
                    tracing::warn!(
                        listener,
                        cap,
                        "connection cap reached: closing the longest-idle connections to admit new ones"
                    );
                    at_cap_logged = true;
                }
                // The evicted connection's task closes it and frees its slot; if it (or
                // every other) became busy meanwhile, this waits for any to close.
                registry.evict_longest_quiet();
                tokio::select! {
                    _ = shutdown.wait_for(|v| *v) => break,
                    p = registry.slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        let (id, conn) = registry.add();
        let io = TokioIo::new(Watched { io: stream, conn: conn.clone() });
        tokio::spawn(run_connection(
            listener,
            id,
            conn,
            io,
            peer,
            app.clone(),
            builder.clone(),
            limits.clone(),
            shutdown.clone(),
            permit,
        ));
    }
    drop(tcp);
    // Every connection task holds a slot until it ends.
    let _ = registry.slots.acquire_many(cap as u32).await;
}

#[allow(clippy::too_many_arguments)]
async fn run_connection(
    listener: &'static str,
    id: u64,
    conn: Arc<Conn>,
    io: TokioIo<Watched>,
    peer: SocketAddr,
    app: Router,
    builder: Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>>,
    limits: Arc<ConnectionLimits>,
    mut shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    let body_timeout = limits.body_read_timeout;
    let for_requests = conn.clone();
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let in_flight = for_requests.request_started();
        // A body that is already complete (no body: GET, HEAD, DELETE) has nothing to
        // stall on: no timer for it.
        let mut req = req.map(|b| {
            if hyper::body::Body::is_end_stream(&b) {
                Body::new(b)
            } else {
                Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, b))
            }
        });
        // The gateway reads the peer address (event's requestContext.identity.sourceIp).
        req.extensions_mut().insert(ConnectInfo(peer));
        let call = tower::ServiceExt::oneshot(app.clone(), req);
        async move {
            let resp = call.await?;
            // The request stays in flight until hyper has sent (and drops) the body.
            Ok::<_, std::convert::Infallible>(resp.map(|body| Tracked { body, _in_flight: in_flight }))
        }
    });
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let mut draining = false;
    loop {
        tokio::select! {
            r = served.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(listener, %peer, error = %e, "connection error");
                }
                break;
            }
            _ = conn.evict.notified() => {
                // Re-read: a request may have started since the reaper or the cap asked.
                let phase = *conn.phase.lock();
                let for_cap = conn.for_cap.swap(false, Ordering::Relaxed);
                let expired = phase.deadline(&limits).is_some_and(|d| d <= Instant::now());
                if phase.quiet_since().is_some() && (expired || for_cap) {
                    let why = match phase {
                        _ if !expired => "closing idle connection to admit a new one (connection cap)",
                        Phase::Head(_) => "closing connection: header read timeout",
                        _ => "closing connection: idle timeout",
                    };
                    tracing::debug!(listener, %peer, "{why}");
                    break;
                }
            }
            _ = shutdown.wait_for(|v| *v), if !draining => {
                draining = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
    conn.registry.remove(id);
    drop(permit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn accept_backoff_doubles_from_5ms_to_1s() {
        let ms: Vec<u64> = (1..=10).map(|n| accept_backoff(n).as_millis() as u64).collect();
        assert_eq!(ms, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(accept_backoff(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn default_gateway_cap_leaves_room_for_admin_and_the_process() {
        let l = ConnectionLimits::default();
        assert_eq!(l.gateway_cap(1024, 0), 1024 - 256 - 256);
        assert_eq!(l.gateway_cap(20_000, 1024), 10_000);
        assert_eq!(l.gateway_cap(8_000, 1024), 8_000 - 256 - 1024 - 256);
        assert_eq!(l.gateway_cap(1_048_576, 1024), 10_000);
        assert_eq!(l.gateway_cap(100, 0), MIN_GATEWAY_CONNECTIONS);
        assert_eq!(l.gateway_cap(2048, 4096), MIN_GATEWAY_CONNECTIONS);
        let set = ConnectionLimits { max_gateway_connections: Some(50), ..l };
        assert_eq!(set.gateway_cap(1024, 1024), 50);
    }

    // Real time (tokio's paused clock needs the test-util feature, which would rebuild
    // every tokio dependant for tests): assertions compare instants, never sleep long.
    #[test]
    fn phases_and_deadlines() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(5),
            ..ConnectionLimits::default()
        };
        let reg = Registry::new(2);
        let before = Instant::now();
        let (id, c) = reg.add();
        let idle_deadline = c.phase.lock().deadline(&limits).expect("idle deadline");
        assert!(idle_deadline >= before + Duration::from_secs(5));
        assert_eq!(reg.quiet.load(Ordering::Relaxed), 1);
        c.on_read();
        let head_deadline = c.phase.lock().deadline(&limits).expect("header deadline");
        assert!(head_deadline < idle_deadline, "the first head byte starts the (shorter) header clock");
        let a = c.request_started();
        let b = c.request_started();
        assert_eq!(c.phase.lock().deadline(&limits), None, "a busy connection has no deadline");
        assert_eq!(reg.quiet.load(Ordering::Relaxed), 0);
        drop(a);
        assert_eq!(*c.phase.lock(), Phase::Busy(1));
        let last_done = Instant::now();
        drop(b);
        let again = c.phase.lock().deadline(&limits).expect("idle again");
        assert!(again >= last_done + Duration::from_secs(5), "idle time counts from the end of the last request");
        assert_eq!(reg.quiet.load(Ordering::Relaxed), 1);
        // A request that ends after its connection left the registry does not count it.
        let late = c.request_started();
        reg.remove(id);
        drop(late);
        assert_eq!(reg.quiet.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn eviction_picks_the_longest_quiet_connection() {
        let reg = Registry::new(3);
        let (_, old) = reg.add();
        std::thread::sleep(Duration::from_millis(5));
        let (_, young) = reg.add();
        let (_, busy) = reg.add();
        // Busy the longest of all, but with a request in flight: not a candidate.
        let _in_flight = busy.request_started();
        assert!(reg.evict_longest_quiet());
        let waited = tokio::time::timeout(Duration::from_millis(1), old.evict.notified()).await;
        assert!(waited.is_ok(), "the oldest quiet connection is asked to close");
        let waited = tokio::time::timeout(Duration::from_millis(1), young.evict.notified()).await;
        assert!(waited.is_err());
    }

    #[tokio::test]
    async fn the_reaper_asks_only_connections_past_their_deadline() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_millis(1),
            idle_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        };
        assert_eq!(reap_interval(&limits), Duration::from_millis(10));
        assert_eq!(reap_interval(&ConnectionLimits::default()), Duration::from_secs(1));
        let reg = Registry::new(3);
        let (_, slow_head) = reg.add();
        let (_, idle) = reg.add();
        let (_, busy) = reg.add();
        slow_head.on_read();
        busy.on_read();
        let _in_flight = busy.request_started();
        std::thread::sleep(Duration::from_millis(5));
        reg.expire(&limits);
        let asked = |c: Arc<Conn>| async move {
            tokio::time::timeout(Duration::from_millis(1), c.evict.notified()).await.is_ok()
        };
        assert!(asked(slow_head).await, "a head past the header timeout");
        assert!(!asked(idle).await, "idle, but within the idle timeout");
        assert!(!asked(busy).await, "a request in flight has no deadline");
    }

    #[tokio::test]
    async fn body_timeout_is_found_through_the_wrappers_a_handler_sees() {
        // As run_connection wraps the body and read_limited reads it.
        let stalled = Body::from_stream(futures_util::stream::pending::<Result<bytes::Bytes, io::Error>>());
        let body = Body::new(tower_http::timeout::TimeoutBody::new(Duration::from_millis(20), stalled));
        let e = http_body_util::Limited::new(body, 1024).collect().await.err();
        assert!(e.is_some_and(|e| is_body_timeout(&*e)));
        assert!(!is_body_timeout(&io::Error::other("x")));
    }
}
