//! Semantic sketches: a text embedding reduced to one bit per dimension, compared by Hamming
//! distance.
//!
//! NOTABLE_WORKS and DREAM_GIG compare a job's embedding with the embeddings of a talent's
//! works and dream gigs. The match index keeps every talent in memory, so a full float vector
//! per part (2 KiB at 512 dimensions, 400 MB for two parts of 100,000 talents) is too dear; a
//! sketch of 512 bits is 64 bytes.
//!
//! A sketch is SimHash with a structured rotation: the vector is padded with zeros to the next
//! power of two `n`, its coordinates' signs flipped by a fixed pseudo-random ±1 pattern, rotated
//! by the (orthogonal) Walsh–Hadamard transform, and each coordinate's sign kept as one bit.
//! Each bit then behaves like the side of a random hyperplane the vector lies on, so two
//! vectors at angle θ differ in about `n·θ/π` bits, and the cosine estimate is
//! `cos(π · hamming / n)`. Its standard error at n = 512 is about 0.05 near the similarities
//! that matter (0.2–0.7); the factors only grade on it, never rank finer than that.
//!
//! Sketches of different lengths (vectors of different dimensions: a model change half done)
//! never compare: [`Sketch::similarity`] answers `None`.

/// A vector's sign sketch, `n` bits in `n / 64` words (n ≥ 64, a power of two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    bits: Box<[u64]>,
}

/// The fixed sign pattern: SplitMix64 of the coordinate's index (the same on every machine
/// and in every version, so stored or shared sketches stay comparable).
fn flip(i: usize) -> bool {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z & 1 == 1
}

/// In-place fast Walsh–Hadamard transform (unnormalised: only signs are read).
fn hadamard(v: &mut [f32]) {
    let n = v.len();
    let mut h = 1;
    while h < n {
        for block in (0..n).step_by(2 * h) {
            for i in block..block + h {
                let (a, b) = (v[i], v[i + h]);
                v[i] = a + b;
                v[i + h] = a - b;
            }
        }
        h *= 2;
    }
}

impl Sketch {
    /// The sketch of `vector`; None for an empty vector or one with a non-finite coordinate.
    pub fn new(vector: &[f32]) -> Option<Sketch> {
        if vector.is_empty() || vector.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = vector.len().next_power_of_two().max(64);
        let mut v = vec![0.0f32; n];
        for (i, (slot, x)) in v.iter_mut().zip(vector).enumerate() {
            *slot = if flip(i) { -x } else { *x };
        }
        hadamard(&mut v);
        let mut bits = vec![0u64; n / 64];
        for (i, x) in v.iter().enumerate() {
            if *x > 0.0 {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        Some(Sketch {
            bits: bits.into_boxed_slice(),
        })
    }

    /// Estimated cosine similarity in -1..=1 (None when the lengths differ).
    pub fn similarity(&self, other: &Sketch) -> Option<f32> {
        if self.bits.len() != other.bits.len() {
            return None;
        }
        let differing: u32 = self
            .bits
            .iter()
            .zip(other.bits.iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        let n = (self.bits.len() * 64) as f32;
        Some((std::f32::consts::PI * differing as f32 / n).cos())
    }

    /// Bytes on the heap.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.bits)
    }
}

/// Similarity where a semantic part counts nothing.
pub const SIMILARITY_FLOOR: f32 = 0.25;
/// Similarity where a semantic part counts fully.
pub const SIMILARITY_FULL: f32 = 0.65;

/// A similarity graded into 0..=1: 0 up to [`SIMILARITY_FLOOR`], linear to 1 at
/// [`SIMILARITY_FULL`]. Embedding models put unrelated texts around 0–0.2 and texts about the
/// same thing from about 0.5 up.
pub fn closeness(similarity: f32) -> f32 {
    ((similarity - SIMILARITY_FLOOR) / (SIMILARITY_FULL - SIMILARITY_FLOOR)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random unit vector.
    fn vector(seed: u64, dims: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let v: Vec<f32> = (0..dims)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (na * nb)
    }

    /// `a` moved towards `b` so the two have roughly the cosine asked for.
    fn blend(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
        a.iter()
            .zip(b)
            .map(|(x, y)| (1.0 - t) * x + t * y)
            .collect()
    }

    #[test]
    fn the_estimate_follows_the_true_cosine() {
        let mut worst = 0.0f32;
        for seed in 0..200 {
            let a = vector(seed, 512);
            let b = vector(seed + 10_000, 512);
            let t = (seed % 10) as f32 / 10.0;
            let c = blend(&a, &b, t);
            let truth = cosine(&a, &c);
            let estimate = Sketch::new(&a)
                .unwrap()
                .similarity(&Sketch::new(&c).unwrap())
                .unwrap();
            worst = worst.max((truth - estimate).abs());
        }
        // About 3.5 standard errors at n = 512.
        assert!(worst < 0.2, "worst error {worst}");
    }

    #[test]
    fn identical_vectors_are_fully_similar_and_opposite_ones_not_at_all() {
        let a = vector(7, 300);
        let s = Sketch::new(&a).unwrap();
        assert_eq!(s.similarity(&s), Some(1.0));
        let neg: Vec<f32> = a.iter().map(|x| -x).collect();
        let sim = s.similarity(&Sketch::new(&neg).unwrap()).unwrap();
        assert!(sim < -0.99, "{sim}");
        // 300 dimensions pad to 512 bits.
        assert_eq!(s.heap_bytes(), 64);
    }

    #[test]
    fn sketches_of_other_lengths_and_broken_vectors_do_not_compare() {
        let a = Sketch::new(&vector(1, 512)).unwrap();
        let b = Sketch::new(&vector(1, 1536)).unwrap();
        assert_eq!(a.similarity(&b), None);
        assert_eq!(Sketch::new(&[]), None);
        assert_eq!(Sketch::new(&[1.0, f32::NAN]), None);
    }

    #[test]
    fn closeness_is_graded_between_the_floor_and_full() {
        assert_eq!(closeness(0.1), 0.0);
        assert_eq!(closeness(SIMILARITY_FLOOR), 0.0);
        assert!((closeness(0.45) - 0.5).abs() < 1e-6);
        assert_eq!(closeness(0.9), 1.0);
    }
}
