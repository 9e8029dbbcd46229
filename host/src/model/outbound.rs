//! Where a function may send outbound HTTP requests: the allow-list a version declares
//! (`"outbound": ["https://payments.${environment.paymentsHost}", "http://127.0.0.1:*"]`),
//! frozen with the version, its `${environment.NAME}` placeholders filled from the values
//! of the environment the invocation runs in.
//!
//! An entry is `SCHEME://HOST[:PORT]` (a trailing `/` is allowed, nothing more):
//! SCHEME is `http`, `https` or `*`; HOST a name, `*.domain` (any subdomain, not the
//! domain itself), `*` (any host) or an IP literal (`127.0.0.1`, `[::1]`); PORT a number
//! or `*`, and when absent the scheme's default (80, 443). Only an entry whose HOST is an
//! IP literal lets requests reach that address when it is private
//! ([`crate::backend::address`]): `*` never reaches loopback or the metadata service.
//! Hand-written: Spin's `allowed_outbound_hosts` has this shape, but its parser lives in
//! Spin's own crates (not published for embedding); the grammar is a few lines.

use http::Uri;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Entries a version may declare.
pub const MAX_ENTRIES: usize = 32;
/// Characters per entry.
pub const MAX_ENTRY_CHARS: usize = 256;

const PLACEHOLDER: &str = "${environment.";

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPat {
    Any,
    /// `*.example.com` → `.example.com`
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPat {
    Any,
    /// The request's scheme's default.
    Default,
    Is(u16),
}

/// One entry, placeholders filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `None`: any of http and https.
    https: Option<bool>,
    host: HostPat,
    port: PortPat,
    /// The HOST is this IP literal: it may be private.
    literal: Option<IpAddr>,
}

/// Checks an entry's shape (placeholders stand for a value here); the message says what
/// is wrong.
pub fn validate(entry: &str) -> Result<(), String> {
    if entry.len() > MAX_ENTRY_CHARS {
        return Err(format!("Invalid outbound entry: longer than {MAX_ENTRY_CHARS} characters"));
    }
    let filled =
        fill(entry, &mut |_| Some("1".to_string())).map_err(|e| format!("Invalid outbound entry '{entry}': {e}"))?;
    parse(&filled).map(drop).map_err(|e| format!("Invalid outbound entry '{entry}': {e}"))
}

/// The `${environment.NAME}` names an entry uses.
pub fn placeholders(entry: &str) -> Vec<String> {
    let mut names = Vec::new();
    let _ = fill(entry, &mut |n| {
        names.push(n.to_string());
        Some(String::new())
    });
    names
}

/// Whether `text` uses `${environment.NAME}` placeholders.
pub fn has_placeholders(text: &str) -> bool {
    text.contains(PLACEHOLDER)
}

/// `text` with its `${environment.NAME}` placeholders replaced by `values` (an
/// environment's); `Err` says which is missing or malformed.
pub fn fill_placeholders(text: &str, values: Option<&BTreeMap<String, String>>) -> Result<String, String> {
    fill(text, &mut |n| values.and_then(|v| v.get(n)).cloned())
}

/// Replaces the placeholders; `Err` names the first one `value` has no value for.
fn fill(entry: &str, value: &mut dyn FnMut(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = entry;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let inner = rest[i..].strip_prefix(PLACEHOLDER).ok_or("only ${environment.NAME} may be substituted")?;
        let end = inner.find('}').ok_or("unclosed ${")?;
        let name = &inner[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(format!("'{name}' is not an environment value name"));
        }
        out.push_str(&value(name).ok_or_else(|| format!("environment value '{name}' is not set"))?);
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse(entry: &str) -> Result<Rule, String> {
    let (scheme, rest) = entry.split_once("://").ok_or("expected SCHEME://HOST[:PORT]")?;
    let https = match scheme {
        "http" => Some(false),
        "https" => Some(true),
        "*" => None,
        _ => return Err(format!("scheme '{scheme}' is not http, https or *")),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err("only SCHEME://HOST[:PORT]: no path, query or user info".into());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && (!h.contains(':') || h.ends_with(']')) => (h, Some(p)),
        _ => (rest, None),
    };
    let port = match port {
        None => PortPat::Default,
        Some("*") => PortPat::Any,
        Some(p) => PortPat::Is(p.parse().map_err(|_| format!("port '{p}' is not a number or *"))?),
    };
    let host = host.to_ascii_lowercase();
    let literal = literal(&host);
    let host = if host == "*" {
        HostPat::Any
    } else if let Some(domain) = host.strip_prefix("*.") {
        check_name(domain)?;
        HostPat::Suffix(format!(".{domain}"))
    } else if literal.is_some() {
        HostPat::Exact(host.trim_start_matches('[').trim_end_matches(']').to_string())
    } else {
        check_name(&host)?;
        HostPat::Exact(host)
    };
    Ok(Rule { https, host, port, literal })
}

/// The IP address a host names literally (`127.0.0.1`, `[::1]`), if it is one.
fn literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).parse().ok()
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a host name, *.domain, * or an IP literal"))
    }
}

/// A version's allow-list for one environment.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    rules: Vec<Rule>,
    /// Entries that could not be used in this environment (a missing value, or a value
    /// that does not make a valid entry), with why: named when a request is refused.
    pub unusable: Vec<String>,
}

/// What [`AllowList::check`] decided for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed; `named_literal`: the matching entry names this IP literal (it may be private).
    Allowed {
        named_literal: bool,
    },
    Refused(String),
}

impl AllowList {
    /// The entries with their placeholders filled from `values` (the environment's).
    pub fn resolve(entries: &[String], values: Option<&BTreeMap<String, String>>) -> AllowList {
        let mut list = AllowList::default();
        for e in entries {
            let filled = fill(e, &mut |n| values.and_then(|v| v.get(n)).cloned());
            match filled.and_then(|f| parse(&f)) {
                Ok(rule) => list.rules.push(rule),
                Err(why) => list.unusable.push(format!("{e}: {why}")),
            }
        }
        list
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.unusable.is_empty()
    }

    /// Whether a request to `uri` is allowed.
    pub fn check(&self, uri: &Uri) -> Verdict {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Verdict::Refused(format!("scheme {other:?} is not http or https")),
        };
        let Some(host) = uri.host() else { return Verdict::Refused("the request has no host".into()) };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let literal = literal(&host);
        for r in &self.rules {
            let scheme_ok = r.https.is_none_or(|s| s == https);
            let port_ok = match r.port {
                PortPat::Any => true,
                PortPat::Default => port == if https { 443 } else { 80 },
                PortPat::Is(p) => p == port,
            };
            let host_ok = match &r.host {
                HostPat::Any => true,
                HostPat::Suffix(s) => host.ends_with(s.as_str()),
                HostPat::Exact(h) => match (literal, r.literal) {
                    (Some(a), Some(b)) => a == b,
                    _ => *h == host,
                },
            };
            if scheme_ok && port_ok && host_ok {
                return Verdict::Allowed { named_literal: literal.is_some() && r.literal == literal };
            }
        }
        let mut why = format!(
            "{}://{host}:{port} is not in the function version's outbound allow-list",
            if https { "https" } else { "http" }
        );
        if self.rules.is_empty() && self.unusable.is_empty() {
            why.push_str(" (the version declares no outbound hosts)");
        }
        if !self.unusable.is_empty() {
            why.push_str(&format!(" (entries unusable in this environment: {})", self.unusable.join("; ")));
        }
        Verdict::Refused(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str], values: &[(&str, &str)]) -> AllowList {
        let values: BTreeMap<String, String> = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AllowList::resolve(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>(), Some(&values))
    }

    fn allowed(l: &AllowList, uri: &str) -> Option<bool> {
        match l.check(&uri.parse().unwrap()) {
            Verdict::Allowed { named_literal } => Some(named_literal),
            Verdict::Refused(_) => None,
        }
    }

    #[test]
    fn entries() {
        for ok in [
            "https://payments.example.com",
            "http://127.0.0.1:*",
            "*://*.example.com:8443/",
            "https://*",
            "http://[::1]:8080",
            "https://payments.${environment.paymentsHost}",
            "http://${environment.host}:${environment.port}",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("payments.example.com", "SCHEME://HOST"),
            ("ftp://x", "scheme 'ftp'"),
            ("https://x/path", "no path"),
            ("https://user@x", "user info"),
            ("https://x:port", "not a number"),
            ("https://bad_host", "not a host name"),
            ("https://${env.x}", "only ${environment.NAME}"),
        ] {
            let e = validate(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(placeholders("http://${environment.a}.${environment.b}"), vec!["a", "b"]);
    }

    #[test]
    fn matching() {
        let l = list(
            &[
                "https://payments.${environment.paymentsHost}",
                "http://127.0.0.1:*",
                "*://*.example.com",
                "http://*:8080",
            ],
            &[("paymentsHost", "sandbox.example.org")],
        );
        assert_eq!(allowed(&l, "https://payments.sandbox.example.org/charge"), Some(false));
        assert_eq!(allowed(&l, "http://payments.sandbox.example.org/"), None, "scheme");
        assert_eq!(allowed(&l, "https://payments.sandbox.example.org:8443/"), None, "port");
        assert_eq!(allowed(&l, "http://127.0.0.1:9999/x"), Some(true), "named literal");
        assert_eq!(allowed(&l, "http://api.example.com/"), Some(false));
        assert_eq!(allowed(&l, "https://a.b.example.com/"), Some(false));
        assert_eq!(allowed(&l, "https://example.com/"), None, "*.domain is not the domain");
        // `*` matches the literal, but does not name it: the address rule still applies.
        assert_eq!(allowed(&l, "http://169.254.169.254:8080/"), Some(false));
        assert_eq!(allowed(&l, "http://evil.com:80/"), None);
        let l = list(&["https://${environment.missing}"], &[]);
        assert!(l.rules.is_empty());
        match l.check(&"https://x/".parse().unwrap()) {
            Verdict::Refused(why) => assert!(why.contains("environment value 'missing' is not set"), "{why}"),
            v => panic!("{v:?}"),
        }
        match list(&[], &[]).check(&"https://x/".parse().unwrap()) {
            Verdict::Refused(why) => assert!(why.contains("declares no outbound hosts"), "{why}"),
            v => panic!("{v:?}"),
        }
    }
}
