//! Reading a request body under a size limit (and the per-connection body timeout that
//! `connections.rs` wraps every body in): shared by the management API and the gateway,
//! each mapping [`BodyError`] to its own answer.

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, Limited};

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Longer than the limit (detected before buffering the rest).
    #[error("body larger than the limit")]
    TooLarge,
    /// The client stopped sending it (`--body-timeout-s` between frames).
    #[error("body timed out")]
    TimedOut,
    /// Anything else the connection reported.
    #[error("{0}")]
    Read(axum::BoxError),
}

/// Reads `body`, failing as soon as it passes `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) if crate::connections::is_body_timeout(&*e) => Err(BodyError::TimedOut),
        Err(e) => Err(BodyError::Read(e)),
    }
}
