//! Per-function log buffers: the last N log events (START / guest stderr / END / REPORT
//! lines) of each function, in memory, for `GET /v1/functions/{name}/logs` and
//! `waygate logs`. Bounded: N events per function (`waygate up --log-buffer-lines`), each
//! message cut at [`MAX_MESSAGE_BYTES`].

use super::{InvocationRecord, Line};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Longest message kept per event; the rest is replaced by a marker.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Default events kept per function.
pub const DEFAULT_LINES: usize = 1000;
/// Most events one logs query returns.
pub const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Clone)]
pub struct LogEvent {
    /// Process-wide increasing number: the `after` cursor of `--follow`.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub timestamp: i64,
    /// Request id, executed version and qualifier, shared by the invocation's events.
    pub invocation: Arc<InvocationIds>,
    /// Rendered to text when read ([`LogEvent::message`]).
    pub line: Line,
}

#[derive(Debug)]
pub struct InvocationIds {
    pub request_id: String,
    /// The executed version.
    pub version: String,
    /// As invoked: `$LATEST`, a version number or an alias.
    pub qualifier: String,
}

impl LogEvent {
    /// The log line's text.
    pub fn message(&self) -> String {
        self.line.render(&self.invocation.request_id, &self.invocation.version)
    }
}

/// The wire shape: `{seq, timestamp, request_id, version, qualifier, message}`.
impl Serialize for LogEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            seq: u64,
            timestamp: i64,
            request_id: &'a str,
            version: &'a str,
            qualifier: &'a str,
            message: String,
        }
        let ids = &*self.invocation;
        Wire {
            seq: self.seq,
            timestamp: self.timestamp,
            request_id: &ids.request_id,
            version: &ids.version,
            qualifier: &ids.qualifier,
            message: self.message(),
        }
        .serialize(s)
    }
}

/// Which events a query wants.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    /// Only events of invocations that executed this version (`$LATEST` or a number)…
    pub version: Option<String>,
    /// …or that were invoked through this alias.
    pub alias: Option<String>,
    /// Events at or after this Unix time (ms).
    pub since: Option<i64>,
    /// Events with `seq` greater than this.
    pub after: Option<u64>,
    pub limit: usize,
}

type Ring = Arc<Mutex<VecDeque<LogEvent>>>;

pub struct LogBook {
    capacity: usize,
    next_seq: AtomicU64,
    functions: RwLock<HashMap<String, Ring>>,
}

impl LogBook {
    pub fn new(capacity: usize) -> Self {
        LogBook { capacity: capacity.max(1), next_seq: AtomicU64::new(1), functions: RwLock::new(HashMap::new()) }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn ring(&self, function: &str) -> Ring {
        if let Some(r) = self.functions.read().get(function) {
            return r.clone();
        }
        self.functions.write().entry(function.to_string()).or_default().clone()
    }

    /// Appends one invocation's lines, dropping the oldest events beyond the capacity.
    pub fn push(&self, rec: &InvocationRecord<'_>, lines: Vec<Line>) {
        let timestamp = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let invocation = Arc::new(InvocationIds {
            request_id: rec.request_id.to_string(),
            version: rec.executed_version.to_string(),
            qualifier: rec.qualifier.to_string(),
        });
        // Only the newest `capacity` lines of one invocation can survive anyway.
        let skip = lines.len().saturating_sub(self.capacity);
        let ring = self.ring(rec.function);
        let mut ring = ring.lock();
        for mut line in lines.into_iter().skip(skip) {
            if let Line::Stderr(message) = &mut line {
                truncate(message);
            }
            if ring.len() == self.capacity {
                ring.pop_front();
            }
            ring.push_back(LogEvent {
                // Taken under the ring's lock so a function's events are in `seq` order.
                seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
                timestamp,
                invocation: invocation.clone(),
                line,
            });
        }
    }

    /// Matching events, oldest first. Without `since`/`after` these are the newest
    /// `limit` events (a tail); with either, the oldest `limit` from that point on (so a
    /// follower can page forward with `after` = the last `seq` it saw).
    pub fn query(&self, function: &str, q: &LogQuery) -> Vec<LogEvent> {
        let Some(ring) = self.functions.read().get(function).cloned() else {
            return Vec::new();
        };
        let ring = ring.lock();
        let matches = |e: &&LogEvent| {
            q.version.as_deref().is_none_or(|v| e.invocation.version == v)
                && q.alias.as_deref().is_none_or(|a| e.invocation.qualifier == a)
                && q.since.is_none_or(|s| e.timestamp >= s)
                && q.after.is_none_or(|a| e.seq > a)
        };
        if q.since.is_none() && q.after.is_none() {
            let mut tail: Vec<LogEvent> = ring.iter().rev().filter(matches).take(q.limit).cloned().collect();
            tail.reverse();
            tail
        } else {
            ring.iter().filter(matches).take(q.limit).cloned().collect()
        }
    }

    /// The events of one invocation, oldest first (searched from the newest: the
    /// invocation that just finished is at the end).
    pub fn of_request(&self, function: &str, request_id: &str) -> Vec<LogEvent> {
        let Some(ring) = self.functions.read().get(function).cloned() else {
            return Vec::new();
        };
        let ring = ring.lock();
        let mut events: Vec<LogEvent> =
            ring.iter().rev().filter(|e| e.invocation.request_id == request_id).take(self.capacity).cloned().collect();
        events.reverse();
        events
    }

    /// Forgets a function's events (e.g. when it is deleted).
    pub fn forget(&self, function: &str) {
        self.functions.write().remove(function);
    }
}

fn truncate(message: &mut String) {
    if message.len() <= MAX_MESSAGE_BYTES {
        return;
    }
    let mut cut = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
    message.push_str(" [truncated]");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Outcome;

    fn push(book: &LogBook, version: &str, qualifier: &str, lines: &[&str]) {
        let o = Outcome::empty();
        let rec = InvocationRecord {
            function: "f",
            executed_version: version,
            qualifier,
            alias: None,
            api: None,
            stage: None,
            canary: false,
            request_id: "r",
            memory_mb: 128,
            outcome: &o,
            config: &[],
        };
        book.push(&rec, lines.iter().map(|s| Line::Stderr(s.to_string())).collect());
    }

    #[test]
    fn ring_is_bounded_and_filters() {
        let book = LogBook::new(3);
        push(&book, "1", "live", &["a", "b"]);
        push(&book, "2", "2", &["c", "d"]);
        let all = book.query("f", &LogQuery { limit: 10, ..Default::default() });
        assert_eq!(all.iter().map(|e| e.message()).collect::<Vec<_>>(), ["b", "c", "d"]);
        let v2 = book.query("f", &LogQuery { version: Some("2".into()), limit: 10, ..Default::default() });
        assert_eq!(v2.len(), 2);
        let live = book.query("f", &LogQuery { alias: Some("live".into()), limit: 10, ..Default::default() });
        assert_eq!(live.len(), 1);
        let tail = book.query("f", &LogQuery { limit: 1, ..Default::default() });
        assert_eq!(tail[0].message(), "d");
        let after = book.query("f", &LogQuery { after: Some(all[0].seq), limit: 1, ..Default::default() });
        assert_eq!(after[0].message(), "c");
        assert!(book.query("g", &LogQuery { limit: 10, ..Default::default() }).is_empty());
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let book = LogBook::new(3);
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        push(&book, "1", "1", &[&long]);
        let e = &book.query("f", &LogQuery { limit: 1, ..Default::default() })[0];
        assert!(e.message().len() < MAX_MESSAGE_BYTES + 20);
        assert!(e.message().ends_with(" [truncated]"));
    }
}
