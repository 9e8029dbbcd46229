//! Names of functions and aliases, with Lambda's character sets and lengths.

use super::Invalid;
use serde::{Deserialize, Serialize};

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `[A-Za-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionName(String);

impl FunctionName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 64 || !s.chars().all(is_name_char) {
            return Err(Invalid::new(format!(
                "Invalid function name '{}': it must match [A-Za-z0-9_-]{{1,64}}",
                truncate(s)
            )));
        }
        Ok(FunctionName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}`: an alias name is never all digits, so it can't be
/// mistaken for a version number in a qualifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 128 || !s.chars().all(is_name_char) || s.chars().all(|c| c.is_ascii_digit()) {
            return Err(Invalid::new(format!(
                "Invalid alias name '{}': it must match (?!^[0-9]+$)[A-Za-z0-9_-]{{1,128}}",
                truncate(s)
            )));
        }
        Ok(AliasName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype_impls!(FunctionName);
string_newtype_impls!(AliasName);

/// Keeps echoed user input in messages short.
pub(crate) fn truncate(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(80).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert!(FunctionName::parse("orders").is_ok());
        assert!(FunctionName::parse("a-b_C9").is_ok());
        assert!(FunctionName::parse(&"x".repeat(64)).is_ok());
        assert!(FunctionName::parse(&"x".repeat(65)).is_err());
        assert!(FunctionName::parse("").is_err());
        assert!(FunctionName::parse("a b").is_err());
        assert!(FunctionName::parse("a:b").is_err());
        assert!(FunctionName::parse("é").is_err());
    }

    #[test]
    fn alias_names() {
        assert!(AliasName::parse("STABLE").is_ok());
        assert!(AliasName::parse("v1").is_ok());
        assert!(AliasName::parse("1").is_err());
        assert!(AliasName::parse("123").is_err());
        assert!(AliasName::parse("$LATEST").is_err());
        assert!(AliasName::parse(&"a".repeat(128)).is_ok());
        assert!(AliasName::parse(&"a".repeat(129)).is_err());
    }
}
