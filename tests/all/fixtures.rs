//! Guests as inline WAT: small, exact, and hostile on purpose where a test needs it.

const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
"#;

fn module(body: &str) -> String {
    format!("(module {IMPORTS} (memory (export \"memory\") 2) {body})")
}

/// Writes `text` to stdout (fd 1) or stderr (fd 2).
fn write_fn() -> &'static str {
    r#"(func $write (param $fd i32) (param $ptr i32) (param $len i32)
         (i32.store (i32.const 0) (local.get $ptr))
         (i32.store (i32.const 4) (local.get $len))
         (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))"#
}

fn escape(s: &str) -> String {
    s.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// Prints a fixed text: different texts give different code hashes.
pub fn print(text: &str) -> String {
    module(&format!(
        r#"(data (i32.const 1024) "{}") {} (func (export "_start") (call $write (i32.const 1) (i32.const 1024) (i32.const {})))"#,
        escape(text),
        write_fn(),
        text.len()
    ))
}

/// Copies stdin to stdout.
pub fn echo() -> String {
    module(
        r#"(func (export "_start")
          (block $done (loop $l
            (i32.store (i32.const 0) (i32.const 1024))
            (i32.store (i32.const 4) (i32.const 65536))
            (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            (br_if $done (i32.eqz (i32.load (i32.const 8))))
            (i32.store (i32.const 4) (i32.load (i32.const 8)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
            (br $l))))"#,
    )
}

/// Writes its environment to stdout as `K=V\0` entries.
pub fn env() -> String {
    module(
        r#"(func (export "_start")
          (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
          (drop (call $environ_get (i32.const 64) (i32.const 4096)))
          (i32.store (i32.const 0) (i32.const 4096))
          (i32.store (i32.const 4) (i32.load (i32.const 20)))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))"#,
    )
}

/// Logs a line to stderr and answers "ok".
pub fn logs() -> String {
    module(&format!(
        r#"(data (i32.const 1024) "ok") (data (i32.const 1100) "a log line\n") {}
          (func (export "_start")
            (call $write (i32.const 2) (i32.const 1100) (i32.const 11))
            (call $write (i32.const 1) (i32.const 1024) (i32.const 2)))"#,
        write_fn()
    ))
}

pub fn exit(code: i32) -> String {
    module(&format!(r#"(func (export "_start") (call $proc_exit (i32.const {code})))"#))
}

pub fn infinite_loop() -> String {
    module(r#"(func (export "_start") (loop $l (br $l)))"#)
}

/// Grows memory one 1 MiB step at a time, forever.
pub fn memory_bomb() -> String {
    module(r#"(func (export "_start") (loop $l (drop (memory.grow (i32.const 16))) (br $l)))"#)
}

pub fn deep_recursion() -> String {
    module(
        r#"(func $f (param i32) (result i32) (call $f (i32.add (local.get 0) (i32.const 1)))) (func (export "_start") (drop (call $f (i32.const 0))))"#,
    )
}

/// Writes 100 MiB to stdout in 64 KiB chunks.
pub fn stdout_flood() -> String {
    module(&format!(
        r#"{} (func (export "_start") (local $i i32)
          (loop $l
            (call $write (i32.const 1) (i32.const 1024) (i32.const 65536))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 1600)))))"#,
        write_fn()
    ))
}

/// Sleeps 60 s inside a host call (poll_oneoff on the monotonic clock), where the epoch
/// check cannot reach it.
pub fn sleep_in_host() -> String {
    module(
        r#"(func (export "_start")
          (i64.store (i32.const 256) (i64.const 0))       ;; userdata
          (i32.store8 (i32.const 264) (i32.const 0))      ;; tag: clock
          (i32.store (i32.const 272) (i32.const 1))       ;; id: monotonic
          (i64.store (i32.const 280) (i64.const 60000000000)) ;; 60 s
          (i64.store (i32.const 288) (i64.const 0))       ;; precision
          (i32.store16 (i32.const 296) (i32.const 0))     ;; flags: relative
          (drop (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))))"#,
    )
}

/// Imports something no host provides.
pub fn bad_import() -> String {
    r#"(module (import "env" "launch_missiles" (func (param i32))) (memory 1) (func (export "_start")))"#.to_string()
}

pub fn no_start() -> String {
    r#"(module (memory 1) (func (export "main")))"#.to_string()
}

/// Calls the WASI functions a guest may rely on (and some it may not) and writes one
/// character per result to stdout: `A` + errno for each call (`A` success, `I` EBADF,
/// `V` EFAULT, `]` EINVAL), digits or bytes for the values it checks. See wasi.rs.
pub fn wasi_probe() -> String {
    let imports = [
        ("args_sizes_get", "(param i32 i32) (result i32)"),
        ("args_get", "(param i32 i32) (result i32)"),
        ("clock_time_get", "(param i32 i64 i32) (result i32)"),
        ("random_get", "(param i32 i32) (result i32)"),
        ("fd_prestat_get", "(param i32 i32) (result i32)"),
        ("path_open", "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)"),
        ("fd_fdstat_get", "(param i32 i32) (result i32)"),
        ("fd_read", "(param i32 i32 i32 i32) (result i32)"),
        ("fd_write", "(param i32 i32 i32 i32) (result i32)"),
        ("poll_oneoff", "(param i32 i32 i32 i32) (result i32)"),
        ("sched_yield", "(result i32)"),
        ("fd_close", "(param i32) (result i32)"),
        ("fd_seek", "(param i32 i64 i32 i32) (result i32)"),
    ];
    let imports: String = imports
        .iter()
        .map(|(f, sig)| format!(r#"(import "wasi_snapshot_preview1" "{f}" (func ${f} {sig}))"#))
        .collect();
    format!(
        r#"(module {imports}
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (func $put (param $v i32)
    (i32.store8 (i32.add (i32.const 2048) (global.get $n)) (local.get $v))
    (global.set $n (i32.add (global.get $n) (i32.const 1))))
  (func $e (param $errno i32) (call $put (i32.add (i32.const 65) (local.get $errno))))
  (func $digit (param $v i32) (call $put (i32.add (i32.const 48) (local.get $v))))
  (func (export "_start")
    ;; argv: one argument, the function's name
    (call $e (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (call $digit (i32.load (i32.const 0)))
    (call $e (call $args_get (i32.const 8) (i32.const 64)))
    (call $put (i32.load8_u (i32.load (i32.const 8))))
    ;; the realtime clock is past 2020; clock 9 does not exist
    (call $e (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 16)))
    (call $digit (i64.gt_u (i64.load (i32.const 16)) (i64.const 1577836800000000000)))
    (call $e (call $clock_time_get (i32.const 9) (i64.const 1) (i32.const 16)))
    ;; 16 random bytes, not all zero
    (call $e (call $random_get (i32.const 32) (i32.const 16)))
    (call $digit (i64.ne (i64.or (i64.load (i32.const 32)) (i64.load (i32.const 40))) (i64.const 0)))
    ;; no preopened directory, so no file can be opened
    (call $e (call $fd_prestat_get (i32.const 3) (i32.const 64)))
    (call $e (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 0)
                              (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 128)))
    ;; stdout is a stream, not a terminal (filetype 0)
    (call $e (call $fd_fdstat_get (i32.const 1) (i32.const 64)))
    (call $digit (i32.load8_u (i32.const 64)))
    ;; stdout can't be read; an iovec past the end of memory is a fault
    (i32.store (i32.const 96) (i32.const 1024)) (i32.store (i32.const 100) (i32.const 16))
    (call $e (call $fd_read (i32.const 1) (i32.const 96) (i32.const 1) (i32.const 104)))
    (i32.store (i32.const 96) (i32.const 65530))
    (call $e (call $fd_write (i32.const 1) (i32.const 96) (i32.const 1) (i32.const 104)))
    ;; sleep 1 ms: one clock event, with its userdata (42 = '*')
    (i64.store (i32.const 256) (i64.const 42))
    (i32.store8 (i32.const 264) (i32.const 0))
    (i32.store (i32.const 272) (i32.const 1))
    (i64.store (i32.const 280) (i64.const 1000000))
    (call $e (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600)))
    (call $digit (i32.load (i32.const 600)))
    (call $put (i32.load8_u (i32.const 512)))
    (call $e (call $sched_yield))
    ;; stdin is a pipe: seeking is ESPIPE (70); more than 1024 iovecs is EINVAL
    (call $digit (i32.eq (call $fd_seek (i32.const 0) (i64.const 0) (i32.const 1) (i32.const 104)) (i32.const 70)))
    (call $e (call $fd_write (i32.const 1) (i32.const 96) (i32.const 1025) (i32.const 104)))
    ;; a closed stream is gone
    (call $e (call $fd_close (i32.const 2)))
    (i32.store (i32.const 96) (i32.const 1024)) (i32.store (i32.const 100) (i32.const 1))
    (call $e (call $fd_write (i32.const 2) (i32.const 96) (i32.const 1) (i32.const 104)))
    ;; the results
    (i32.store (i32.const 96) (i32.const 2048)) (i32.store (i32.const 100) (global.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 96) (i32.const 1) (i32.const 104)))))"#
    )
}

/// Calls WASI without exporting a memory for it to use.
pub fn wasi_without_memory() -> String {
    r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (func (export "_start") (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))))"#
        .to_string()
}

/// Reads the file named on stdin under `/config` (descriptor 3, the preopen) and copies
/// it to stdout; a failure prints `E` and the errno as two digits (`E44`: no such file).
/// A stdin starting with `!` opens the rest of it for truncation (a write).
pub fn read_config() -> String {
    format!(
        r#"(module {IMPORTS}
          (import "wasi_snapshot_preview1" "path_open"
             (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (memory (export "memory") 2)
          {}
          (func (export "_start")
            (local $n i32) (local $err i32) (local $fd i32) (local $path i32) (local $oflags i32)
            (i32.store (i32.const 0) (i32.const 2048))
            (i32.store (i32.const 4) (i32.const 256))
            (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            (local.set $n (i32.load (i32.const 8)))
            (local.set $path (i32.const 2048))
            (if (i32.eq (i32.load8_u (i32.const 2048)) (i32.const 33))
              (then (local.set $oflags (i32.const 8))
                    (local.set $path (i32.const 2049))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))))
            (local.set $err (call $path_open (i32.const 3) (i32.const 1) (local.get $path) (local.get $n)
              (local.get $oflags) (i64.const 6) (i64.const 0) (i32.const 0) (i32.const 16)))
            (if (local.get $err) (then
              (i32.store8 (i32.const 100) (i32.const 69))
              (i32.store8 (i32.const 101) (i32.add (i32.const 48) (i32.div_u (local.get $err) (i32.const 10))))
              (i32.store8 (i32.const 102) (i32.add (i32.const 48) (i32.rem_u (local.get $err) (i32.const 10))))
              (call $write (i32.const 1) (i32.const 100) (i32.const 3))
              (return)))
            (local.set $fd (i32.load (i32.const 16)))
            (block $done (loop $l
              (i32.store (i32.const 0) (i32.const 4096))
              (i32.store (i32.const 4) (i32.const 60000))
              (br_if $done (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
              (br_if $done (i32.eqz (i32.load (i32.const 8))))
              (i32.store (i32.const 4) (i32.load (i32.const 8)))
              (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
              (br $l)))))"#,
        write_fn()
    )
}

/// Reads `/config/shop/flags` and answers its content, or traps when it starts with `B`
/// (a "bad" configuration); answers `none` when nothing is deployed.
pub fn fail_on_bad_config() -> String {
    format!(
        r#"(module {IMPORTS}
          (import "wasi_snapshot_preview1" "path_open"
             (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (memory (export "memory") 2)
          (data (i32.const 2048) "shop/flags")
          (data (i32.const 2100) "none")
          {}
          (func (export "_start")
            (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 2048) (i32.const 10)
                  (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16))
              (then (call $write (i32.const 1) (i32.const 2100) (i32.const 4)) (return)))
            (i32.store (i32.const 0) (i32.const 4096))
            (i32.store (i32.const 4) (i32.const 60000))
            (drop (call $fd_read (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))
            (if (i32.eq (i32.load8_u (i32.const 4096)) (i32.const 66)) (then unreachable))
            (call $write (i32.const 1) (i32.const 4096) (i32.load (i32.const 8)))))"#,
        write_fn()
    )
}

/// A gateway function answering `{"statusCode":200,"body":"<content of /config/shop/motd>"}`
/// (`none` when nothing is deployed); the content must need no JSON escaping.
pub fn proxy_motd() -> String {
    format!(
        r#"(module {IMPORTS}
          (import "wasi_snapshot_preview1" "path_open"
             (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (memory (export "memory") 2)
          (data (i32.const 2048) "shop/motd")
          (data (i32.const 2100) "{{\"statusCode\":200,\"body\":\"")
          (data (i32.const 2200) "none")
          (data (i32.const 2300) "\"}}")
          {}
          (func (export "_start")
            (call $write (i32.const 1) (i32.const 2100) (i32.const 26))
            (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 2048) (i32.const 9)
                  (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16))
              (then (call $write (i32.const 1) (i32.const 2200) (i32.const 4)))
              (else
                (i32.store (i32.const 0) (i32.const 4096))
                (i32.store (i32.const 4) (i32.const 60000))
                (drop (call $fd_read (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))
                (call $write (i32.const 1) (i32.const 4096) (i32.load (i32.const 8)))))
            (call $write (i32.const 1) (i32.const 2300) (i32.const 2))))"#,
        write_fn()
    )
}
