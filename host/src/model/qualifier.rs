//! How a caller names what to run: `f` (= `$LATEST`), `f:$LATEST`, `f:7`, `f:PROD`.

use super::{AliasName, Invalid};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const LATEST: &str = "$LATEST";

/// A concrete version: the mutable draft or an immutable numbered version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum VersionId {
    Latest,
    Number(u32),
}

impl VersionId {
    /// `(\$LATEST|[0-9]+)`; numbers start at 1.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s == LATEST {
            return Ok(VersionId::Latest);
        }
        parse_number(s).map(VersionId::Number).ok_or_else(|| {
            Invalid::new(format!(
                "Invalid version '{}': it must be $LATEST or a version number",
                super::names::truncate(s)
            ))
        })
    }
}

fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| *n >= 1)
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionId::Latest => f.write_str(LATEST),
            VersionId::Number(n) => write!(f, "{n}"),
        }
    }
}
impl TryFrom<String> for VersionId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        VersionId::parse(&s)
    }
}
impl From<VersionId> for String {
    fn from(v: VersionId) -> String {
        v.to_string()
    }
}

/// What follows the `:` in `function:qualifier`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qualifier {
    Version(VersionId),
    Alias(AliasName),
}

impl Qualifier {
    /// An absent or empty qualifier means `$LATEST`, as in Lambda.
    pub fn parse(s: Option<&str>) -> Result<Self, Invalid> {
        match s {
            None | Some("") => Ok(Qualifier::Version(VersionId::Latest)),
            Some(s) if s == LATEST => Ok(Qualifier::Version(VersionId::Latest)),
            Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(Qualifier::Version(VersionId::parse(s)?)),
            Some(s) => AliasName::parse(s).map(Qualifier::Alias).map_err(|_| {
                Invalid::new(format!(
                    "Invalid qualifier '{}': expected $LATEST, a version number or an alias name",
                    super::names::truncate(s)
                ))
            }),
        }
    }
}

/// `name:qualifier` → (`name`, `Some(qualifier)`); without a `:`, (`s`, `None`). The
/// qualifier is split off at the first `:` and not validated (`f:` gives `Some("")`).
pub fn split_qualified(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((name, q)) => (name, Some(q)),
        None => (s, None),
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Version(v) => v.fmt(f),
            Qualifier::Alias(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers() {
        assert_eq!(Qualifier::parse(None).unwrap(), Qualifier::Version(VersionId::Latest));
        assert_eq!(Qualifier::parse(Some("$LATEST")).unwrap(), Qualifier::Version(VersionId::Latest));
        assert_eq!(Qualifier::parse(Some("7")).unwrap(), Qualifier::Version(VersionId::Number(7)));
        assert!(matches!(Qualifier::parse(Some("PROD")).unwrap(), Qualifier::Alias(_)));
        assert!(Qualifier::parse(Some("0")).is_err());
        assert!(Qualifier::parse(Some("99999999999")).is_err());
        assert!(Qualifier::parse(Some("a b")).is_err());
        assert!(Qualifier::parse(Some("$latest")).is_err());
    }

    #[test]
    fn splits_at_the_first_colon() {
        assert_eq!(split_qualified("f"), ("f", None));
        assert_eq!(split_qualified("f:7"), ("f", Some("7")));
        assert_eq!(split_qualified("f:"), ("f", Some("")));
        assert_eq!(split_qualified("f:a:b"), ("f", Some("a:b")));
    }
}
