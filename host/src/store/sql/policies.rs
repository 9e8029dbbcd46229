//! [`PolicyStore`] in SQL (both engines): functions' resource-policy statements.

use super::conv;
use super::{args, Row, SqlTx};
use crate::model::FunctionName;
use crate::store::{PermissionRecord, PolicyStore, StoreResult};

const PERMISSION_COLS: &str = "function, qualifier, statement_id, principal, source, created_at";

fn permission_row(r: &Row) -> StoreResult<PermissionRecord> {
    let q: String = r.get(1)?;
    Ok(PermissionRecord {
        function: conv(FunctionName::parse(&r.get::<String>(0)?))?,
        qualifier: (!q.is_empty()).then_some(q),
        statement_id: r.get(2)?,
        principal: r.get(3)?,
        source: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Every statement of every function (for the gateway's snapshot).
pub(super) fn all(tx: &SqlTx<'_>) -> StoreResult<Vec<PermissionRecord>> {
    let rows = tx.query_map(&format!("SELECT {PERMISSION_COLS} FROM permissions"), &[], permission_row)?;
    Ok(rows)
}

// `qualifier` '' in the table is the unqualified function (which covers $LATEST).
impl PolicyStore for SqlTx<'_> {
    fn list_permissions(&self, function: &FunctionName, qualifier: Option<&str>) -> StoreResult<Vec<PermissionRecord>> {
        let rows = self.query_map(&format!(
            "SELECT {PERMISSION_COLS} FROM permissions WHERE function = ?1 AND qualifier = ?2 ORDER BY created_at, statement_id"
        ), args![function.as_str(), qualifier.unwrap_or("")], permission_row)?;
        Ok(rows)
    }

    fn insert_permission(&self, p: &PermissionRecord) -> StoreResult<()> {
        self.execute(
            &format!("INSERT INTO permissions ({PERMISSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            args![
                p.function.as_str(),
                p.qualifier.as_deref().unwrap_or(""),
                p.statement_id,
                p.principal,
                p.source,
                p.created_at
            ],
        )?;
        Ok(())
    }

    fn delete_permission(&self, function: &FunctionName, qualifier: Option<&str>, sid: &str) -> StoreResult<bool> {
        Ok(self.execute(
            "DELETE FROM permissions WHERE function = ?1 AND qualifier = ?2 AND statement_id = ?3",
            args![function.as_str(), qualifier.unwrap_or(""), sid],
        )? > 0)
    }

    fn drop_policy(&self, function: &FunctionName, qualifier: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM permissions WHERE function = ?1 AND qualifier = ?2",
            args![function.as_str(), qualifier],
        )?;
        Ok(())
    }
}
