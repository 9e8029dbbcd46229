//! Domain types and their validation rules: pure, no I/O.
//!
//! Everything that crosses the management API is turned into one of these types at the
//! edge, so an invalid name, qualifier or configuration cannot exist further in.

/// Conversions every validated string newtype (`FunctionName`, `StageName`, …) shares: its
/// serde forms go through `parse`, so an invalid value can't be deserialized either.
macro_rules! string_newtype_impls {
    ($t:ident) => {
        impl TryFrom<String> for $t {
            type Error = $crate::model::Invalid;
            fn try_from(s: String) -> Result<Self, $crate::model::Invalid> {
                $t::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

pub mod alias;
pub mod api;
pub mod appconfig;
pub mod config;
pub mod error;
pub mod guest;
pub mod hash;
pub mod names;
pub mod outbound;
pub mod policy;
pub mod qualifier;
pub mod stage;

pub use alias::{AliasRouting, AliasTarget};
pub use config::{FunctionConfig, FunctionConfigPatch, Limits};
pub use guest::GuestKind;
pub use hash::CodeHash;
pub use names::{AliasName, FunctionName};
pub use qualifier::{Qualifier, VersionId};

/// Free text (descriptions, values) may hold any character but NUL and the other control
/// characters, except tab and line breaks: a NUL is where a C string (a guest's environ
/// entry, a terminal) ends, so the value seen would not be the value stored.
pub fn validate_text(what: &str, s: &str) -> Result<(), Invalid> {
    match s.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        Some(c) => Err(Invalid::new(format!("Invalid {what}: it contains the control character U+{:04X}", c as u32))),
        None => Ok(()),
    }
}

/// A rule broken by user input. The message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(msg: impl Into<String>) -> Self {
        Invalid(msg.into())
    }
}

/// The pseudo-ARN used in messages, in the shape AWS uses ("Function not found: <arn>").
pub fn function_arn(function: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("waygate:function:{function}:{q}"),
        None => format!("waygate:function:{function}"),
    }
}
