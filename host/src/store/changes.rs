//! What one write transaction changed, as the routing snapshot sees it: recorded from the
//! statements themselves (every write goes through [`super::sql::SqlTx::execute`]), so no
//! use case has to declare what it touched and none can forget to.
//!
//! A statement's table decides the part of the snapshot it affects; for the tables keyed
//! by function (`functions`, `versions`, `aliases`) the statement's first argument (`?1`)
//! is the function's name, for those keyed by API (`stages`, `deployments`) the API's id,
//! and for `artifacts` the code hash — a convention every
//! statement on them follows (`store/sql/functions.rs`, `code.rs`). A table this file does
//! not know makes the change [`Changes::unknown`]: the platform then rebuilds everything,
//! which is always correct.

use super::sql::Arg;
use std::collections::BTreeSet;

/// Tables whose rows the snapshot doesn't read: writing them changes nothing it serves
/// (drafts of APIs and routes, declared resources, the audit log, code bytes, the change
/// sequence itself). `blobs` are checked at start and by the change feed, not per commit.
const IGNORED: &[&str] = &["apis", "routes", "declared", "audit", "blobs", "blob_bytes", "change_seq"];

/// The parts of the snapshot, by the tables they are built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The functions' resource policies (every stage's integrations check them): the whole
    /// gateway. (Stages and deployments are keyed by API: [`Changes::apis`].)
    Gateway,
    /// API keys.
    Access,
    Secrets,
    /// Environment values.
    Values,
    /// AppConfig deployments, strategies, environments (and their monitors).
    Config,
    /// Alias shifts: they change both functions' aliases and the watched windows.
    Shifts,
}

fn part_of(table: &str) -> Option<Part> {
    Some(match table {
        "permissions" => Part::Gateway,
        "api_keys" => Part::Access,
        "secrets" => Part::Secrets,
        "environment_values" => Part::Values,
        "config_applications"
        | "config_environments"
        | "config_profiles"
        | "config_versions"
        | "config_deployments"
        | "deployment_strategies" => Part::Config,
        "alias_shifts" => Part::Shifts,
        _ => return None,
    })
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Functions whose rows (function, versions, aliases) changed.
    pub functions: BTreeSet<String>,
    /// APIs whose stages or deployments changed.
    pub apis: BTreeSet<String>,
    /// Code hashes (hex) whose artifact record changed.
    pub artifacts: BTreeSet<String>,
    /// Other parts changed (rebuilt whole).
    pub parts: BTreeSet<Part>,
    /// A statement this file can't place: rebuild everything.
    pub unknown: bool,
}

impl Changes {
    /// Records one executed statement (reads are not recorded).
    pub fn record(&mut self, sql: &str, args: &[Arg<'_>]) {
        let Some(table) = written_table(sql) else { return };
        let key = || match args.first() {
            Some(Arg::Text(s)) => Some(s.to_string()),
            _ => None,
        };
        match table {
            t if IGNORED.contains(&t) => {}
            "functions" | "versions" | "aliases" => match key() {
                Some(name) => {
                    self.functions.insert(name);
                }
                None => self.unknown = true,
            },
            "stages" | "deployments" => match key() {
                Some(api) => {
                    self.apis.insert(api);
                }
                None => self.unknown = true,
            },
            "artifacts" => match key() {
                Some(hash) => {
                    self.artifacts.insert(hash);
                }
                None => self.unknown = true,
            },
            t => match part_of(t) {
                Some(p) => {
                    self.parts.insert(p);
                }
                None => self.unknown = true,
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
            && self.apis.is_empty()
            && self.artifacts.is_empty()
            && self.parts.is_empty()
            && !self.unknown
    }
}

/// The table an `INSERT INTO` / `UPDATE` / `DELETE FROM` writes; `None` for anything else
/// (a `SELECT`, including `SELECT pg_notify(…)`).
fn written_table(sql: &str) -> Option<&str> {
    let s = sql.trim_start();
    let rest = ["INSERT INTO ", "DELETE FROM ", "UPDATE "]
        .iter()
        .find_map(|verb| s.get(..verb.len()).filter(|head| head.eq_ignore_ascii_case(verb)).map(|_| &s[verb.len()..]))?
        .trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_placed_by_table_and_key() {
        let mut c = Changes::default();
        c.record("SELECT * FROM functions WHERE name = ?1", &[Arg::Text("f")]);
        assert!(c.is_empty(), "reads are not changes");
        c.record("INSERT INTO versions (function) VALUES (?1)", &[Arg::Text("f"), Arg::Int(1)]);
        c.record("  update functions SET x = 1 WHERE name = ?1", &[Arg::Text("g")]);
        c.record("DELETE FROM aliases WHERE function = ?1", &[Arg::Text("f")]);
        c.record("INSERT INTO artifacts (code_hash) VALUES (?1)", &[Arg::Text("abcd")]);
        c.record("INSERT INTO stages (api_id) VALUES (?1)", &[Arg::Text("a1")]);
        c.record("INSERT INTO routes (api_id) VALUES (?1)", &[Arg::Text("a1")]);
        c.record("UPDATE change_seq SET seq = seq + 1", &[]);
        c.record("SELECT pg_notify(?1, ?2)", &[Arg::Text("ch"), Arg::Text("1")]);
        assert_eq!(c.functions.iter().map(String::as_str).collect::<Vec<_>>(), ["f", "g"]);
        assert_eq!(c.artifacts.len(), 1);
        assert_eq!(c.apis, BTreeSet::from(["a1".to_string()]));
        assert!(c.parts.is_empty(), "{c:?}");
        c.record("DELETE FROM permissions WHERE function = ?1", &[Arg::Text("f")]);
        assert_eq!(c.parts, BTreeSet::from([Part::Gateway]));
        assert!(!c.unknown);
    }

    #[test]
    fn an_unknown_table_or_key_means_everything() {
        let mut c = Changes::default();
        c.record("INSERT INTO something_new (x) VALUES (?1)", &[Arg::Int(1)]);
        assert!(c.unknown);
        let mut c = Changes::default();
        c.record("DELETE FROM functions WHERE rowid = ?1", &[Arg::Int(3)]);
        assert!(c.unknown, "a function table without a name key");
    }
}
