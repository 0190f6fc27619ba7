//! The percentile bootstrap interval of a change of medians: computed exactly when both sides
//! have an odd number of repetitions, else sampled from a fixed seed, so that every comparison
//! is repeatable.

use super::options::{CONFIDENCE, RESAMPLES, SEED};
use super::rule::{change, ChangeScale};

/// splitmix64: a tiny, fast generator with good statistical quality for resampling.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (n > 0), by multiply-shift.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The percentile bootstrap interval at [`CONFIDENCE`](super::CONFIDENCE) of the change of medians.
pub(super) fn bootstrap_interval(b: &[f64], c: &[f64], scale: ChangeScale) -> [f64; 2] {
    let (rb, rc) = (Resampler::new(b), Resampler::new(c));
    exact_interval(&rb, &rc, scale).unwrap_or_else(|| sampled_interval(&rb, &rc, scale))
}

/// The tails of [`CONFIDENCE`](super::CONFIDENCE): 2.5 % each.
fn tail() -> f64 {
    (1.0 - CONFIDENCE) / 2.0
}

/// The bootstrap interval from every pair of resample medians with its probability, when
/// both counts are odd; `None` otherwise.
fn exact_interval(rb: &Resampler, rc: &Resampler, scale: ChangeScale) -> Option<[f64; 2]> {
    let (pb, pc) = (rb.pmf()?, rc.pmf()?);
    let mut atoms: Vec<(f64, f64)> = Vec::with_capacity(pb.len() * pc.len());
    for (i, p) in pb.iter().enumerate() {
        for (j, q) in pc.iter().enumerate() {
            atoms.push((change(scale, rb.sorted[i], rc.sorted[j]), p * q));
        }
    }
    atoms.sort_by(|x, y| x.0.total_cmp(&y.0));
    // The smallest change whose cumulative probability reaches `level`.
    let at = |level: f64| {
        let mut cumulative = 0.0;
        for (value, p) in &atoms {
            cumulative += p;
            if cumulative >= level - 1e-12 {
                return *value;
            }
        }
        atoms[atoms.len() - 1].0
    };
    Some([at(tail()), at(1.0 - tail())])
}

/// The bootstrap interval from [`RESAMPLES`] resamples drawn from the fixed [`SEED`].
fn sampled_interval(rb: &Resampler, rc: &Resampler, scale: ChangeScale) -> [f64; 2] {
    let mut rng = SplitMix64(SEED);
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let mb = rb.median(&mut rng);
            let mc = rc.median(&mut rng);
            change(scale, mb, mc)
        })
        .collect();
    changes.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = (p * RESAMPLES as f64).ceil() as usize;
        changes[rank.clamp(1, RESAMPLES) - 1]
    };
    [at(tail()), at(1.0 - tail())]
}

/// Draws the median of a resample (with replacement, of the same size) of some values.
///
/// For an odd count `n` the median of a resample is the `i`-th smallest value with a known
/// probability: it is at most the `i`-th smallest iff at least `(n + 1) / 2` of the `n`
/// draws are, so `P(index <= i) = P(Binomial(n, (i + 1) / n) >= (n + 1) / 2)`. Drawing the
/// index from that distribution is the same as drawing the resample and taking its median,
/// with one random number instead of `n`. For an even count the resample is drawn.
struct Resampler {
    sorted: Vec<f64>,
    /// For an odd count: `P(index <= i)` for each index `i`.
    cdf: Option<Vec<f64>>,
}

impl Resampler {
    fn new(values: &[f64]) -> Resampler {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let cdf = (n % 2 == 1).then(|| {
            (0..n)
                .map(|i| binomial_at_least(n, (i + 1) as f64 / n as f64, n.div_ceil(2)))
                .collect()
        });
        Resampler { sorted, cdf }
    }

    /// For an odd count: the probability that a resample's median is each value.
    fn pmf(&self) -> Option<Vec<f64>> {
        let cdf = self.cdf.as_ref()?;
        Some(
            cdf.iter()
                .scan(0.0, |below, p| {
                    let mass = p - *below;
                    *below = *p;
                    Some(mass)
                })
                .collect(),
        )
    }

    fn median(&self, rng: &mut SplitMix64) -> f64 {
        let n = self.sorted.len();
        if let Some(cdf) = &self.cdf {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            let i = cdf.partition_point(|p| *p <= u).min(n - 1);
            return self.sorted[i];
        }
        let mut counts = vec![0u32; n];
        for _ in 0..n {
            counts[rng.below(n)] += 1;
        }
        // The k-th smallest value of the resample, counting from 1.
        let kth = |k: u32| {
            let mut seen = 0;
            for (i, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= k {
                    return self.sorted[i];
                }
            }
            self.sorted[n - 1]
        };
        let half = (n / 2) as u32;
        (kth(half) + kth(half + 1)) / 2.0
    }
}

/// `P(X >= k)` for `X ~ Binomial(n, p)`.
fn binomial_at_least(n: usize, p: f64, k: usize) -> f64 {
    if p >= 1.0 {
        return 1.0;
    }
    let ln_fact: Vec<f64> = std::iter::once(0.0)
        .chain((1..=n).scan(0.0, |acc, i| {
            *acc += (i as f64).ln();
            Some(*acc)
        }))
        .collect();
    (k..=n)
        .map(|j| {
            let ln_choose = ln_fact[n] - ln_fact[j] - ln_fact[n - j];
            (ln_choose + j as f64 * p.ln() + (n - j) as f64 * (1.0 - p).ln()).exp()
        })
        .sum::<f64>()
        .min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Noise;

    #[test]
    fn bootstrap_interval_of_three_is_every_pair_and_repeatable() {
        let b = [100.0, 104.0, 98.0];
        let c = [120.0, 126.0, 119.0];
        let [lo, hi] = bootstrap_interval(&b, &c, ChangeScale::Relative);
        assert!((lo - (119.0 / 104.0 - 1.0)).abs() < 1e-12, "{lo}");
        assert!((hi - (126.0 / 98.0 - 1.0)).abs() < 1e-12, "{hi}");
        assert_eq!(bootstrap_interval(&b, &c, ChangeScale::Relative), [lo, hi]);
        // More repetitions: narrower than every pair.
        let b9: Vec<f64> = (0..9).map(|i| 100.0 + f64::from(i)).collect();
        let c9: Vec<f64> = (0..9).map(|i| 110.0 + f64::from(i)).collect();
        let [lo9, hi9] = bootstrap_interval(&b9, &c9, ChangeScale::Relative);
        assert!(
            lo9 > 110.0 / 108.0 - 1.0 && hi9 < 118.0 / 100.0 - 1.0,
            "{lo9} {hi9}"
        );
        assert!(lo9 < 0.1 && hi9 > 0.09);
    }

    #[test]
    fn exact_and_sampled_bootstrap_agree() {
        let mut noise = Noise::new(42);
        for n in [3usize, 5, 7, 9] {
            for _ in 0..20 {
                let b: Vec<f64> = (0..n).map(|_| noise.jitter(100.0, 0.05)).collect();
                let c: Vec<f64> = (0..n).map(|_| noise.jitter(110.0, 0.05)).collect();
                let (rb, rc) = (Resampler::new(&b), Resampler::new(&c));
                let exact = exact_interval(&rb, &rc, ChangeScale::Relative).unwrap();
                let sampled = sampled_interval(&rb, &rc, ChangeScale::Relative);
                // Both are changes between repetitions; with 4000 resamples a percentile can
                // land on the neighbouring pair, so allow a little.
                for k in 0..2 {
                    assert!(
                        (exact[k] - sampled[k]).abs() < 0.03,
                        "n {n}: exact {exact:?} sampled {sampled:?}"
                    );
                }
            }
        }
        // Even counts have no exact form; they are sampled, repeatably.
        let (rb, rc) = (
            Resampler::new(&[100.0, 103.0, 98.0, 101.0]),
            Resampler::new(&[120.0, 118.0]),
        );
        assert!(exact_interval(&rb, &rc, ChangeScale::Relative).is_none());
        let [lo, hi] = sampled_interval(&rb, &rc, ChangeScale::Relative);
        assert_eq!([lo, hi], sampled_interval(&rb, &rc, ChangeScale::Relative));
        assert!((118.0 / 103.0 - 1.0..0.16).contains(&lo), "{lo}");
        assert!(hi <= 120.0 / 98.0 - 1.0 && hi > 0.2, "{hi}");
        // The median of a resample of one value is that value.
        let one = Resampler::new(&[5.0]);
        assert_eq!(one.pmf(), Some(vec![1.0]));
    }

    #[test]
    fn binomial_tails() {
        assert!((binomial_at_least(3, 1.0 / 3.0, 2) - 7.0 / 27.0).abs() < 1e-12);
        assert!((binomial_at_least(3, 2.0 / 3.0, 2) - 20.0 / 27.0).abs() < 1e-12);
        assert_eq!(binomial_at_least(3, 1.0, 2), 1.0);
        assert!((binomial_at_least(5, 0.2, 3) - 0.05792).abs() < 1e-12);
        // Resample medians of three values: 7/27, 13/27, 7/27.
        let pmf = Resampler::new(&[3.0, 1.0, 2.0]).pmf().unwrap();
        for (p, want) in pmf.iter().zip([7.0 / 27.0, 13.0 / 27.0, 7.0 / 27.0]) {
            assert!((p - want).abs() < 1e-12, "{pmf:?}");
        }
    }
}
