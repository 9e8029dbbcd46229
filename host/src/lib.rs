//! Waygate: a self-hosted WebAssembly function platform with Lambda's versions and
//! aliases and API Gateway's stages. See ARCHITECTURE.md for the map.

pub mod access;
pub mod body_limit;
pub mod cli;
pub mod client;
pub mod connections;
pub mod control;
pub mod data_plane;
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

/// mimalloc (v3) returns freed pages to the OS 1 s after they empty (`purge_delay`). In
/// the gateway bench, whose two servers take turns, each pause longer than that made the
/// first requests after it fault their pages back in: route p99 158–165 µs with 1,000
/// APIs, 12 µs with a 10 s delay. Ten seconds keep the memory of a server with steady or
/// bursty traffic resident and give it back after ten seconds without traffic.
/// `MIMALLOC_PURGE_DELAY` (ms, -1 = never) in the environment wins. Called once by
/// [`platform::Platform::open`].
pub(crate) fn tune_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // `mi_option_purge_delay` in the mimalloc v3 header vendored by libmimalloc-sys
        // 0.1.49 (pinned in Cargo.toml); the crate exports no constant for it.
        const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
        const PURGE_DELAY_MS: std::ffi::c_long = 10_000;
        // SAFETY: sets a plain integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tuned_allocator_option_is_purge_delay() {
        // Option 15 must be the one whose default is purge_delay's 1000 ms (or our 10 s
        // once a platform was opened in this process); then tuning sets it.
        let before = unsafe { libmimalloc_sys::mi_option_get(15) };
        assert!(before == 1000 || before == 10_000, "option 15 is {before}: not purge_delay?");
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            super::tune_allocator();
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(15) }, 10_000);
        }
    }
}
