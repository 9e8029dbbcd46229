//! The WASI preview1 host a function runs against (host/src/runtime/wasi_p1.rs): what it
//! offers, what it refuses, and that a guest can't reach outside its own memory.

use crate::fixtures;
use crate::harness::TestServer;
use serde_json::json;

#[tokio::test]
async fn the_wasi_host_offers_streams_args_clocks_random_and_sleep_and_nothing_else() {
    let s = TestServer::start().await;
    s.deploy("probe", json!({}), &fixtures::wasi_probe()).await;
    let inv = s.invoke("probe", "").await;
    assert_eq!(inv.status, 200, "{}", inv.text());
    assert_eq!(inv.function_error, None, "{}", inv.text());
    // See fixtures::wasi_probe for what each character is.
    let expected = [
        "A1",  // args_sizes_get: one argument
        "Ap",  // args_get: argv[0] is the function's name
        "A1",  // clock_time_get(realtime): after 2020
        "]",   // clock_time_get(9): EINVAL
        "A1",  // random_get: not all zero
        "I",   // fd_prestat_get(3): EBADF, no preopened directory
        "I",   // path_open: EBADF
        "A0",  // fd_fdstat_get(stdout): filetype unknown
        "I",   // fd_read(stdout): EBADF
        "V",   // fd_write from beyond linear memory: EFAULT
        "A1*", // poll_oneoff: slept 1 ms, one clock event with its userdata
        "A",   // sched_yield
        "1",   // fd_seek(stdin): ESPIPE
        "]",   // fd_write with 1,025 iovecs: EINVAL
        "A",   // fd_close(stderr)
        "I",   // fd_write(stderr) once closed: EBADF
    ]
    .concat();
    assert_eq!(inv.text(), expected);
}

#[tokio::test]
async fn a_module_that_calls_wasi_without_a_memory_fails_cleanly() {
    let s = TestServer::start().await;
    s.deploy("nomem", json!({}), &fixtures::wasi_without_memory()).await;
    let inv = s.invoke("nomem", "").await;
    let msg = inv.expect_error("Runtime.Error");
    assert!(msg.contains("exports no memory named `memory`"), "{msg}");
    // The next call is a fresh instance and fails the same way: nothing leaked.
    s.invoke("nomem", "").await.expect_error("Runtime.Error");
}
