//! Lambda's asynchronous invocations (`X-Amz-Invocation-Type: Event`): accepted at once
//! (202), run in the background from a bounded in-memory queue, retried as Lambda retries
//! asynchronous invocations: after a function error or a throttle, twice more, the first
//! retry after `--event-retry-delay-ms` (Lambda: 1 minute) and the second after twice
//! that. Every attempt keeps the request id, so its START/END/REPORT lines in the logs
//! API name one invocation. A full queue answers 429 `TooManyRequestsException`.
//!
//! The queue is memory only: events still queued when the server stops are lost (Lambda
//! keeps them up to 6 hours). That is documented with the façade.

use crate::control::error::ApiError;
use crate::control::AppState;
use crate::model::{FunctionName, Qualifier};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Events queued or running at once; the next one is refused with 429.
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// Attempts per event: the first and Lambda's two retries.
pub const ATTEMPTS: u32 = 3;

/// The bounded queue: a permit per queued or running event.
pub struct EventQueue {
    slots: Arc<Semaphore>,
    /// Delay before the first retry; the second waits twice as long.
    retry_delay: Duration,
}

impl EventQueue {
    pub fn new(retry_delay: Duration) -> Self {
        EventQueue { slots: Arc::new(Semaphore::new(MAX_QUEUED_EVENTS)), retry_delay }
    }

    /// Events queued or running now.
    pub fn len(&self) -> usize {
        MAX_QUEUED_EVENTS - self.slots.available_permits()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Queues one event; the caller has been authorized and answers 202.
pub fn enqueue(
    p: &AppState,
    name: FunctionName,
    qualifier: Qualifier,
    payload: bytes::Bytes,
    request_id: &str,
) -> Result<(), ApiError> {
    // The qualifier must resolve now: a missing function is the caller's error, not a
    // background failure nobody sees.
    crate::invoke::resolve(&p.data_plane().snapshot(), &name, &qualifier)?;
    let permit = p.events.slots.clone().try_acquire_owned().map_err(|_| ApiError::TooManyRequests)?;
    let (p, request_id) = (p.clone(), request_id.to_string());
    tokio::spawn(async move {
        let _permit = permit;
        let mut delay = p.events.retry_delay;
        for attempt in 1..=ATTEMPTS {
            let done =
                crate::control::invoke::execute(&p, &name, &qualifier, "default", None, payload.clone(), &request_id)
                    .await;
            let retry = match &done {
                Ok(d) => d.outcome.error.is_some(),
                Err(ApiError::TooManyRequests | ApiError::ReservedConcurrencyExceeded) => true,
                // The function or its code went away, or its configuration can't be met:
                // retrying would fail the same way.
                Err(_) => false,
            };
            if !retry || attempt == ATTEMPTS {
                if let Err(e) = &done {
                    tracing::warn!(function = %name, %request_id, error = %e, "asynchronous invocation failed");
                } else if retry {
                    tracing::warn!(function = %name, %request_id, "asynchronous invocation failed after {ATTEMPTS} attempts");
                }
                return;
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    });
    Ok(())
}
