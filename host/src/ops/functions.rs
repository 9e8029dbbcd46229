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
    let limits = p.config.limits.clone();
    p.commit(move |tx| {
        let current = function(tx, &name)?;
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
