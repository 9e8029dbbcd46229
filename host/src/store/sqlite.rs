//! The embedded metadata store: one SQLite file in WAL mode with foreign keys on.
//! Each trait method runs in one `BEGIN IMMEDIATE` transaction, which also serialises
//! concurrent publishes so they get distinct, consecutive version numbers.

use super::sqlite_apis as apis;
use super::*;
use crate::model::{function_arn, AliasRouting};
use anyhow::Context;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::path::Path;

const SCHEMA: &str = r#"
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

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        // Created 0600 before SQLite opens it: its -wal and -shm files take its mode.
        super::layout::open_private_file(path).with_context(|| format!("creating {}", path.display()))?;
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA).context("creating schema")?;
        conn.execute_batch(super::sqlite_apis::SCHEMA).context("creating schema")?;
        conn.execute_batch(super::sqlite_access::SCHEMA).context("creating schema")?;
        migrate(&conn).context("migrating schema")?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// Idempotent migrations of released tables: columns added after a release.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has = |table: &str, column: &str| -> rusqlite::Result<bool> {
        let mut stmt = conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?;
        stmt.exists([column])
    };
    if !has("functions", "reserved_concurrency")? {
        conn.execute_batch("ALTER TABLE functions ADD COLUMN reserved_concurrency INTEGER")?;
    }
    // The guest ABI of the compiled code; every artifact before it was a stdio module.
    if !has("artifacts", "kind")? {
        conn.execute_batch("ALTER TABLE artifacts ADD COLUMN kind TEXT NOT NULL DEFAULT 'stdio'")?;
    }
    Ok(())
}

fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.into()))
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn parse_with<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> rusqlite::Result<T> {
    r.map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn function_not_found(name: &FunctionName) -> StoreError {
    StoreError::NotFound(format!("Function not found: {}", function_arn(name, None)))
}

const FUNCTION_COLS: &str =
    "f.name, f.code_hash, b.size, f.config, f.revision_id, f.created_at, f.updated_at, f.reserved_concurrency";
const FUNCTION_FROM: &str = "functions f LEFT JOIN blobs b ON b.code_hash = f.code_hash";

fn function_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FunctionRecord> {
    let code_hash: Option<String> = r.get(1)?;
    Ok(FunctionRecord {
        name: parse_with(FunctionName::parse(&r.get::<_, String>(0)?))?,
        code_hash: code_hash.map(|h| parse_with(CodeHash::parse(&h))).transpose()?,
        code_size: r.get::<_, Option<i64>>(2)?.map(|s| s as u64),
        config: parse_json(&r.get::<_, String>(3)?)?,
        reserved_concurrency: r.get(7)?,
        revision_id: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const VERSION_COLS: &str = "function, number, code_hash, config, version_hash, description, created_at";

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        function: parse_with(FunctionName::parse(&r.get::<_, String>(0)?))?,
        version: r.get(1)?,
        code_hash: parse_with(CodeHash::parse(&r.get::<_, String>(2)?))?,
        config: parse_json(&r.get::<_, String>(3)?)?,
        version_hash: r.get(4)?,
        description: r.get(5)?,
        created_at: r.get(6)?,
    })
}

const ALIAS_COLS: &str =
    "function, name, version, routing_version, routing_weight, description, revision_id, created_at, updated_at";

fn alias_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AliasRecord> {
    let routing = match (r.get::<_, Option<u32>>(3)?, r.get::<_, Option<f64>>(4)?) {
        (Some(version), Some(weight)) => Some(AliasRouting { version, weight }),
        _ => None,
    };
    Ok(AliasRecord {
        function: parse_with(FunctionName::parse(&r.get::<_, String>(0)?))?,
        name: parse_with(AliasName::parse(&r.get::<_, String>(1)?))?,
        version: parse_with(VersionId::parse(&r.get::<_, String>(2)?))?,
        routing,
        description: r.get(5)?,
        revision_id: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

fn get_function_tx(tx: &Transaction<'_>, name: &FunctionName) -> StoreResult<FunctionRecord> {
    tx.query_row(
        &format!("SELECT {FUNCTION_COLS} FROM {FUNCTION_FROM} WHERE f.name = ?1"),
        [name.as_str()],
        function_row,
    )
    .optional()?
    .ok_or_else(|| function_not_found(name))
}

pub(super) fn function_exists(tx: &Transaction<'_>, name: &FunctionName) -> StoreResult<()> {
    get_function_tx(tx, name).map(drop)
}

fn version_exists(tx: &Transaction<'_>, name: &FunctionName, n: u32) -> StoreResult<bool> {
    Ok(tx
        .query_row("SELECT 1 FROM versions WHERE function = ?1 AND number = ?2", params![name.as_str(), n], |_| Ok(()))
        .optional()?
        .is_some())
}

fn newest_version(tx: &Transaction<'_>, name: &FunctionName) -> StoreResult<Option<VersionRecord>> {
    Ok(tx
        .query_row(
            &format!("SELECT {VERSION_COLS} FROM versions WHERE function = ?1 ORDER BY number DESC LIMIT 1"),
            [name.as_str()],
            version_row,
        )
        .optional()?)
}

impl Store for SqliteStore {
    fn create_function(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<FunctionRecord> {
        self.tx(|tx| {
            let exists = tx.query_row("SELECT 1 FROM functions WHERE name = ?1", [name.as_str()], |_| Ok(())).optional()?;
            if exists.is_some() {
                return Err(StoreError::Conflict(format!("Function already exist: {}", name)));
            }
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO functions (name, code_hash, config, revision_id, created_at, updated_at) VALUES (?1, NULL, ?2, ?3, ?4, ?4)",
                params![name.as_str(), json(config)?, new_revision(), now],
            )?;
            get_function_tx(tx, name)
        })
    }

    fn get_function(&self, name: &FunctionName) -> StoreResult<FunctionRecord> {
        self.tx(|tx| get_function_tx(tx, name))
    }

    fn list_functions(&self) -> StoreResult<Vec<FunctionRecord>> {
        self.tx(|tx| {
            let mut stmt = tx.prepare(&format!("SELECT {FUNCTION_COLS} FROM {FUNCTION_FROM} ORDER BY f.name"))?;
            let rows = stmt.query_map([], function_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn delete_function(&self, name: &FunctionName) -> StoreResult<()> {
        self.tx(|tx| {
            let n = tx.execute("DELETE FROM functions WHERE name = ?1", [name.as_str()])?;
            if n == 0 {
                return Err(function_not_found(name));
            }
            Ok(())
        })
    }

    fn set_code(&self, name: &FunctionName, artifact: &ArtifactRecord, size: u64) -> StoreResult<FunctionRecord> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            let hash = artifact.code_hash.to_hex();
            tx.execute(
                "INSERT OR IGNORE INTO blobs (code_hash, size, created_at) VALUES (?1, ?2, ?3)",
                params![hash, size as i64, now_rfc3339()],
            )?;
            insert_artifact(tx, artifact)?;
            tx.execute(
                "UPDATE functions SET code_hash = ?2, revision_id = ?3, updated_at = ?4 WHERE name = ?1",
                params![name.as_str(), hash, new_revision(), now_rfc3339()],
            )?;
            get_function_tx(tx, name)
        })
    }

    fn update_config(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<FunctionRecord> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            tx.execute(
                "UPDATE functions SET config = ?2, revision_id = ?3, updated_at = ?4 WHERE name = ?1",
                params![name.as_str(), json(config)?, new_revision(), now_rfc3339()],
            )?;
            get_function_tx(tx, name)
        })
    }

    fn publish_version(&self, name: &FunctionName, input: &PublishInput) -> StoreResult<(VersionRecord, bool)> {
        self.tx(|tx| {
            let f = get_function_tx(tx, name)?;
            let Some(code_hash) = f.code_hash else {
                return Err(StoreError::Invalid(format!(
                    "Function {name} has no code yet: upload it with PUT /v1/functions/{name}/code before publishing"
                )));
            };
            if let Some(expected) = &input.expected_revision {
                if *expected != f.revision_id {
                    return Err(StoreError::PreconditionFailed(REVISION_MISMATCH.into()));
                }
            }
            if let Some(expected) = &input.expected_code_hash {
                if *expected != code_hash {
                    return Err(StoreError::Conflict(format!(
                        "CodeHash ({expected}) is different from current CodeHash in $LATEST ({code_hash}). \
                         Please try again with the CodeHash in $LATEST."
                    )));
                }
            }
            let hash = version_hash(&code_hash, &f.config);
            if let Some(newest) = newest_version(tx, name)? {
                if newest.version_hash == hash {
                    return Ok((newest, false));
                }
            }
            let number: u32 =
                tx.query_row("SELECT next_version FROM functions WHERE name = ?1", [name.as_str()], |r| r.get(0))?;
            tx.execute(
                &format!("INSERT INTO versions ({VERSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    name.as_str(),
                    number,
                    code_hash.to_hex(),
                    json(&f.config)?,
                    hash,
                    input.description,
                    now_rfc3339()
                ],
            )?;
            tx.execute("UPDATE functions SET next_version = ?2 WHERE name = ?1", params![name.as_str(), number + 1])?;
            let v = tx.query_row(
                &format!("SELECT {VERSION_COLS} FROM versions WHERE function = ?1 AND number = ?2"),
                params![name.as_str(), number],
                version_row,
            )?;
            Ok((v, true))
        })
    }

    fn list_versions(&self, name: &FunctionName) -> StoreResult<Vec<VersionRecord>> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            let mut stmt =
                tx.prepare(&format!("SELECT {VERSION_COLS} FROM versions WHERE function = ?1 ORDER BY number"))?;
            let rows = stmt.query_map([name.as_str()], version_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn get_version(&self, name: &FunctionName, version: u32) -> StoreResult<VersionRecord> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            tx.query_row(
                &format!("SELECT {VERSION_COLS} FROM versions WHERE function = ?1 AND number = ?2"),
                params![name.as_str(), version],
                version_row,
            )
            .optional()?
            .ok_or_else(|| {
                StoreError::NotFound(format!("Function not found: {}", function_arn(name, Some(&version.to_string()))))
            })
        })
    }

    fn delete_version(&self, name: &FunctionName, version: u32) -> StoreResult<()> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            if !version_exists(tx, name, version)? {
                return Err(StoreError::NotFound(format!(
                    "Function not found: {}",
                    function_arn(name, Some(&version.to_string()))
                )));
            }
            let mut stmt = tx.prepare(
                "SELECT name FROM aliases WHERE function = ?1 AND (version = ?2 OR routing_version = ?3) ORDER BY name",
            )?;
            let users = stmt
                .query_map(params![name.as_str(), version.to_string(), version], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            if !users.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "Unable to delete version because the following aliases reference it: [{}]",
                    users.join(", ")
                )));
            }
            tx.execute("DELETE FROM versions WHERE function = ?1 AND number = ?2", params![name.as_str(), version])?;
            super::sqlite_apis::drop_policy(tx, name, &version.to_string())
        })
    }

    fn put_alias(
        &self,
        name: &FunctionName,
        alias: &AliasName,
        input: &AliasInput,
    ) -> StoreResult<(AliasRecord, bool)> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            let existing = tx
                .query_row(
                    &format!("SELECT {ALIAS_COLS} FROM aliases WHERE function = ?1 AND name = ?2"),
                    params![name.as_str(), alias.as_str()],
                    alias_row,
                )
                .optional()?;
            if let Some(expected) = &input.expected_revision {
                if existing.as_ref().map(|a| &a.revision_id) != Some(expected) {
                    return Err(StoreError::PreconditionFailed(REVISION_MISMATCH.into()));
                }
            }
            let target = &input.target;
            let mut needed: Vec<u32> = target.routing.iter().map(|r| r.version).collect();
            if let VersionId::Number(n) = target.version {
                needed.insert(0, n);
            }
            for n in needed {
                if !version_exists(tx, name, n)? {
                    return Err(StoreError::NotFound(format!(
                        "Function not found: {}",
                        function_arn(name, Some(&n.to_string()))
                    )));
                }
            }
            let now = now_rfc3339();
            let description = input
                .description
                .clone()
                .or_else(|| existing.as_ref().map(|a| a.description.clone()))
                .unwrap_or_default();
            let created_at = existing.as_ref().map(|a| a.created_at.clone()).unwrap_or_else(|| now.clone());
            tx.execute(
                &format!("INSERT OR REPLACE INTO aliases ({ALIAS_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    name.as_str(),
                    alias.as_str(),
                    target.version.to_string(),
                    target.routing.map(|r| r.version),
                    target.routing.map(|r| r.weight),
                    description,
                    new_revision(),
                    created_at,
                    now
                ],
            )?;
            let rec = tx.query_row(
                &format!("SELECT {ALIAS_COLS} FROM aliases WHERE function = ?1 AND name = ?2"),
                params![name.as_str(), alias.as_str()],
                alias_row,
            )?;
            Ok((rec, existing.is_none()))
        })
    }

    fn get_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<AliasRecord> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            tx.query_row(
                &format!("SELECT {ALIAS_COLS} FROM aliases WHERE function = ?1 AND name = ?2"),
                params![name.as_str(), alias.as_str()],
                alias_row,
            )
            .optional()?
            .ok_or_else(|| alias_not_found(name, alias))
        })
    }

    fn list_aliases(&self, name: &FunctionName) -> StoreResult<Vec<AliasRecord>> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            let mut stmt =
                tx.prepare(&format!("SELECT {ALIAS_COLS} FROM aliases WHERE function = ?1 ORDER BY name"))?;
            let rows = stmt.query_map([name.as_str()], alias_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn delete_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<()> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            let n = tx.execute(
                "DELETE FROM aliases WHERE function = ?1 AND name = ?2",
                params![name.as_str(), alias.as_str()],
            )?;
            if n == 0 {
                return Err(alias_not_found(name, alias));
            }
            super::sqlite_apis::drop_policy(tx, name, alias)
        })
    }

    fn add_artifact(&self, artifact: &ArtifactRecord) -> StoreResult<()> {
        self.tx(|tx| insert_artifact(tx, artifact))
    }

    fn create_api(&self, name: &str, description: &str) -> StoreResult<ApiRecord> {
        self.tx(|tx| apis::create_api(tx, name, description))
    }
    fn list_apis(&self) -> StoreResult<Vec<ApiRecord>> {
        self.tx(apis::list_apis)
    }
    fn get_api(&self, id: &ApiId) -> StoreResult<ApiRecord> {
        self.tx(|tx| apis::get_api(tx, id))
    }
    fn delete_api(&self, id: &ApiId) -> StoreResult<()> {
        self.tx(|tx| apis::delete_api(tx, id))
    }
    fn put_route(
        &self,
        api: &ApiId,
        method: Method,
        path: &RoutePath,
        integration: &Integration,
    ) -> StoreResult<(RouteRecord, bool)> {
        self.tx(|tx| apis::put_route(tx, api, method, path, integration))
    }
    fn list_routes(&self, api: &ApiId) -> StoreResult<Vec<RouteRecord>> {
        self.tx(|tx| apis::list_routes(tx, api))
    }
    fn get_route(&self, api: &ApiId, id: &str) -> StoreResult<RouteRecord> {
        self.tx(|tx| apis::get_route(tx, api, id))
    }
    fn delete_route(&self, api: &ApiId, id: &str) -> StoreResult<()> {
        self.tx(|tx| apis::delete_route(tx, api, id))
    }
    fn create_deployment(
        &self,
        api: &ApiId,
        description: &str,
        stage: Option<&StageName>,
        canary: Option<&CanaryPatch>,
    ) -> StoreResult<(DeploymentRecord, Option<StageRecord>)> {
        self.tx(|tx| apis::create_deployment(tx, api, description, stage, canary))
    }
    fn list_deployments(&self, api: &ApiId) -> StoreResult<Vec<DeploymentRecord>> {
        self.tx(|tx| apis::list_deployments(tx, api))
    }
    fn get_deployment(&self, api: &ApiId, id: &str) -> StoreResult<DeploymentRecord> {
        self.tx(|tx| apis::get_deployment(tx, api, id))
    }
    fn delete_deployment(&self, api: &ApiId, id: &str) -> StoreResult<()> {
        self.tx(|tx| apis::delete_deployment(tx, api, id))
    }
    fn put_stage(
        &self,
        api: &ApiId,
        name: &StageName,
        deployment_id: &str,
        variables: &BTreeMap<String, String>,
        description: &str,
        secret_environment: Option<&str>,
    ) -> StoreResult<(StageRecord, bool)> {
        self.tx(|tx| apis::put_stage(tx, api, name, deployment_id, variables, description, secret_environment))
    }
    fn patch_stage(&self, api: &ApiId, name: &StageName, patch: &StagePatch) -> StoreResult<StageRecord> {
        self.tx(|tx| apis::patch_stage(tx, api, name, patch))
    }
    fn list_stages(&self, api: &ApiId) -> StoreResult<Vec<StageRecord>> {
        self.tx(|tx| apis::list_stages(tx, api))
    }
    fn get_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<StageRecord> {
        self.tx(|tx| apis::get_stage(tx, api, name))
    }
    fn delete_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<()> {
        self.tx(|tx| apis::delete_stage(tx, api, name))
    }
    fn add_permission(&self, p: &PermissionRecord) -> StoreResult<PermissionRecord> {
        self.tx(|tx| apis::add_permission(tx, p))
    }
    fn list_permissions(&self, function: &FunctionName, qualifier: Option<&str>) -> StoreResult<Vec<PermissionRecord>> {
        self.tx(|tx| apis::list_permissions(tx, function, qualifier))
    }
    fn remove_permission(
        &self,
        function: &FunctionName,
        qualifier: Option<&str>,
        statement_id: &str,
    ) -> StoreResult<()> {
        self.tx(|tx| apis::remove_permission(tx, function, qualifier, statement_id))
    }
    fn load_gateway(&self) -> StoreResult<GatewayState> {
        self.tx(apis::load_gateway)
    }

    fn load_functions(&self) -> StoreResult<Vec<FunctionState>> {
        self.tx(|tx| {
            let mut stmt = tx.prepare(&format!("SELECT {FUNCTION_COLS} FROM {FUNCTION_FROM} ORDER BY f.name"))?;
            let functions = stmt.query_map([], function_row)?.collect::<Result<Vec<_>, _>>()?;
            let mut stmt = tx.prepare(&format!("SELECT {VERSION_COLS} FROM versions ORDER BY function, number"))?;
            let versions = stmt.query_map([], version_row)?.collect::<Result<Vec<_>, _>>()?;
            let mut stmt = tx.prepare(&format!("SELECT {ALIAS_COLS} FROM aliases ORDER BY function, name"))?;
            let aliases = stmt.query_map([], alias_row)?.collect::<Result<Vec<_>, _>>()?;
            let mut by_name: std::collections::BTreeMap<FunctionName, FunctionState> = functions
                .into_iter()
                .map(|f| (f.name.clone(), FunctionState { function: f, versions: vec![], aliases: vec![] }))
                .collect();
            for v in versions {
                if let Some(s) = by_name.get_mut(&v.function) {
                    s.versions.push(v);
                }
            }
            for a in aliases {
                if let Some(s) = by_name.get_mut(&a.function) {
                    s.aliases.push(a);
                }
            }
            Ok(by_name.into_values().collect())
        })
    }

    fn artifacts(&self, fingerprint: &str) -> StoreResult<Vec<ArtifactRecord>> {
        self.tx(|tx| {
            let mut stmt = tx.prepare(
                "SELECT code_hash, fingerprint, artifact_hash, size, kind FROM artifacts WHERE fingerprint = ?1",
            )?;
            let rows = stmt
                .query_map([fingerprint], |r| {
                    Ok(ArtifactRecord {
                        code_hash: parse_with(CodeHash::parse(&r.get::<_, String>(0)?))?,
                        fingerprint: r.get(1)?,
                        artifact_hash: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                        kind: parse_with(GuestKind::parse(&r.get::<_, String>(4)?))?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn blobs(&self) -> StoreResult<Vec<(CodeHash, u64)>> {
        self.tx(|tx| {
            let mut stmt = tx.prepare("SELECT code_hash, size FROM blobs ORDER BY code_hash")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((parse_with(CodeHash::parse(&r.get::<_, String>(0)?))?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn create_key(&self, key: &KeyRecord) -> StoreResult<()> {
        self.tx(|tx| super::sqlite_access::create_key(tx, key))
    }
    fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        self.tx(super::sqlite_access::list_keys)
    }
    fn key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
        self.tx(|tx| super::sqlite_access::key_by_hash(tx, hash))
    }
    fn delete_key(&self, name: &str) -> StoreResult<()> {
        self.tx(|tx| super::sqlite_access::delete_key(tx, name))
    }
    fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.tx(|tx| super::sqlite_access::append_audit(tx, entry))
    }
    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.tx(|tx| super::sqlite_access::list_audit(tx, query))
    }
    fn put_secret(&self, secret: &SecretRow) -> StoreResult<bool> {
        self.tx(|tx| super::sqlite_access::put_secret(tx, secret))
    }
    fn list_secrets(&self, environment: &str) -> StoreResult<Vec<SecretMeta>> {
        self.tx(|tx| super::sqlite_access::list_secrets(tx, environment))
    }
    fn delete_secret(&self, environment: &str, name: &str) -> StoreResult<()> {
        self.tx(|tx| super::sqlite_access::delete_secret(tx, environment, name))
    }
    fn load_secrets(&self) -> StoreResult<Vec<SecretRow>> {
        self.tx(super::sqlite_access::load_secrets)
    }
    fn promote_canary(&self, api: &ApiId, name: &StageName) -> StoreResult<StageRecord> {
        self.tx(|tx| apis::promote_canary(tx, api, name))
    }
    fn remove_canary(&self, api: &ApiId, name: &StageName) -> StoreResult<StageRecord> {
        self.tx(|tx| apis::remove_canary(tx, api, name))
    }
    fn set_invalidation_key(&self, api: &ApiId, name: &StageName, key_hash: &str) -> StoreResult<()> {
        self.tx(|tx| apis::set_invalidation_key(tx, api, name, key_hash))
    }
    fn set_reserved_concurrency(&self, name: &FunctionName, reserved: Option<u32>) -> StoreResult<FunctionRecord> {
        self.tx(|tx| {
            get_function_tx(tx, name)?;
            tx.execute(
                "UPDATE functions SET reserved_concurrency = ?2 WHERE name = ?1",
                params![name.as_str(), reserved],
            )?;
            get_function_tx(tx, name)
        })
    }
}

fn insert_artifact(tx: &Transaction<'_>, a: &ArtifactRecord) -> StoreResult<()> {
    tx.execute(
        "INSERT OR REPLACE INTO artifacts (code_hash, fingerprint, artifact_hash, size, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![a.code_hash.to_hex(), a.fingerprint, a.artifact_hash, a.size as i64, a.kind.as_str()],
    )?;
    Ok(())
}

fn alias_not_found(name: &FunctionName, alias: &AliasName) -> StoreError {
    StoreError::NotFound(format!("Alias not found: {}", function_arn(name, Some(alias))))
}

const REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. \
     Call the GetFunction/GetAlias API to retrieve the latest Revision Id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_adds_reserved_concurrency_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            // A database from before the column existed.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch("ALTER TABLE functions DROP COLUMN reserved_concurrency").ok();
            conn.execute(
                "INSERT INTO functions (name, config, revision_id, created_at, updated_at) VALUES ('f', ?1, 'r', 'now', 'now')",
                [serde_json::to_string(&FunctionConfig::default()).unwrap()],
            )
            .unwrap();
        }
        let f = FunctionName::parse("f").unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_function(&f).unwrap().reserved_concurrency, None);
        assert_eq!(store.set_reserved_concurrency(&f, Some(4)).unwrap().reserved_concurrency, Some(4));
        drop(store);
        // Opening again doesn't migrate twice, and the value stays.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_function(&f).unwrap().reserved_concurrency, Some(4));
    }

    #[test]
    fn migration_gives_existing_artifacts_the_stdio_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let hash = CodeHash::of(b"m");
        {
            // A database from before the column existed, with one artifact row.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute("INSERT INTO blobs (code_hash, size, created_at) VALUES (?1, 1, 'now')", [hash.to_hex()])
                .unwrap();
            conn.execute(
                "INSERT INTO artifacts (code_hash, fingerprint, artifact_hash, size) VALUES (?1, 'fp', 'a', 1)",
                [hash.to_hex()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let arts = store.artifacts("fp").unwrap();
        assert_eq!(arts.len(), 1);
        assert_eq!(arts[0].kind, GuestKind::StdioProxy);
        drop(store);
        // Opening again doesn't migrate twice.
        assert_eq!(SqliteStore::open(&path).unwrap().artifacts("fp").unwrap()[0].kind, GuestKind::StdioProxy);
    }
}
