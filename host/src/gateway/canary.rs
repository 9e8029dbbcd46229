//! Canary pick: a request goes to the stage's canary with the configured probability.
//! Everything a side serves was resolved when the snapshot was built, so the pick is one
//! random number.

use super::stage::{Serving, StageSnapshot};
use rand::Rng;

/// The side serving this request, and whether it is the canary.
pub fn pick<'a>(stage: &'a StageSnapshot, rng: &mut impl Rng) -> (&'a Serving, bool) {
    match &stage.canary {
        // random() is in [0, 1): 0 % never and 100 % always picks the canary.
        Some(c) if rng.random::<f64>() * 100.0 < c.percent_traffic => (&c.serving, true),
        _ => (&stage.main, false),
    }
}
