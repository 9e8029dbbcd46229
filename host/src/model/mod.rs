//! Domain types and their validation rules: pure, no I/O.
//!
//! Everything that crosses the management API is turned into one of these types at the
//! edge, so an invalid name, qualifier or configuration cannot exist further in.

pub mod alias;
pub mod api;
pub mod config;
pub mod hash;
pub mod names;
pub mod qualifier;
pub mod stage;

pub use alias::{AliasRouting, AliasTarget};
pub use config::{FunctionConfig, FunctionConfigPatch, Limits};
pub use hash::CodeHash;
pub use names::{AliasName, FunctionName};
pub use qualifier::{Qualifier, VersionId};

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
