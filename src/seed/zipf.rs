//! Draws by rank: the item of rank r (from 1) drawn with probability ∝ 1 / r^s, the law real
//! name and word frequencies roughly follow.

use rand::rngs::StdRng;
use rand::Rng;

/// A Zipf-like draw over `n` ranks.
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// Ranks `0..n` (0 the most frequent), exponent `s` (0: uniform; about 1: natural
    /// language's words).
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n.max(1))
            .map(|r| {
                total += (r as f64).powf(-s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.gen_range(0.0..total);
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }

    /// An index of `weights` drawn in proportion to its weight.
    pub fn pick_weighted(weights: &[f64], rng: &mut StdRng) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = rng.gen_range(0.0..total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_first_ranks_come_most_often_and_every_rank_can_come() {
        let zipf = Zipf::new(100, 1.0);
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = [0usize; 100];
        for _ in 0..200_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        // Rank 1 is drawn about twice as often as rank 2 and ten times as often as rank 10.
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((1.8..2.2).contains(&ratio), "{ratio}");
        let ratio = counts[0] as f64 / counts[9] as f64;
        assert!((8.5..11.5).contains(&ratio), "{ratio}");
        assert!(counts.iter().all(|&c| c > 0));
    }
}
