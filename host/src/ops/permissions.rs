//! A function's resource policy: which APIs (and stages, methods, paths) may invoke it.
//! Policies are per qualifier, as in Lambda: the unqualified function (covering
//! `$LATEST`), each version, each alias.

use super::functions::function;
use super::{Error, Kind, Platform, Result};
use crate::model::{FunctionName, Qualifier, VersionId};
use crate::store::{PermissionRecord, Tx};
use std::sync::Arc;

/// Lambda's resource-policy size limit.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

pub struct AddPermission {
    pub statement_id: String,
    /// `api:API_ID` or `*`.
    pub principal: String,
    /// `API_ID/STAGE/METHOD/PATH`, `*` as a wildcard.
    pub source: String,
    /// `None`: the unqualified function.
    pub qualifier: Option<String>,
}

/// A statement's size toward the policy limit: the length of its JSON (the fields the API
/// shows for it).
fn statement_bytes(p: &PermissionRecord) -> usize {
    serde_json::json!({
        "function": p.function, "qualifier": p.qualifier, "statement_id": p.statement_id,
        "principal": p.principal, "source": p.source, "created_at": p.created_at,
    })
    .to_string()
    .len()
}

/// `None` for the unqualified policy; `$LATEST` can't have one of its own.
pub fn policy_qualifier(q: Option<&str>) -> Result<Option<String>> {
    match Qualifier::parse(q)? {
        Qualifier::Version(VersionId::Latest) if q.is_some_and(|q| !q.is_empty()) => {
            Err(Error::Invalid("We currently do not support adding policies for $LATEST.".into()))
        }
        Qualifier::Version(VersionId::Latest) => Ok(None),
        other => Ok(Some(other.to_string())),
    }
}

/// The function exists, and so does the qualifier's version or alias.
fn check_qualifier(tx: &dyn Tx, name: &FunctionName, qualifier: Option<&str>) -> Result<()> {
    function(tx, name)?;
    let Some(q) = qualifier else { return Ok(()) };
    let exists = match Qualifier::parse(Some(q))? {
        Qualifier::Version(VersionId::Number(n)) => tx.find_version(name, n)?.is_some(),
        Qualifier::Alias(a) => tx.find_alias(name, &a)?.is_some(),
        Qualifier::Version(VersionId::Latest) => true,
    };
    if !exists {
        return Err(Error::function_not_found(name, Some(q)));
    }
    Ok(())
}

pub async fn add(p: &Arc<Platform>, name: FunctionName, req: AddPermission) -> Result<PermissionRecord> {
    p.commit(move |tx| add_in(tx, name, req)).await
}

/// Statement ids: `[a-zA-Z0-9-_]{1,100}` (Lambda's).
pub fn validate_statement_id(sid: &str) -> Result<()> {
    if sid.is_empty() || sid.len() > 100 || !sid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::Invalid(format!("Invalid statement_id '{sid}': it must match [a-zA-Z0-9-_]{{1,100}}")));
    }
    Ok(())
}

/// A statement's source: `API_ID/STAGE/METHOD/PATH`, `*` a wildcard, at most 1,024 bytes.
pub fn validate_source(source: &str) -> Result<()> {
    let parts: Vec<&str> = source.splitn(4, '/').collect();
    if parts.len() != 4 || parts.iter().take(3).any(|p| p.is_empty()) || source.len() > 1024 {
        return Err(Error::Invalid(format!(
            "Invalid source '{source}': expected API_ID/STAGE/METHOD/PATH, with * as a wildcard (e.g. abc123defg/*/GET/orders/*)"
        )));
    }
    Ok(())
}

/// [`add`] inside a caller's transaction (a batch of changes, one commit).
pub fn add_in(tx: &dyn Tx, name: FunctionName, req: AddPermission) -> Result<PermissionRecord> {
    validate_statement_id(&req.statement_id)?;
    let principal_ok = req.principal == "*"
        || req.principal.strip_prefix("api:").is_some_and(|id| crate::model::api::ApiId::parse(id).is_ok());
    if !principal_ok {
        return Err(Error::Invalid(format!("Invalid principal '{}': expected \"api:API_ID\" or \"*\"", req.principal)));
    }
    validate_source(&req.source)?;
    let rec = PermissionRecord {
        function: name,
        qualifier: policy_qualifier(req.qualifier.as_deref())?,
        statement_id: req.statement_id,
        principal: req.principal,
        source: req.source,
        created_at: crate::store::now_rfc3339(),
    };
    {
        let q = rec.qualifier.as_deref();
        check_qualifier(tx, &rec.function, q)?;
        let current = tx.list_permissions(&rec.function, q)?;
        if current.iter().any(|c| c.statement_id == rec.statement_id) {
            return Err(Error::Conflict(format!(
                "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
                rec.statement_id
            )));
        }
        let size: usize = current.iter().chain(std::iter::once(&rec)).map(statement_bytes).sum();
        if size > MAX_POLICY_BYTES {
            return Err(Error::Invalid(format!(
                "The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
            )));
        }
        tx.insert_permission(&rec)?;
        Ok(rec)
    }
}

pub async fn list(p: &Arc<Platform>, name: FunctionName, qualifier: Option<String>) -> Result<Vec<PermissionRecord>> {
    p.read(move |tx| {
        check_qualifier(tx, &name, qualifier.as_deref())?;
        tx.list_permissions(&name, qualifier.as_deref())
    })
    .await
}

pub async fn remove(p: &Arc<Platform>, name: FunctionName, qualifier: Option<String>, sid: String) -> Result<()> {
    p.commit(move |tx| {
        function(tx, &name)?;
        match tx.delete_permission(&name, qualifier.as_deref(), &sid)? {
            true => Ok(()),
            false => Err(Error::not_found(Kind::Statement, sid)),
        }
    })
    .await
}
