//! Functions: create, read, list, delete; `$LATEST`'s configuration; reserved concurrency.

use super::{Error, Platform, Result};
use crate::model::{FunctionConfig, FunctionConfigPatch, FunctionName};
use crate::store::{FunctionRecord, Tx};
use std::sync::Arc;

/// The function, or `NotFound`.
pub fn function(tx: &dyn Tx, name: &FunctionName) -> Result<FunctionRecord> {
    tx.find_function(name)?.ok_or_else(|| Error::function_not_found(name, None))
}

pub async fn create(p: &Arc<Platform>, name: FunctionName, patch: FunctionConfigPatch) -> Result<FunctionRecord> {
    let config = FunctionConfig::default().apply(patch, &p.config.limits)?;
    p.commit(move |tx| {
        if tx.find_function(&name)?.is_some() {
            return Err(Error::Conflict(format!("Function already exist: {name}")));
        }
        tx.insert_function(&name, &config)
    })
    .await
}

/// Lambda's CreateFunction: the function, its code and (with `publish`) version 1, in one
/// transaction, so a refused name or a failed publish leaves nothing behind. The code is
/// compiled first (files without rows are swept at the next start).
pub async fn create_with_code(
    p: &Arc<Platform>,
    name: FunctionName,
    patch: FunctionConfigPatch,
    wasm: bytes::Bytes,
    package: Option<&[u8]>,
    publish: bool,
) -> std::result::Result<(FunctionRecord, Option<crate::store::VersionRecord>), super::code::UploadError> {
    let config = FunctionConfig::default().apply(patch, &p.config.limits).map_err(Error::from)?;
    let exists = {
        let name = name.clone();
        p.read(move |tx| Ok(tx.find_function(&name)?.is_some())).await?
    };
    if exists {
        return Err(Error::Conflict(format!("Function already exist: {name}")).into());
    }
    let code = super::code::prepare(p, wasm, package).await?;
    let (rec, version, code) = p
        .commit(move |tx| {
            if tx.find_function(&name)?.is_some() {
                return Err(Error::Conflict(format!("Function already exist: {name}")));
            }
            tx.insert_function(&name, &config)?;
            super::code::record_in(tx, &name, &code)?;
            let version = match publish {
                true => Some(super::versions::publish_in(tx, &name, &Default::default())?.0),
                false => None,
            };
            Ok((function(tx, &name)?, version, code))
        })
        .await?;
    super::code::warm(p, &code).await;
    Ok((rec, version))
}

pub async fn get(p: &Arc<Platform>, name: FunctionName) -> Result<FunctionRecord> {
    p.read(move |tx| function(tx, &name)).await
}

pub async fn list(p: &Arc<Platform>) -> Result<Vec<FunctionRecord>> {
    p.read(|tx| tx.list_functions()).await
}

/// Deletes the function with its versions, aliases and policy; its logs are forgotten (a
/// function created later under the same name starts with empty logs).
pub async fn delete(p: &Arc<Platform>, name: FunctionName) -> Result<()> {
    let n = name.clone();
    p.commit(move |tx| match tx.delete_function(&n)? {
        true => Ok(()),
        false => Err(Error::function_not_found(&n, None)),
    })
    .await?;
    p.observe.logs.forget(&name);
    Ok(())
}

/// Applies `patch` to `$LATEST`'s configuration (a new revision id).
pub async fn update_config(
    p: &Arc<Platform>,
    name: FunctionName,
    patch: FunctionConfigPatch,
) -> Result<FunctionRecord> {
    update_config_checked(p, name, patch, None).await
}

/// [`update_config`], refused unless `$LATEST`'s revision is `expected_revision` (when given).
pub async fn update_config_checked(
    p: &Arc<Platform>,
    name: FunctionName,
    patch: FunctionConfigPatch,
    expected_revision: Option<String>,
) -> Result<FunctionRecord> {
    let limits = p.config.limits.clone();
    p.commit(move |tx| {
        let current = function(tx, &name)?;
        if expected_revision.as_ref().is_some_and(|r| *r != current.revision_id) {
            return Err(super::versions::revision_mismatch());
        }
        let next = current.config.apply(patch, &limits)?;
        tx.set_config(&name, &next)?;
        function(tx, &name)
    })
    .await
}

/// `Some(n)`: at most `n` instances at once (at most the instance pool); `None`: unlimited.
pub async fn set_reserved_concurrency(
    p: &Arc<Platform>,
    name: FunctionName,
    reserved: Option<u32>,
) -> Result<FunctionRecord> {
    let max = p.config.runtime.max_instances;
    if let Some(n) = reserved.filter(|n| *n > max) {
        return Err(Error::Invalid(format!(
            "reserved_concurrency {n} is above the instance pool ({max}, --max-instances)"
        )));
    }
    p.commit(move |tx| {
        function(tx, &name)?;
        tx.set_reserved_concurrency(&name, reserved)?;
        function(tx, &name)
    })
    .await
}
