//! Environment values: non-secret settings per environment (`payments.sandbox.internal`
//! on dev, `payments.example.com` on prod), filled into versions' outbound allow-lists
//! (`${environment.NAME}`). Listed with their values, unlike secrets.

use super::secrets::validate_name;
use super::{Error, Kind, Platform, Result};
use crate::store::ValueRecord;
use std::sync::Arc;

/// Values per environment.
pub const MAX_VALUES: usize = 100;
/// Characters per value.
pub const MAX_VALUE_CHARS: usize = 512;

/// A value: 1 to 512 printable ASCII characters, no spaces (it becomes part of a URL
/// pattern).
fn validate_value(v: &str) -> Result<()> {
    if v.is_empty() || v.len() > MAX_VALUE_CHARS || !v.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::Invalid(format!(
            "Invalid environment value: 1 to {MAX_VALUE_CHARS} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

/// Creates or replaces; returns the record and whether it was created.
pub async fn put(p: &Arc<Platform>, environment: String, name: String, value: String) -> Result<(ValueRecord, bool)> {
    validate_name("environment", &environment)?;
    validate_name("value name", &name)?;
    validate_value(&value)?;
    p.commit(move |tx| {
        let existing = tx.list_values(&environment)?;
        if existing.len() >= MAX_VALUES && !existing.iter().any(|v| v.name == name) {
            return Err(Error::Invalid(format!("An environment can have at most {MAX_VALUES} values")));
        }
        let created = tx.put_value(&environment, &name, &value)?;
        let rec = tx.list_values(&environment)?.into_iter().find(|v| v.name == name);
        let rec = rec.ok_or_else(|| Error::Internal(anyhow::anyhow!("the value just written is missing")))?;
        Ok((rec, created))
    })
    .await
}

pub async fn list(p: &Arc<Platform>, environment: String) -> Result<Vec<ValueRecord>> {
    validate_name("environment", &environment)?;
    p.read(move |tx| tx.list_values(&environment)).await
}

pub async fn delete(p: &Arc<Platform>, environment: String, name: String) -> Result<()> {
    validate_name("environment", &environment)?;
    validate_name("value name", &name)?;
    p.commit(move |tx| match tx.delete_value(&environment, &name)? {
        true => Ok(()),
        false => Err(Error::not_found(Kind::Value, format!("{environment}/{name}"))),
    })
    .await
}
