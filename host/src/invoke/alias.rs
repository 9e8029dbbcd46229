//! Weighted aliases: "a simple probabilistic model" (Lambda's words). Each request draws
//! once; the additional version gets `weight` of the traffic, the primary the rest. During
//! a gradual shift the weight is the shift strategy's percentage at the request's time.

use crate::model::VersionId;
use crate::snapshot::AliasSnapshot;
use rand::Rng;

/// A gradual shift's new version and its share of the traffic (0 to 1) at `now_ms`.
pub fn shift_weight(alias: &AliasSnapshot, now_ms: i64) -> Option<(u32, f64)> {
    let shift = alias.shift.as_ref()?;
    let elapsed = u64::try_from(now_ms - shift.started_at_ms).unwrap_or(0);
    Some((shift.to, shift.strategy.percent_at(elapsed) / 100.0))
}

pub fn pick(alias: &AliasSnapshot, rng: &mut impl Rng) -> VersionId {
    // A gradual shift: the new version's share is the strategy's percentage now.
    if let Some((to, weight)) = shift_weight(alias, crate::configuration::now_ms()) {
        if weight >= 1.0 || rng.random::<f64>() < weight {
            return VersionId::Number(to);
        }
        return alias.primary;
    }
    match alias.routing {
        Some(r) if rng.random::<f64>() < r.weight => VersionId::Number(r.version),
        _ => alias.primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AliasRouting;
    use rand::SeedableRng;

    #[test]
    fn split_follows_weight() {
        let a = AliasSnapshot {
            primary: VersionId::Number(1),
            routing: Some(AliasRouting { version: 2, weight: 0.25 }),
            shift: None,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 10_000;
        let extra = (0..n).filter(|_| pick(&a, &mut rng) == VersionId::Number(2)).count();
        assert!((2_250..2_750).contains(&extra), "{extra}");
        let plain = AliasSnapshot { primary: VersionId::Latest, routing: None, shift: None };
        assert_eq!(pick(&plain, &mut rng), VersionId::Latest);
    }
}
