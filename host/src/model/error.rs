//! What a use case ([`crate::ops`]) or a store can refuse, typed: each edge (the management
//! API today, an AWS-compatible façade next) maps a variant to its status code and error
//! type in one place (`control/error.rs`), and a caller can match on what went wrong
//! instead of on a message. The messages themselves are the user-facing texts (AWS's,
//! where AWS has one).

use super::{function_arn, Invalid};

/// The kind of resource a [`Error::NotFound`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `id` is the function's name, or `name:qualifier` for a version.
    Function,
    /// `id` is `name:alias`.
    Alias,
    Api,
    Route,
    /// An API Gateway resource (a path of the API's draft).
    Resource,
    /// A method on a resource: `id` is `METHOD /path`.
    Method,
    Deployment,
    Stage,
    /// A stage named as the target of a canary deployment (which needs an existing stage).
    CanaryStage,
    /// `id` is the stage whose canary is missing.
    Canary,
    /// A resource-policy statement.
    Statement,
    Key,
    /// `id` is `environment/name`.
    Secret,
    Value,
    /// Configuration (AppConfig) resources: `id` names the kind and the path
    /// (`application shop`, `version shop/flags/3`): "Application shop not found".
    Config,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", not_found(*kind, id))]
    NotFound { kind: Kind, id: String },
    /// The request contradicts the current state (a name taken, a version in use).
    #[error("{0}")]
    Conflict(String),
    /// A caller's expectation (a revision id) no longer holds.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The input breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The shared store can't be reached (management calls answer 503; the data plane
    /// keeps serving its snapshot).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn not_found(kind: Kind, id: impl Into<String>) -> Error {
        Error::NotFound { kind, id: id.into() }
    }

    /// A function, or one of its versions (`qualifier`).
    pub fn function_not_found(function: &str, qualifier: Option<&str>) -> Error {
        let id = match qualifier {
            Some(q) => format!("{function}:{q}"),
            None => function.to_string(),
        };
        Error::not_found(Kind::Function, id)
    }

    pub fn alias_not_found(function: &str, alias: &str) -> Error {
        Error::not_found(Kind::Alias, format!("{function}:{alias}"))
    }

    pub fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(anyhow::anyhow!("{e}"))
    }
}

fn split(id: &str) -> (&str, Option<&str>) {
    match id.split_once(':') {
        Some((f, q)) => (f, Some(q)),
        None => (id, None),
    }
}

fn not_found(kind: Kind, id: &str) -> String {
    match kind {
        Kind::Function => {
            let (f, q) = split(id);
            format!("Function not found: {}", function_arn(f, q))
        }
        Kind::Alias => {
            let (f, q) = split(id);
            format!("Alias not found: {}", function_arn(f, q))
        }
        Kind::Api => format!("Invalid API identifier specified: {id}"),
        Kind::Route => format!("Invalid route identifier specified: {id}"),
        Kind::Resource => format!("Invalid Resource identifier specified: {id}"),
        Kind::Method => format!("Invalid Method identifier specified: {id}"),
        Kind::Deployment => format!("Invalid Deployment identifier specified: {id}"),
        Kind::Stage => format!("Invalid stage identifier specified: {id}"),
        Kind::CanaryStage => {
            format!("Invalid stage identifier specified: {id} (a canary is deployed to an existing stage)")
        }
        Kind::Canary => format!("Stage {id} has no canary"),
        Kind::Statement => format!("Statement {id} is not found in resource policy."),
        Kind::Key => format!("Key not found: {id}"),
        Kind::Secret => format!("Secret not found: {id}"),
        Kind::Value => format!("Environment value not found: {id}"),
        Kind::Config => {
            let mut text = id.to_string();
            if let Some(first) = text.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{text} not found")
        }
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_messages_keep_their_texts() {
        assert_eq!(Error::function_not_found("f", Some("3")).to_string(), "Function not found: waygate:function:f:3");
        assert_eq!(Error::alias_not_found("f", "live").to_string(), "Alias not found: waygate:function:f:live");
        assert_eq!(Error::not_found(Kind::Api, "abc").to_string(), "Invalid API identifier specified: abc");
    }
}
