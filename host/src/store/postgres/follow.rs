//! The change feed of a shared store: one thread per host LISTENs on [`super::CHANNEL`]
//! and calls back with each change sequence another host committed. Notifications are a
//! hint, the sequence is the truth: on (re)connecting, and every [`POLL`] without a
//! notification, the thread reads the sequence itself, so a notification missed while
//! disconnected costs at most one poll period, never a lost change.
//!
//! While the database is unreachable the thread retries every [`RETRY`] and [`Feed`]
//! says so (health and metrics read it); the host keeps serving its last snapshot.

use postgres::fallible_iterator::FallibleIterator;
use postgres::NoTls;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the thread waits for a notification before reading the sequence itself.
pub const POLL: Duration = Duration::from_secs(1);
/// How long it waits before reconnecting after losing the database.
pub const RETRY: Duration = Duration::from_millis(500);

/// What the feed knows, shared with health and metrics.
#[derive(Debug, Default)]
pub struct Feed {
    connected: AtomicBool,
    /// The newest change sequence seen in the database.
    latest: AtomicU64,
    /// Connections lost since start.
    disconnects: AtomicU64,
}

impl Feed {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
    pub fn latest(&self) -> u64 {
        self.latest.load(Ordering::Relaxed)
    }
    pub fn disconnects(&self) -> u64 {
        self.disconnects.load(Ordering::Relaxed)
    }
}

/// What the follower asks of the host: apply a sequence (rebuild if it is newer than what
/// the host serves), and what to say of itself in the `hosts` table.
pub trait Follower: Send + Sync + 'static {
    fn changed(&self, seq: u64);
    /// A host broadcast a cache event (`flush API STAGE`) to every host of this schema.
    fn cache_event(&self, event: &str);
    /// (host id, gateway address, start time, the change sequence it serves).
    fn presence(&self) -> (String, String, String, u64);
}

/// A host not seen for this long is not alive (`GET /v1/cluster`).
pub const ALIVE_WITHIN: Duration = Duration::from_secs(5);

/// Starts the follower thread. It holds `follower` weakly and ends when it is dropped.
pub fn spawn(
    config: postgres::Config,
    feed: Arc<Feed>,
    follower: std::sync::Weak<dyn Follower>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("waygate-follow".into()).spawn(move || run(config, feed, follower)).map(drop)
}

fn run(config: postgres::Config, feed: Arc<Feed>, follower: std::sync::Weak<dyn Follower>) {
    let mut warned = false;
    while follower.strong_count() > 0 {
        match follow(&config, &feed, &follower) {
            Ok(()) => return,
            Err(e) => {
                if feed.connected.swap(false, Ordering::Relaxed) {
                    feed.disconnects.fetch_add(1, Ordering::Relaxed);
                    warned = false;
                }
                if !warned {
                    tracing::error!(error = %e, "lost the database's change feed: serving the last snapshot; management calls answer 503 until it is back");
                    warned = true;
                }
                std::thread::sleep(RETRY);
            }
        }
    }
}

/// One connection's life: returns Ok when the host is gone, Err when the connection is.
fn follow(
    config: &postgres::Config,
    feed: &Feed,
    follower: &std::sync::Weak<dyn Follower>,
) -> Result<(), postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {}; LISTEN {}", super::CHANNEL, super::CACHE_CHANNEL))?;
    // Channels are per database: cache events carry their schema, and only this one's count.
    let schema: String = client.query_one("SELECT current_schema()::text", &[])?.get(0);
    let prefix = format!("{schema} ");
    // Heartbeats are not worth an fsync each: a lost one is rewritten within a second.
    client.batch_execute("SET synchronous_commit TO off")?;
    let mut last_beat: Option<(std::time::Instant, u64)> = None;
    if !feed.connected.swap(true, Ordering::Relaxed) {
        tracing::info!("following the database's change feed");
    }
    loop {
        // The sequence is read, never taken from a payload: after every wake-up, whatever
        // woke it (a notification — possibly another schema's, the channel is per
        // database —, the poll period, a reconnection).
        let seq: i64 = client.query_one("SELECT seq FROM change_seq WHERE id = 1", &[])?.get(0);
        feed.latest.store(seq as u64, Ordering::Relaxed);
        let Some(f) = follower.upgrade() else { return Ok(()) };
        f.changed(seq as u64);
        let (id, gateway, started, applied) = f.presence();
        drop(f);
        // This host's heartbeat: a row write outside the change sequence (no one rebuilds),
        // when what it serves changed or a second went by.
        if !last_beat.is_some_and(|(at, seq)| seq == applied && at.elapsed() < POLL) {
            last_beat = Some((std::time::Instant::now(), applied));
            client.execute(
                "INSERT INTO hosts (id, gateway_addr, started_at, seen_at_ms, applied_seq) \
                 VALUES ($1, $2, $3, (extract(epoch from clock_timestamp()) * 1000)::bigint, $4) \
                 ON CONFLICT (id) DO UPDATE SET gateway_addr = excluded.gateway_addr, \
                 started_at = excluded.started_at, seen_at_ms = excluded.seen_at_ms, applied_seq = excluded.applied_seq",
                &[&id, &gateway, &started, &(applied as i64)],
            )?;
        }
        let mut notes = client.notifications();
        // Wait for one, then take whatever else is already queued: one read for a burst.
        let mut events = Vec::new();
        let first = notes.timeout_iter(POLL).next()?;
        if let Some(first) = first {
            let mut pending = notes.iter();
            let mut next = Some(first);
            while let Some(n) = next {
                if n.channel() == super::CACHE_CHANNEL {
                    if let Some(event) = n.payload().strip_prefix(&prefix) {
                        events.push(event.to_string());
                    }
                }
                next = pending.next()?;
            }
        }
        if !events.is_empty() {
            let Some(f) = follower.upgrade() else { return Ok(()) };
            events.iter().for_each(|e| f.cache_event(e));
        }
    }
}
