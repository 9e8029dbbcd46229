//! Access policies of API keys: statements of `{effect, actions, resources}` evaluated
//! IAM-style (nothing allowed by default, an explicit deny wins). Pure: the control plane
//! and the data plane (through the snapshot) both evaluate policies with [`Policy::allows`].

use super::Invalid;
use serde::{Deserialize, Serialize};

/// Every action a policy can name. The management router's access table maps each route
/// to one of these (`control::access`); docs/access-control.md lists them all.
pub const ACTIONS: &[&str] = &[
    "function:Create",
    "function:Read",
    "function:Delete",
    "function:UpdateCode",
    "function:UpdateConfig",
    "function:PublishVersion",
    "function:DeleteVersion",
    "function:Invoke",
    "function:ReadLogs",
    "alias:Update",
    "alias:Delete",
    "permission:Update",
    "api:Create",
    "api:Read",
    "api:Delete",
    "api:UpdateRoutes",
    "api:Deploy",
    "stage:Update",
    "stage:Delete",
    "stage:InvalidateCache",
    "stage:FlushCache",
    "secret:Put",
    "secret:Delete",
    "secret:List",
    "secret:Use",
    "value:Put",
    "value:Delete",
    "value:List",
    "config:Create",
    "config:Read",
    "config:Update",
    "config:Delete",
    "config:CreateVersion",
    "config:DeleteVersion",
    "config:Deploy",
    "strategy:Create",
    "strategy:Read",
    "strategy:Delete",
    "key:Manage",
    "audit:Read",
    "metrics:Read",
    "cluster:Read",
    "runtime:Read",
    "runtime:Evict",
];

/// The first segment of every resource (`function/NAME/...`, `api/ID/...`, ...).
pub const RESOURCE_TYPES: &[&str] =
    &["function", "api", "secret", "value", "config", "strategy", "key", "audit", "metrics", "runtime", "cluster"];

/// Bounds on a policy: keep evaluation cheap (it runs on every management request).
pub const MAX_STATEMENTS: usize = 32;
pub const MAX_PATTERNS_PER_STATEMENT: usize = 32;
pub const MAX_PATTERN_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Checks bounds and that every action pattern names at least one known action (a
    /// typo such as `function:Invok` would otherwise silently grant nothing).
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.statements.is_empty() {
            return Err(Invalid::new("policy must have at least one statement"));
        }
        if self.statements.len() > MAX_STATEMENTS {
            return Err(Invalid::new(format!("policy has more than {MAX_STATEMENTS} statements")));
        }
        for (i, s) in self.statements.iter().enumerate() {
            for (what, list) in [("actions", &s.actions), ("resources", &s.resources)] {
                if list.is_empty() {
                    return Err(Invalid::new(format!("statement {i}: {what} must not be empty")));
                }
                if list.len() > MAX_PATTERNS_PER_STATEMENT {
                    return Err(Invalid::new(format!("statement {i}: at most {MAX_PATTERNS_PER_STATEMENT} {what}")));
                }
                for p in list {
                    check_pattern(p).map_err(|why| Invalid::new(format!("statement {i}: {what} '{p}': {why}")))?;
                }
            }
            for a in &s.actions {
                if !ACTIONS.iter().any(|known| glob_match(a, known, b':')) {
                    return Err(Invalid::new(format!(
                        "statement {i}: action '{a}' matches no known action (see the action table in docs/access-control.md)"
                    )));
                }
            }
            for r in &s.resources {
                let head = r.split('/').next().unwrap_or("");
                if !RESOURCE_TYPES.iter().any(|t| glob_match(head, t, b'/') || glob_match(r, t, b'/')) {
                    return Err(Invalid::new(format!(
                        "statement {i}: resource '{r}' must start with one of {}",
                        RESOURCE_TYPES.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Nothing is allowed by default; a matching deny beats any allow.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let mut allowed = false;
        for s in &self.statements {
            let hit = s.actions.iter().any(|a| glob_match(a, action, b':'))
                && s.resources.iter().any(|r| glob_match(r, resource, b'/'));
            if hit {
                match s.effect {
                    Effect::Deny => return false,
                    Effect::Allow => allowed = true,
                }
            }
        }
        allowed
    }
}

fn check_pattern(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("must not be empty");
    }
    if p.len() > MAX_PATTERN_LEN {
        return Err("is longer than 256 characters");
    }
    if !p.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("may use printable ASCII only");
    }
    Ok(())
}

/// Wildcard match: `*` matches any run of characters within one segment (not `sep`); a
/// `*` that ends the pattern matches the rest, separators included. Dynamic programming
/// over (pattern, text) positions, so the cost is bounded by their lengths' product
/// whatever the pattern (no backtracking blow-up). Hand-written: glob crates match file
/// paths with their own syntax (`?`, `[..]`, `**`), which policies must not accept.
pub fn glob_match(pattern: &str, text: &str, sep: u8) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // reach[j]: the pattern bytes seen so far can match the first j text bytes. Two rows,
    // swapped per pattern byte: no allocation inside the loop.
    let mut reach = vec![false; t.len() + 1];
    let mut next = vec![false; t.len() + 1];
    reach[0] = true;
    for (i, &pc) in p.iter().enumerate() {
        if pc == b'*' {
            let trailing = i + 1 == p.len();
            // Extend any reached position by a run of non-separators (or anything, trailing).
            let mut carry = false;
            for j in 0..=t.len() {
                if reach[j] {
                    carry = true;
                } else if j > 0 && !trailing && t[j - 1] == sep {
                    carry = false;
                }
                next[j] = carry;
            }
        } else {
            next[0] = false;
            for j in 1..=t.len() {
                next[j] = reach[j - 1] && t[j - 1] == pc;
            }
        }
        std::mem::swap(&mut reach, &mut next);
    }
    reach[t.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> Policy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn star_matches_within_a_segment_and_trailing_star_the_rest() {
        assert!(glob_match("function/*/alias/DEV", "function/app/alias/DEV", b'/'));
        assert!(!glob_match("function/*/alias/DEV", "function/a/b/alias/DEV", b'/'));
        assert!(glob_match("function/app*", "function/app/alias/X", b'/'));
        assert!(glob_match("function/*", "function/app/version/3", b'/'));
        assert!(glob_match("*", "anything/at/all", b'/'));
        assert!(glob_match("function/ci-*-x", "function/ci-abc-x", b'/'));
        assert!(!glob_match("function/ci-*-x", "function/ci-a/b-x", b'/'));
        assert!(!glob_match("function/app", "function/app/alias/X", b'/'));
        assert!(glob_match("function:*", "function:Invoke", b':'));
        assert!(!glob_match("function:*", "alias:Update", b':'));
        assert!(glob_match("*:Read", "api:Read", b':'));
        assert!(!glob_match("", "x", b'/'));
        assert!(glob_match("", "", b'/'));
        assert!(glob_match("a**b", "axxb", b'/'));
        assert!(!glob_match("a**b", "ax/xb", b'/'));
    }

    /// Regression input from the `policy_match` fuzz target (a slow unit: six stars against
    /// a 64-byte text made the harness's backtracking reference exponential). The DP
    /// answers it, and long star runs in general, in O(pattern × text).
    #[test]
    fn fuzz_regression_star_runs() {
        let text = "\0\0xE\0\0\0\0\0\0\0\0\0\0\0\0\0*\u{8}\0\0\0$\u{18}\0x\0\0\0\0\0\0\0\0\0\0\0\0\0\0*\u{8}\u{4}@\0\0\u{5}\0\u{4}@\0\0\u{5}\0\0\0\0\0\0P\u{2}*";
        assert!(!glob_match("******\0\0\0\0\0\0", text, b'/'));
        assert!(glob_match("******P\u{2}*", text, b'/'));
        let long_text = "a".repeat(4096);
        assert!(glob_match(&"*".repeat(256), &long_text, b'/'));
        assert!(!glob_match(&format!("{}b", "*a".repeat(128)), &long_text, b'/'));
    }

    #[test]
    fn deny_wins_and_nothing_is_allowed_by_default() {
        let p = policy(serde_json::json!([
            {"effect": "allow", "actions": ["function:*"], "resources": ["function/*"]},
            {"effect": "deny", "actions": ["function:Delete"], "resources": ["function/prod-*"]}
        ]));
        p.validate().unwrap();
        assert!(p.allows("function:Delete", "function/dev-app"));
        assert!(!p.allows("function:Delete", "function/prod-app"));
        assert!(!p.allows("api:Read", "api/x"));
        assert!(!Policy::default().allows("function:Read", "function/x"));
    }

    #[test]
    fn validation_rejects_unknown_actions_and_resources() {
        let bad = [
            serde_json::json!([]),
            serde_json::json!([{"effect": "allow", "actions": ["function:Invok"], "resources": ["*"]}]),
            serde_json::json!([{"effect": "allow", "actions": ["*"], "resources": ["lambda/x"]}]),
            serde_json::json!([{"effect": "allow", "actions": [], "resources": ["*"]}]),
            serde_json::json!([{"effect": "allow", "actions": ["*"], "resources": ["function/a b"]}]),
        ];
        for b in bad {
            assert!(policy(b.clone()).validate().is_err(), "{b}");
        }
        assert!(serde_json::from_value::<Policy>(
            serde_json::json!([{"effect": "maybe", "actions": ["*"], "resources": ["*"]}])
        )
        .is_err());
    }
}
