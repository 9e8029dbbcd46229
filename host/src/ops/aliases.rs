//! Aliases: named, movable pointers to a version, optionally weighted between two.

use super::functions::function;
use super::{check_description, Error, Platform, Result};
use crate::model::{AliasName, AliasTarget, FunctionName, VersionId};
use crate::store::{new_revision, now_rfc3339, AliasRecord, Tx};
use std::sync::Arc;

/// Aliases' descriptions: at most this many characters (Lambda's limit).
pub const MAX_DESCRIPTION_CHARS: usize = 256;

pub struct PutAlias {
    pub target: AliasTarget,
    /// `None` keeps the current description.
    pub description: Option<String>,
    /// Refuse unless the alias's current revision is this.
    pub expected_revision: Option<String>,
    /// `Some(false)`: create only (409 if it exists, Lambda's CreateAlias); `Some(true)`:
    /// update only (404 if it doesn't, UpdateAlias); `None`: either (`/v1`'s PUT).
    pub exists: Option<bool>,
}

/// Creates or updates the alias; returns it and whether it was created. Every version it
/// names must exist.
pub async fn put(
    p: &Arc<Platform>,
    name: FunctionName,
    alias: AliasName,
    input: PutAlias,
) -> Result<(AliasRecord, bool)> {
    p.commit(move |tx| put_in(tx, &name, &alias, &input)).await
}

/// [`put`] inside a caller's transaction (a batch of changes, one commit).
pub fn put_in(tx: &dyn Tx, name: &FunctionName, alias: &AliasName, input: &PutAlias) -> Result<(AliasRecord, bool)> {
    if let Some(d) = &input.description {
        check_description(d, MAX_DESCRIPTION_CHARS)?;
    }
    {
        let (name, alias) = (name.clone(), alias.clone());
        function(tx, &name)?;
        super::alias_shifts::refuse_if_shifting(tx, &name, &alias)?;
        let existing = tx.find_alias(&name, &alias)?;
        match (input.exists, &existing) {
            (Some(false), Some(_)) => {
                return Err(Error::Conflict(format!("Alias already exists: waygate:function:{name}:{alias}")));
            }
            (Some(true), None) => return Err(Error::alias_not_found(&name, &alias)),
            _ => {}
        }
        if let Some(expected) = &input.expected_revision {
            if existing.as_ref().map(|a| &a.revision_id) != Some(expected) {
                return Err(super::versions::revision_mismatch());
            }
        }
        let target = &input.target;
        let mut needed: Vec<u32> = target.routing.iter().map(|r| r.version).collect();
        if let VersionId::Number(n) = target.version {
            needed.insert(0, n);
        }
        for n in needed {
            if tx.find_version(&name, n)?.is_none() {
                return Err(Error::function_not_found(&name, Some(&n.to_string())));
            }
        }
        let now = now_rfc3339();
        let rec = AliasRecord {
            function: name.clone(),
            name: alias.clone(),
            version: target.version,
            routing: target.routing,
            description: input
                .description
                .clone()
                .or_else(|| existing.as_ref().map(|a| a.description.clone()))
                .unwrap_or_default(),
            revision_id: new_revision(),
            created_at: existing.as_ref().map(|a| a.created_at.clone()).unwrap_or_else(|| now.clone()),
            updated_at: now,
        };
        tx.write_alias(&rec)?;
        Ok((rec, existing.is_none()))
    }
}

pub async fn get(p: &Arc<Platform>, name: FunctionName, alias: AliasName) -> Result<AliasRecord> {
    p.read(move |tx| {
        function(tx, &name)?;
        tx.find_alias(&name, &alias)?.ok_or_else(|| Error::alias_not_found(&name, &alias))
    })
    .await
}

pub async fn list(p: &Arc<Platform>, name: FunctionName) -> Result<Vec<AliasRecord>> {
    p.read(move |tx| {
        function(tx, &name)?;
        tx.list_aliases(&name)
    })
    .await
}

/// Deletes the alias; its resource policy goes with it.
pub async fn delete(p: &Arc<Platform>, name: FunctionName, alias: AliasName) -> Result<()> {
    p.commit(move |tx| {
        function(tx, &name)?;
        super::alias_shifts::refuse_if_shifting(tx, &name, &alias)?;
        tx.delete_shifts(&name, &alias)?;
        match tx.delete_alias(&name, &alias)? {
            true => Ok(()),
            false => Err(Error::alias_not_found(&name, &alias)),
        }
    })
    .await
}
