//! Alias targets and weighted routing, with Lambda's rules and messages.

use super::{Invalid, VersionId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The weighted part of an alias: `weight` of the traffic goes to `version`, the rest to
/// the primary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AliasRouting {
    pub version: u32,
    pub weight: f64,
}

/// A validated alias target.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasTarget {
    pub version: VersionId,
    pub routing: Option<AliasRouting>,
}

impl AliasTarget {
    /// Checks the rules that need no stored state. Whether the versions exist is checked
    /// by the store inside the transaction that writes the alias.
    pub fn parse(version: &str, routing: Option<&BTreeMap<String, f64>>) -> Result<Self, Invalid> {
        let version = VersionId::parse(version)?;
        let Some(routing) = routing.filter(|r| !r.is_empty()) else {
            return Ok(AliasTarget { version, routing: None });
        };
        if routing.len() > 1 {
            return Err(Invalid::new("Number of items in AdditionalVersionWeights cannot be greater than 1"));
        }
        // A one-entry map: the loop runs once.
        let (key, weight) = routing.iter().next().ok_or_else(|| Invalid::new("empty routing"))?;
        let additional = match VersionId::parse(key) {
            Ok(VersionId::Number(n)) => n,
            _ => {
                return Err(Invalid::new(format!(
                    "1 validation error detected: Value '{}' at 'routing' failed to satisfy \
                     constraint: Map keys must satisfy constraint: [Member must satisfy regular \
                     expression pattern: [0-9]+]",
                    super::names::truncate(key)
                )))
            }
        };
        if !(0.0..=1.0).contains(weight) || !weight.is_finite() {
            return Err(Invalid::new(format!(
                "1 validation error detected: Value '{weight}' at 'routing' failed to satisfy \
                 constraint: Map value must be between 0.0 and 1.0"
            )));
        }
        if version == VersionId::Latest {
            return Err(Invalid::new("$LATEST is not supported for an alias pointing to more than 1 version"));
        }
        if version == VersionId::Number(additional) {
            return Err(Invalid::new(format!(
                "Invalid function version {additional}. Function version {additional} is already \
                 included in routing configuration."
            )));
        }
        Ok(AliasTarget { version, routing: Some(AliasRouting { version: additional, weight: *weight }) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn rules() {
        assert!(AliasTarget::parse("1", Some(&r(&[("2", 0.03)]))).is_ok());
        assert_eq!(AliasTarget::parse("1", Some(&r(&[]))).unwrap().routing, None);
        let e = AliasTarget::parse("1", Some(&r(&[("2", 0.1), ("3", 0.1)]))).unwrap_err();
        assert_eq!(e.0, "Number of items in AdditionalVersionWeights cannot be greater than 1");
        let e = AliasTarget::parse("$LATEST", Some(&r(&[("2", 0.1)]))).unwrap_err();
        assert_eq!(e.0, "$LATEST is not supported for an alias pointing to more than 1 version");
        let e = AliasTarget::parse("1", Some(&r(&[("1", 0.1)]))).unwrap_err();
        assert_eq!(e.0, "Invalid function version 1. Function version 1 is already included in routing configuration.");
        assert!(AliasTarget::parse("1", Some(&r(&[("2", 1.5)]))).is_err());
        assert!(AliasTarget::parse("1", Some(&r(&[("2", -0.1)]))).is_err());
        assert!(AliasTarget::parse("1", Some(&r(&[("$LATEST", 0.1)]))).is_err());
        assert!(AliasTarget::parse("x", None).is_err());
    }
}
