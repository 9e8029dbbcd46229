//! Waygate: a self-hosted WebAssembly function platform with Lambda's versions and
//! aliases and API Gateway's stages. See ARCHITECTURE.md for the map.

pub mod access;
pub mod cli;
pub mod client;
pub mod control;
pub mod examples;
pub mod gateway;
pub mod invoke;
pub mod live;
pub mod model;
pub mod observe;
pub mod platform;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod snapshot;
pub mod store;

/// mimalloc instead of glibc's malloc, for every binary that links Waygate (the server,
/// tests and benches alike): a request allocates a few hundred small objects across two
/// worker threads, and glibc's arenas showed up in profiles as lock waits
/// (`__lll_lock_wait_private`) and `malloc_consolidate`. Figures in README "Performance".
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
