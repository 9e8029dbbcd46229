//! [`FunctionStore`] in SQL (both engines): functions, versions, aliases.

use super::{args, upsert, Row, SqlTx};
use super::{conv, json, parse_json};
use crate::model::{AliasName, AliasRouting, CodeHash, FunctionConfig, FunctionName, VersionId};
use crate::store::{
    new_revision, now_rfc3339, AliasRecord, FunctionRecord, FunctionState, FunctionStore, NewVersion, PolicyStore,
    StoreResult, VersionRecord,
};

const FUNCTION_COLS: &str =
    "f.name, f.code_hash, b.size, f.config, f.revision_id, f.created_at, f.updated_at, f.reserved_concurrency, \
     f.package_sha256";
const FUNCTION_FROM: &str = "functions f LEFT JOIN blobs b ON b.code_hash = f.code_hash";

fn function_row(r: &Row) -> StoreResult<FunctionRecord> {
    let code_hash: Option<String> = r.get(1)?;
    Ok(FunctionRecord {
        name: conv(FunctionName::parse(&r.get::<String>(0)?))?,
        code_hash: code_hash.map(|h| conv(CodeHash::parse(&h))).transpose()?,
        code_size: r.get::<Option<i64>>(2)?.map(|s| s as u64),
        package_sha256: r.get(8)?,
        config: parse_json(&r.get::<String>(3)?)?,
        reserved_concurrency: r.get(7)?,
        revision_id: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const VERSION_COLS: &str = "function, number, code_hash, config, version_hash, description, created_at, package_sha256";

fn version_row(r: &Row) -> StoreResult<VersionRecord> {
    Ok(VersionRecord {
        function: conv(FunctionName::parse(&r.get::<String>(0)?))?,
        version: r.get(1)?,
        code_hash: conv(CodeHash::parse(&r.get::<String>(2)?))?,
        package_sha256: r.get(7)?,
        config: parse_json(&r.get::<String>(3)?)?,
        version_hash: r.get(4)?,
        description: r.get(5)?,
        created_at: r.get(6)?,
    })
}

const ALIAS_COLS: &str =
    "function, name, version, routing_version, routing_weight, description, revision_id, created_at, updated_at";

fn alias_row(r: &Row) -> StoreResult<AliasRecord> {
    let routing = match (r.get::<Option<u32>>(3)?, r.get::<Option<f64>>(4)?) {
        (Some(version), Some(weight)) => Some(AliasRouting { version, weight }),
        _ => None,
    };
    Ok(AliasRecord {
        function: conv(FunctionName::parse(&r.get::<String>(0)?))?,
        name: conv(AliasName::parse(&r.get::<String>(1)?))?,
        version: conv(VersionId::parse(&r.get::<String>(2)?))?,
        routing,
        description: r.get(5)?,
        revision_id: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

impl FunctionStore for SqlTx<'_> {
    fn insert_function(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<FunctionRecord> {
        let now = now_rfc3339();
        self.execute(
            "INSERT INTO functions (name, code_hash, config, revision_id, created_at, updated_at) VALUES (?1, NULL, ?2, ?3, ?4, ?4)",
            args![name.as_str(), json(config)?, new_revision(), now],
        )?;
        self.find_function(name)?.ok_or_else(|| crate::store::StoreError::internal("inserted function vanished"))
    }

    fn find_function(&self, name: &FunctionName) -> StoreResult<Option<FunctionRecord>> {
        self.query_opt(
            &format!("SELECT {FUNCTION_COLS} FROM {FUNCTION_FROM} WHERE f.name = ?1"),
            args![name.as_str()],
            function_row,
        )
    }

    fn list_functions(&self) -> StoreResult<Vec<FunctionRecord>> {
        let rows =
            self.query_map(&format!("SELECT {FUNCTION_COLS} FROM {FUNCTION_FROM} ORDER BY f.name"), &[], function_row)?;
        Ok(rows)
    }

    fn delete_function(&self, name: &FunctionName) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM functions WHERE name = ?1", args![name.as_str()])? > 0)
    }

    fn set_code(&self, name: &FunctionName, code: &CodeHash, package_sha256: &str) -> StoreResult<()> {
        self.execute(
            "UPDATE functions SET code_hash = ?2, revision_id = ?3, updated_at = ?4, package_sha256 = ?5 WHERE name = ?1",
            args![name.as_str(), code.to_hex(), new_revision(), now_rfc3339(), package_sha256],
        )?;
        Ok(())
    }

    fn set_config(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<()> {
        self.execute(
            "UPDATE functions SET config = ?2, revision_id = ?3, updated_at = ?4 WHERE name = ?1",
            args![name.as_str(), json(config)?, new_revision(), now_rfc3339()],
        )?;
        Ok(())
    }

    fn set_reserved_concurrency(&self, name: &FunctionName, reserved: Option<u32>) -> StoreResult<()> {
        self.execute("UPDATE functions SET reserved_concurrency = ?2 WHERE name = ?1", args![name.as_str(), reserved])?;
        Ok(())
    }

    fn insert_version(&self, name: &FunctionName, v: &NewVersion<'_>) -> StoreResult<VersionRecord> {
        let number: u32 =
            self.query_one("SELECT next_version FROM functions WHERE name = ?1", args![name.as_str()], |r| r.get(0))?;
        self.execute(
            &format!("INSERT INTO versions ({VERSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            args![
                name.as_str(),
                number,
                v.code_hash.to_hex(),
                json(v.config)?,
                v.version_hash,
                v.description,
                now_rfc3339(),
                v.package_sha256
            ],
        )?;
        self.execute("UPDATE functions SET next_version = ?2 WHERE name = ?1", args![name.as_str(), number + 1])?;
        self.find_version(name, number)?.ok_or_else(|| crate::store::StoreError::internal("inserted version vanished"))
    }

    fn newest_version(&self, name: &FunctionName) -> StoreResult<Option<VersionRecord>> {
        self.query_opt(
            &format!("SELECT {VERSION_COLS} FROM versions WHERE function = ?1 ORDER BY number DESC LIMIT 1"),
            args![name.as_str()],
            version_row,
        )
    }

    fn find_version(&self, name: &FunctionName, version: u32) -> StoreResult<Option<VersionRecord>> {
        self.query_opt(
            &format!("SELECT {VERSION_COLS} FROM versions WHERE function = ?1 AND number = ?2"),
            args![name.as_str(), version],
            version_row,
        )
    }

    fn list_versions(&self, name: &FunctionName) -> StoreResult<Vec<VersionRecord>> {
        let rows = self.query_map(
            &format!("SELECT {VERSION_COLS} FROM versions WHERE function = ?1 ORDER BY number"),
            args![name.as_str()],
            version_row,
        )?;
        Ok(rows)
    }

    fn delete_version(&self, name: &FunctionName, version: u32) -> StoreResult<bool> {
        let n =
            self.execute("DELETE FROM versions WHERE function = ?1 AND number = ?2", args![name.as_str(), version])?;
        self.drop_policy(name, &version.to_string())?;
        Ok(n > 0)
    }

    fn write_alias(&self, a: &AliasRecord) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO aliases ({ALIAS_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) {}",
                upsert(&["function", "name"], ALIAS_COLS)
            ),
            args![
                a.function.as_str(),
                a.name.as_str(),
                a.version.to_string(),
                a.routing.map(|r| r.version),
                a.routing.map(|r| r.weight),
                a.description,
                a.revision_id,
                a.created_at,
                a.updated_at
            ],
        )?;
        Ok(())
    }

    fn find_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<Option<AliasRecord>> {
        self.query_opt(
            &format!("SELECT {ALIAS_COLS} FROM aliases WHERE function = ?1 AND name = ?2"),
            args![name.as_str(), alias.as_str()],
            alias_row,
        )
    }

    fn list_aliases(&self, name: &FunctionName) -> StoreResult<Vec<AliasRecord>> {
        let rows = self.query_map(
            &format!("SELECT {ALIAS_COLS} FROM aliases WHERE function = ?1 ORDER BY name"),
            args![name.as_str()],
            alias_row,
        )?;
        Ok(rows)
    }

    fn aliases_using(&self, name: &FunctionName, version: u32) -> StoreResult<Vec<String>> {
        let users = self.query_map(
            "SELECT name FROM aliases WHERE function = ?1 AND (version = ?2 OR routing_version = ?3) ORDER BY name",
            args![name.as_str(), version.to_string(), version],
            |r| r.get::<String>(0),
        )?;
        Ok(users)
    }

    fn delete_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<bool> {
        let n = self
            .execute("DELETE FROM aliases WHERE function = ?1 AND name = ?2", args![name.as_str(), alias.as_str()])?;
        self.drop_policy(name, alias)?;
        Ok(n > 0)
    }

    fn load_function(&self, name: &FunctionName) -> StoreResult<Option<FunctionState>> {
        let Some(function) = self.find_function(name)? else { return Ok(None) };
        Ok(Some(FunctionState { function, versions: self.list_versions(name)?, aliases: self.list_aliases(name)? }))
    }

    fn load_functions(&self) -> StoreResult<Vec<FunctionState>> {
        let functions = self.list_functions()?;
        let versions = self.query_map(
            &format!("SELECT {VERSION_COLS} FROM versions ORDER BY function, number"),
            &[],
            version_row,
        )?;
        let aliases =
            self.query_map(&format!("SELECT {ALIAS_COLS} FROM aliases ORDER BY function, name"), &[], alias_row)?;
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
    }
}
