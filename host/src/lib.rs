//! Waygate: a self-hosted WebAssembly function platform with Lambda's versions and
//! aliases and API Gateway's stages. See ARCHITECTURE.md for the map.
//!
//! The server library only: the `waygate` binary, its CLI and the global allocator are the
//! `waygate-cli` package (host/cli).

pub mod access;
pub mod backend;
pub mod body_limit;
pub mod configuration;
pub mod connections;
pub mod console;
pub mod control;
pub mod data_plane;
pub mod examples;
pub mod gateway;
pub mod invoke;
pub mod live;
pub mod model;
pub mod observe;
pub mod ops;
pub mod platform;
pub mod rollout;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod snapshot;
pub mod store;
