//! The proxy-response parser reads whatever a guest wrote to stdout: it must never panic,
//! and what it accepts must be a well-formed HTTP response.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = waygate::runtime::executor::stdio_proxy::response::parse(data) {
        assert!((100..=999).contains(&r.status.as_u16()));
        for (name, _) in &r.headers {
            assert!(!name.as_str().is_empty());
        }
    }
});
