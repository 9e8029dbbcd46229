//! Waygate: a self-hosted WebAssembly function platform with Lambda's versions and
//! aliases and API Gateway's stages. See ARCHITECTURE.md for the map.

pub mod model;
pub mod runtime;
pub mod store;
pub mod invoke;
pub mod snapshot;
pub mod control;
pub mod observe;
pub mod platform;
pub mod server;
pub mod cli;
pub mod client;
pub mod examples;
