//! Stage-variable substitution in integration targets: parse never panics; a parsed
//! template renders with any variables, and text without `${` round-trips unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use waygate::model::api::{Template, TemplatePart};

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    template: String,
    vars: Vec<(String, String)>,
}

fuzz_target!(|input: Input| {
    let Ok(t) = Template::parse(&input.template) else { return };
    let vars: BTreeMap<String, String> = input.vars.into_iter().take(16).collect();
    match t.render(&vars) {
        Ok(out) => {
            if !t.has_variables() {
                assert_eq!(out, input.template);
            }
        }
        Err(missing) => assert!(t.parts.iter().any(|p| matches!(p, TemplatePart::Var(v) if *v == missing))),
    }
});
