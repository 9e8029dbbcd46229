//! The schema and its migrations, in one place: `run` creates what is missing and
//! migrates released tables (columns added after a release). Idempotent: run on every
//! open.

use rusqlite::Connection;

/// Blobs, artifacts, functions, versions, aliases.
const FUNCTIONS: &str = r#"
CREATE TABLE IF NOT EXISTS blobs (
    code_hash   TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    code_hash     TEXT NOT NULL REFERENCES blobs(code_hash),
    fingerprint   TEXT NOT NULL,
    artifact_hash TEXT NOT NULL,
    size          INTEGER NOT NULL,
    PRIMARY KEY (code_hash, fingerprint)
);
CREATE TABLE IF NOT EXISTS functions (
    name         TEXT PRIMARY KEY,
    code_hash    TEXT REFERENCES blobs(code_hash),
    config       TEXT NOT NULL,
    revision_id  TEXT NOT NULL,
    next_version INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
-- Version rows are inserted and deleted, never updated.
CREATE TABLE IF NOT EXISTS versions (
    function     TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    code_hash    TEXT NOT NULL REFERENCES blobs(code_hash),
    config       TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (function, number)
);
CREATE TABLE IF NOT EXISTS aliases (
    function        TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL,
    routing_version INTEGER,
    routing_weight  REAL,
    description     TEXT NOT NULL,
    revision_id     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (function, name)
);
"#;

/// APIs, draft routes, deployments, stages, resource policies.
const APIS: &str = r#"
CREATE TABLE IF NOT EXISTS apis (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS routes (
    api_id      TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    integration TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (api_id, id),
    UNIQUE (api_id, method, path)
);
-- API Gateway's resources and methods declared before an integration makes them a
-- route (method '' = the resource itself).
CREATE TABLE IF NOT EXISTS declared (
    api_id      TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    method      TEXT NOT NULL,
    PRIMARY KEY (api_id, path, method)
);
-- Deployment rows are inserted and deleted, never updated.
CREATE TABLE IF NOT EXISTS deployments (
    api_id      TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    description TEXT NOT NULL,
    routes      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (api_id, id)
);
CREATE TABLE IF NOT EXISTS stages (
    api_id        TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    variables     TEXT NOT NULL,
    description   TEXT NOT NULL,
    -- JSON settings (model/stage.rs); canary is NULL when the stage has none.
    canary        TEXT,
    cache         TEXT NOT NULL,
    throttle      TEXT NOT NULL,
    invalidation_key_hash TEXT,
    -- Environment whose secrets the stage's functions see; NULL: the stage's name.
    secret_environment TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (api_id, name),
    FOREIGN KEY (api_id, deployment_id) REFERENCES deployments(api_id, id)
);
-- qualifier '' is the unqualified function (which covers $LATEST).
CREATE TABLE IF NOT EXISTS permissions (
    function     TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    qualifier    TEXT NOT NULL,
    statement_id TEXT NOT NULL,
    principal    TEXT NOT NULL,
    source       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (function, qualifier, statement_id)
);
"#;

/// API keys (hash only), the audit log, secrets (ciphertext only).
const ACCESS: &str = r#"
CREATE TABLE IF NOT EXISTS api_keys (
    name        TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    policy      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
-- Append-only.
CREATE TABLE IF NOT EXISTS audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    principal   TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    status      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_principal ON audit(principal, id);
CREATE TABLE IF NOT EXISTS secrets (
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (environment, name)
);
-- Environment values: non-secret settings per environment, in the clear.
CREATE TABLE IF NOT EXISTS environment_values (
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (environment, name)
);
"#;

/// Configuration per environment: applications, environments, profiles, versions
/// (content with its blake3 hash; rows inserted and deleted, never updated), custom
/// strategies, deployments (written at start and at end).
const APPCONFIG: &str = r#"
CREATE TABLE IF NOT EXISTS config_applications (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS config_environments (
    application     TEXT NOT NULL REFERENCES config_applications(name) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    monitors        TEXT NOT NULL DEFAULT '[]',
    next_deployment INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (application, name)
);
CREATE TABLE IF NOT EXISTS config_profiles (
    application  TEXT NOT NULL REFERENCES config_applications(name) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    validators   TEXT NOT NULL,
    next_version INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (application, name)
);
CREATE TABLE IF NOT EXISTS config_versions (
    application  TEXT NOT NULL,
    profile      TEXT NOT NULL,
    number       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    content      BLOB NOT NULL,
    content_hash TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (application, profile, number),
    FOREIGN KEY (application, profile) REFERENCES config_profiles(application, name) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS deployment_strategies (
    name        TEXT PRIMARY KEY,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS config_deployments (
    application   TEXT NOT NULL,
    environment   TEXT NOT NULL,
    number        INTEGER NOT NULL,
    profile       TEXT NOT NULL,
    version       INTEGER NOT NULL,
    strategy      TEXT NOT NULL,
    description   TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    state         TEXT NOT NULL,
    ended_at_ms   INTEGER,
    reason        TEXT,
    PRIMARY KEY (application, environment, number),
    FOREIGN KEY (application, environment) REFERENCES config_environments(application, name) ON DELETE CASCADE
);
-- Gradual alias traffic shifts, on the same schedule as deployments.
CREATE TABLE IF NOT EXISTS alias_shifts (
    function      TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    alias         TEXT NOT NULL,
    number        INTEGER NOT NULL,
    from_version  INTEGER NOT NULL,
    to_version    INTEGER NOT NULL,
    strategy      TEXT NOT NULL,
    monitors      TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    state         TEXT NOT NULL,
    ended_at_ms   INTEGER,
    reason        TEXT,
    PRIMARY KEY (function, alias, number)
);
"#;

/// The change sequence: one row, advanced by every write transaction.
const CHANGE_SEQ: &str = r#"
CREATE TABLE IF NOT EXISTS change_seq (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO change_seq (id, seq) VALUES (1, 0) ON CONFLICT DO NOTHING;
"#;

/// The tables, in creation order. Written once for both engines: the shared store
/// (`store/postgres/schema.rs`) maps their types to PostgreSQL's.
pub(crate) const TABLES: [&str; 5] = [FUNCTIONS, APIS, ACCESS, APPCONFIG, CHANGE_SEQ];

/// Columns added after a release: (table, column, the DDL that adds it). An embedded
/// store created before one gets it at its next open; a shared store is created with all.
pub(crate) const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("functions", "reserved_concurrency", "ALTER TABLE functions ADD COLUMN reserved_concurrency INTEGER"),
    // The guest ABI of the compiled code; every artifact before it was a stdio module.
    ("artifacts", "kind", "ALTER TABLE artifacts ADD COLUMN kind TEXT NOT NULL DEFAULT 'stdio'"),
    // A stage's priority class and concurrency limit (JSON); `{}`: the defaults.
    ("stages", "capacity", "ALTER TABLE stages ADD COLUMN capacity TEXT NOT NULL DEFAULT '{}'"),
    // Lambda's CodeSha256 of $LATEST's and each version's package; NULL for older code.
    ("functions", "package_sha256", "ALTER TABLE functions ADD COLUMN package_sha256 TEXT"),
    ("versions", "package_sha256", "ALTER TABLE versions ADD COLUMN package_sha256 TEXT"),
    // An API key's AWS credentials: the access key id, and the secret sealed with the
    // master key (crate::secrets); NULL for keys created without them.
    (
        "api_keys",
        "access_key_id",
        "ALTER TABLE api_keys ADD COLUMN access_key_id TEXT;
         ALTER TABLE api_keys ADD COLUMN aws_secret_nonce BLOB;
         ALTER TABLE api_keys ADD COLUMN aws_secret BLOB;
         CREATE UNIQUE INDEX IF NOT EXISTS api_keys_access_key_id ON api_keys(access_key_id);",
    ),
];

pub fn run(conn: &Connection) -> rusqlite::Result<()> {
    for schema in TABLES {
        conn.execute_batch(schema)?;
    }
    migrate(conn)
}

/// Columns added after a release, each added once.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has = |table: &str, column: &str| -> rusqlite::Result<bool> {
        let mut stmt = conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?;
        stmt.exists([column])
    };
    for (table, column, ddl) in ADDED_COLUMNS {
        if !has(table, column)? {
            conn.execute_batch(ddl)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FunctionConfig, FunctionName};
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn migration_adds_reserved_concurrency_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            // A database from before the column existed.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(FUNCTIONS).unwrap();
            conn.execute_batch("ALTER TABLE functions DROP COLUMN reserved_concurrency").ok();
            conn.execute(
                "INSERT INTO functions (name, config, revision_id, created_at, updated_at) VALUES ('f', ?1, 'r', 'now', 'now')",
                [serde_json::to_string(&FunctionConfig::default()).unwrap()],
            )
            .unwrap();
        }
        let f = FunctionName::parse("f").unwrap();
        let get = |s: &SqliteStore| crate::store::read(s, |tx| tx.find_function(&f)).unwrap().unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(get(&store).reserved_concurrency, None);
        crate::store::write(&store, |tx| tx.set_reserved_concurrency(&f, Some(4))).unwrap();
        drop(store);
        // Opening again doesn't migrate twice, and the value stays.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(get(&store).reserved_concurrency, Some(4));
    }

    #[test]
    fn migration_gives_existing_artifacts_the_stdio_kind() {
        use crate::model::{CodeHash, GuestKind};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let hash = CodeHash::of(b"m");
        {
            // A database from before the column existed, with one artifact row.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(FUNCTIONS).unwrap();
            conn.execute("INSERT INTO blobs (code_hash, size, created_at) VALUES (?1, 1, 'now')", [hash.to_hex()])
                .unwrap();
            conn.execute(
                "INSERT INTO artifacts (code_hash, fingerprint, artifact_hash, size) VALUES (?1, 'fp', 'a', 1)",
                [hash.to_hex()],
            )
            .unwrap();
        }
        let kinds = |s: &SqliteStore| -> Vec<GuestKind> {
            crate::store::read(s, |tx| tx.artifacts("fp")).unwrap().into_iter().map(|a| a.kind).collect()
        };
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(kinds(&store), [GuestKind::StdioProxy]);
        drop(store);
        // Opening again doesn't migrate twice.
        assert_eq!(kinds(&SqliteStore::open(&path).unwrap()), [GuestKind::StdioProxy]);
    }
}
