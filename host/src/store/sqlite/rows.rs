//! Conversions between rows and records shared by the domain files.

use crate::store::{StoreError, StoreResult};
use serde::Serialize;

pub fn json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.into()))
}

/// A column that failed to parse into its domain type (a corrupt or foreign row).
pub fn conv<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> rusqlite::Result<T> {
    r.map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

pub fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    conv(serde_json::from_str(s))
}
