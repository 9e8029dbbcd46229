//! Versions: publish (an immutable snapshot of `$LATEST`), read, list, delete.

use super::functions::function;
use super::{check_description, Error, Platform, Result};
use crate::model::{CodeHash, FunctionName};
use crate::store::{version_hash, NewVersion, Tx, VersionRecord};
use std::sync::Arc;

#[derive(Default)]
pub struct Publish {
    /// Refuse unless `$LATEST`'s code is this (its blake3 content address).
    pub expected_code_hash: Option<CodeHash>,
    /// Refuse unless `$LATEST`'s package has this SHA-256 (base64; Lambda's `CodeSha256`).
    pub expected_package_sha256: Option<String>,
    /// Refuse unless `$LATEST`'s revision is this.
    pub expected_revision: Option<String>,
    pub description: String,
}

const REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. \
     Call the GetFunction/GetAlias API to retrieve the latest Revision Id";

/// Publishes `$LATEST` as the next version. Returns the version and whether it was
/// created: when `$LATEST` is unchanged since the newest version (same code and
/// configuration), that version is returned instead, as Lambda does.
pub async fn publish(p: &Arc<Platform>, name: FunctionName, input: Publish) -> Result<(VersionRecord, bool)> {
    check_description(&input.description, p.config.limits.max_description_chars)?;
    let fname = name.clone();
    let (v, created) = p.commit(move |tx| publish_in(tx, &name, &input)).await?;
    if created {
        preload(p, &fname, v.version).await;
    }
    Ok((v, created))
}

pub(super) fn publish_in(tx: &dyn Tx, name: &FunctionName, input: &Publish) -> Result<(VersionRecord, bool)> {
    let f = function(tx, name)?;
    let Some(code_hash) = f.code_hash else {
        return Err(Error::Invalid(format!(
            "Function {name} has no code yet: upload it with PUT /v1/functions/{name}/code before publishing"
        )));
    };
    if input.expected_revision.as_ref().is_some_and(|r| *r != f.revision_id) {
        return Err(Error::PreconditionFailed(REVISION_MISMATCH.into()));
    }
    if let Some(expected) = input.expected_code_hash.filter(|h| *h != code_hash) {
        return Err(Error::Conflict(format!(
            "CodeHash ({expected}) is different from current CodeHash in $LATEST ({code_hash}). \
             Please try again with the CodeHash in $LATEST."
        )));
    }
    if let Some(expected) = input.expected_package_sha256.as_ref().filter(|h| Some(*h) != f.package_sha256.as_ref()) {
        let actual = f.package_sha256.as_deref().unwrap_or("unknown: the code predates package hashes");
        return Err(Error::Invalid(format!(
            "CodeSHA256 ({expected}) is different from current CodeSHA256 in $LATEST ({actual}). \
             Please try again with the CodeSHA256 in $LATEST."
        )));
    }
    let hash = version_hash(&code_hash, &f.config);
    if let Some(newest) = tx.newest_version(name)?.filter(|v| v.version_hash == hash) {
        return Ok((newest, false));
    }
    let new = NewVersion {
        code_hash: &code_hash,
        package_sha256: f.package_sha256.as_deref(),
        config: &f.config,
        version_hash: &hash,
        description: &input.description,
    };
    Ok((tx.insert_version(name, &new)?, true))
}

/// Loads the new version's code unless it is loaded (it usually is: uploads preload, and
/// the code is `$LATEST`'s), so the version's first request does not pay the load after
/// an eviction or a restart.
async fn preload(p: &Arc<Platform>, function: &FunctionName, version: u32) {
    let code = p.snapshot().functions.get(function).and_then(|f| f.versions.get(&version)).map(|v| v.code.clone());
    let Some(code) = code else { return };
    let this = p.clone();
    let loaded = tokio::task::spawn_blocking(move || this.runtime.loader().preload(&code).map(|()| code)).await;
    match loaded {
        Ok(Ok(code)) => p.runtime.warm(&code).await,
        Ok(Err(e)) => tracing::warn!(%function, version, error = %e, "could not preload the published version's code"),
        Err(e) => tracing::warn!(%function, version, error = %e, "preload task failed"),
    }
}

pub async fn list(p: &Arc<Platform>, name: FunctionName) -> Result<Vec<VersionRecord>> {
    p.read(move |tx| {
        function(tx, &name)?;
        tx.list_versions(&name)
    })
    .await
}

pub async fn get(p: &Arc<Platform>, name: FunctionName, version: u32) -> Result<VersionRecord> {
    p.read(move |tx| {
        function(tx, &name)?;
        tx.find_version(&name, version)?.ok_or_else(|| Error::function_not_found(&name, Some(&version.to_string())))
    })
    .await
}

/// Deletes a version no alias uses; its resource policy goes with it.
pub async fn delete(p: &Arc<Platform>, name: FunctionName, version: u32) -> Result<()> {
    p.commit(move |tx| {
        function(tx, &name)?;
        if tx.find_version(&name, version)?.is_none() {
            return Err(Error::function_not_found(&name, Some(&version.to_string())));
        }
        let mut users = tx.aliases_using(&name, version)?;
        // A shift in progress towards it uses it too.
        let now = crate::configuration::now_ms();
        for x in tx.list_shifts(Some(name.as_str()))? {
            if x.to_version == version
                && super::alias_shifts::active_in(tx, &name, &x.alias, now)?.is_some_and(|a| a.number == x.number)
            {
                users.push(x.alias.clone());
            }
        }
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "Unable to delete version because the following aliases reference it: [{}]",
                users.join(", ")
            )));
        }
        tx.delete_version(&name, version)?;
        Ok(())
    })
    .await
}

pub(super) fn revision_mismatch() -> Error {
    Error::PreconditionFailed(REVISION_MISMATCH.into())
}
