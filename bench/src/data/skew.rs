//! A Zipf-like sampler: item `k` (0-based) is picked with weight `1 / (k + 1)^s`, so a few
//! low-numbered items take a large share and most items are picked rarely.

use rand::Rng;

/// Samples `0..n` with Zipf weights (cumulative table, binary search).
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// A sampler over `0..n` (`n >= 1`) with exponent `s`.
    pub fn new(n: u32, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n.max(1))
            .map(|k| {
                total += 1.0 / f64::from(k + 1).powf(s);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// One item.
    pub fn sample(&self, rng: &mut impl Rng) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.gen::<f64>() * total;
        let index = self.cumulative.partition_point(|&c| c <= x);
        u32::try_from(index.min(self.cumulative.len() - 1)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn the_first_items_take_a_large_share_and_all_stay_in_range() {
        let zipf = Zipf::new(1000, 1.0);
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[zipf.sample(&mut rng) as usize] += 1;
        }
        let top_ten: u32 = counts[..10].iter().sum();
        let bottom_half: u32 = counts[500..].iter().sum();
        assert!(top_ten > 30_000, "top ten took {top_ten}");
        assert!(bottom_half < 15_000, "bottom half took {bottom_half}");
    }
}
