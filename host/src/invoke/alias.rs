//! Weighted aliases: "a simple probabilistic model" (Lambda's words). Each request draws
//! once; the additional version gets `weight` of the traffic, the primary the rest.

use crate::model::VersionId;
use crate::snapshot::AliasSnapshot;
use rand::Rng;

pub fn pick(alias: &AliasSnapshot, rng: &mut impl Rng) -> VersionId {
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
        let a =
            AliasSnapshot { primary: VersionId::Number(1), routing: Some(AliasRouting { version: 2, weight: 0.25 }) };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 10_000;
        let extra = (0..n).filter(|_| pick(&a, &mut rng) == VersionId::Number(2)).count();
        assert!((2_250..2_750).contains(&extra), "{extra}");
        let plain = AliasSnapshot { primary: VersionId::Latest, routing: None };
        assert_eq!(pick(&plain, &mut rng), VersionId::Latest);
    }
}
