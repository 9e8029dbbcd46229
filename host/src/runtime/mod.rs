//! The Wasm runtime: one [`Engine`](wasmtime::Engine) per process, artifacts compiled at
//! upload ([`compile`], which decides the code's [`GuestKind`]), loaded and verified on
//! first use ([`loader`]), and a fresh instance per invocation ([`instance`]: store,
//! limits, deadline, teardown) whose guest ABI is run by the kind's [`executor`]; the
//! WASI preview1 imports are [`wasi_p1`]'s.

pub mod code_cache;
pub mod compile;
pub mod config_fs;
pub mod config_views;
pub mod engine;
pub mod executor;
pub mod host_state;
pub mod instance;
pub mod limits;
pub mod loader;
pub mod outbound;
pub mod priority;
pub mod wasi_p1;

pub use engine::{Runtime, RuntimeConfig};
pub use executor::{GatewayRequest, GuestInput, GuestKind, GuestOutput, GuestRequest, HttpReply};
pub use instance::{FunctionError, Invocation, Outcome, Timing};
pub use loader::{CodeRef, CodeUnavailable};

/// Failures that are not the function's fault: the invocation never ran.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Every instance slot is busy (the pool is the concurrency limit).
    #[error("Rate Exceeded.")]
    Throttled,
    /// The function already runs as many instances as its reserved concurrency.
    #[error("Rate Exceeded.")]
    ReservedConcurrency,
    /// Development work already holds its whole share of the pool.
    #[error("Rate Exceeded.")]
    DevelopmentShare,
    /// The stage already runs as many instances as its `max_concurrency`.
    #[error("Rate Exceeded.")]
    StageConcurrency,
    /// The version's code could not be loaded: missing or corrupt artifact or blob.
    #[error("{0}")]
    CodeUnavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}
