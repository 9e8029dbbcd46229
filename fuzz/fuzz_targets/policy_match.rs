//! Policy resource matching: never panics, agrees with a plain backtracking reference
//! matcher, a pattern without `*` matches exactly itself, and a deny always wins.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waygate::model::policy::glob_match;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    pattern: String,
    text: String,
}

/// Obviously-correct (exponential) reference; inputs are capped so it stays cheap.
fn reference(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) if rest.is_empty() => true,
        Some((b'*', rest)) => {
            let mut j = 0;
            loop {
                if reference(rest, &t[j..]) {
                    return true;
                }
                if j == t.len() || t[j] == b'/' {
                    return false;
                }
                j += 1;
            }
        }
        Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
    }
}

fuzz_target!(|input: Input| {
    let (p, t) = (input.pattern.as_str(), input.text.as_str());
    let got = glob_match(p, t, b'/');
    // The reference backtracks: with k stars it costs up to len^k, so keep k and len small
    // (six stars over 64 bytes took 23 s per input under ASan).
    if p.len() <= 24 && p.bytes().filter(|&b| b == b'*').count() <= 3 && t.len() <= 40 {
        assert_eq!(got, reference(p.as_bytes(), t.as_bytes()), "pattern {p:?} text {t:?}");
    }
    if !p.contains('*') {
        assert_eq!(got, p == t);
    }
    let policy: waygate::model::policy::Policy = serde_json::from_value(serde_json::json!([
        {"effect": "allow", "actions": ["*"], "resources": ["*"]},
        {"effect": "deny", "actions": ["function:Invoke"], "resources": [p]},
    ]))
    .expect("valid shape");
    assert_eq!(policy.allows("function:Invoke", t), !got);
});
