//! Use cases: one function per management action, over domain types. Each validates its
//! input, checks the rules against the current state and writes — the check and the
//! write in one store transaction — and publishes the new routing snapshot, through the
//! one commit path [`Platform::commit`]. The management API's handlers (`control`), the
//! bundled examples of `waygate up` (`examples`) and the edges still to come (an
//! AWS-compatible façade, plan/apply) call these functions; none of them writes to the
//! store or holds a rule of its own.
//!
//! Errors are [`Error`]s (typed: `NotFound { kind, id }`, conflicts, preconditions,
//! invalid input); each edge maps them to its status codes in one place.
//!
//! Reads go through here too (`get`, `list`), so a not-found answer has one shape
//! whichever edge asks.

pub mod alias_shifts;
pub mod aliases;
pub mod apis;
pub mod appconfig;
pub mod audit;
pub mod code;
pub mod deployments;
pub mod functions;
pub mod keys;
pub mod permissions;
pub mod resources;
pub mod rollouts;
pub mod secrets;
pub mod stages;
pub mod values;
pub mod versions;

pub use crate::model::error::{Error, Kind, Result};
pub use crate::platform::Platform;

/// `value`, or `NotFound { kind, id }`.
fn found<T>(value: Option<T>, kind: Kind, id: impl Into<String>) -> Result<T> {
    value.ok_or_else(|| Error::not_found(kind, id))
}

/// Descriptions: at most `max` characters.
fn check_description(description: &str, max: usize) -> Result<()> {
    if description.chars().count() > max {
        return Err(Error::Invalid(format!("description is too long: at most {max} characters")));
    }
    Ok(())
}
