//! End-to-end tests: one binary, a module per area (as wasmtime's tests/all). Each test
//! starts the real server on port 0 with its own data directory and talks HTTP to it.

// Links waygate_cli for its `#[global_allocator]`: in-process servers run on mimalloc,
// as the `waygate` binary does.
use waygate_cli as _;

mod access;
mod aliases;
mod appconfig;
mod aws;
mod backends;
mod cache;
mod canary;
mod cli;
mod cluster;
mod code;
mod code_cache;
mod commit;
mod components;
mod connections;
mod console;
mod crash;
mod declare;
mod docs;
mod durability;
mod examples;
mod fixtures;
mod functions;
mod gateway;
mod gateway_cli;
mod handlers;
mod harness;
mod hostile;
mod invoke;
mod isolation;
mod malformed;
mod observe;
mod outbound;
mod snapshot;
mod throttle;
mod versions;
mod wasi;
