//! SplitMix64: a small generator for check inputs, seeded from the clock where
//! inputs must be fresh and from a fixed seed where two runs must see the same
//! data. Not for anything secret.
//!
//! Not `rand`: a fixed seed here must give the same sequence forever (fit
//! parity's data and initial weights, and the baselines recorded from them,
//! depend on it), and `rand` does not promise its generators' output across
//! releases. Ten lines that never change are the cheaper promise.

pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn seeded(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn from_time() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9);
        SplitMix64(nanos ^ u64::from(std::process::id()) << 32)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 24 random bits (all a float32 holds).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [-1, 1).
    pub fn next_unit(&mut self) -> f32 {
        self.next_f32() * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bounded_and_vary() {
        let mut rng = SplitMix64::seeded(1);
        let units: Vec<f32> = (0..1000).map(|_| rng.next_unit()).collect();
        assert!(units.iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(units.windows(2).any(|w| w[0] != w[1]));
        let fractions: Vec<f32> = (0..1000).map(|_| rng.next_f32()).collect();
        assert!(fractions.iter().all(|v| (0.0..1.0).contains(v)));
    }

    #[test]
    fn a_seed_fixes_the_sequence() {
        let a: Vec<u64> = {
            let mut r = SplitMix64::seeded(42);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SplitMix64::seeded(42);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = SplitMix64::seeded(43);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
