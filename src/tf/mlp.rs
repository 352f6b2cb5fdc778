//! The model of the classic TensorFlow GPU smoke test, as plain data: Dense
//! 784→128 (ReLU), Dense 128→10 (softmax), sparse labels. Inputs, labels and
//! initial weights come from a seed, so a CPU run and a GPU run start from
//! exactly the same numbers. No TensorFlow here; the graph is in `fit.rs`.

use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};

pub const INPUTS: usize = 784;
pub const HIDDEN: usize = 128;
pub const CLASSES: usize = 10;

/// The model's parameters, row-major, in the order `w1, b1, w2, b2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
}

impl Weights {
    /// Keras' defaults: Glorot-uniform kernels, zero biases.
    pub fn glorot(rng: &mut SplitMix64) -> Self {
        let mut kernel = |fan_in: usize, fan_out: usize| -> Vec<f32> {
            let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
            (0..fan_in * fan_out)
                .map(|_| rng.next_unit() * limit)
                .collect()
        };
        let w1 = kernel(INPUTS, HIDDEN);
        let w2 = kernel(HIDDEN, CLASSES);
        Weights {
            w1,
            b1: vec![0.0; HIDDEN],
            w2,
            b2: vec![0.0; CLASSES],
        }
    }

    /// Every parameter, for element-wise comparison.
    pub fn flat(&self) -> impl Iterator<Item = f32> + '_ {
        self.w1
            .iter()
            .chain(&self.b1)
            .chain(&self.w2)
            .chain(&self.b2)
            .copied()
    }

    pub fn count(&self) -> usize {
        self.w1.len() + self.b1.len() + self.w2.len() + self.b2.len()
    }
}

/// What one training run is given: data in batches, starting weights and
/// Adam's hyper-parameters (Keras' defaults but for the step count).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub batch: usize,
    pub steps: usize,
    /// `batches × batch × INPUTS`, in [0, 1) like scaled pixels.
    pub inputs: Vec<f32>,
    /// `batches × batch`, each in 0..CLASSES.
    pub labels: Vec<i32>,
    pub initial: Weights,
    pub learning_rate: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
}

/// Distinct batches the steps cycle through: enough that the model cannot
/// fit one batch and stall, few enough to keep the data small.
const BATCHES: usize = 4;

impl Problem {
    /// Labels come from a fixed random linear "teacher", so there is a pattern
    /// to learn and the loss falls: a run whose loss does not fall is broken.
    pub fn generate(seed: u64, batch: usize, steps: usize, learning_rate: f32) -> Self {
        let mut rng = SplitMix64::seeded(seed);
        let initial = Weights::glorot(&mut rng);
        let teacher: Vec<f32> = (0..INPUTS * CLASSES).map(|_| rng.next_unit()).collect();
        let samples = BATCHES * batch;
        let inputs: Vec<f32> = (0..samples * INPUTS).map(|_| rng.next_f32()).collect();
        let labels = inputs
            .chunks(INPUTS)
            .map(|x| {
                // Centred, so that no class wins merely by its column's sum.
                let score = |c: usize| -> f32 {
                    (0..INPUTS)
                        .map(|i| (x[i] - 0.5) * teacher[i * CLASSES + c])
                        .sum()
                };
                (0..CLASSES)
                    .map(|c| (c, score(c)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(0, |(c, _)| c as i32)
            })
            .collect();
        Problem {
            batch,
            steps,
            inputs,
            labels,
            initial,
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// The inputs and labels of step `step` (0-based).
    pub fn batch_of(&self, step: usize) -> (&[f32], &[i32]) {
        let b = step % (self.labels.len() / self.batch);
        (
            &self.inputs[b * self.batch * INPUTS..(b + 1) * self.batch * INPUTS],
            &self.labels[b * self.batch..(b + 1) * self.batch],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_problem() {
        let a = Problem::generate(7, 8, 3, 1e-3);
        assert_eq!(a, Problem::generate(7, 8, 3, 1e-3));
        assert_ne!(a.inputs, Problem::generate(8, 8, 3, 1e-3).inputs);
    }

    #[test]
    fn shapes_and_ranges_fit_the_model() {
        let p = Problem::generate(1, 16, 5, 1e-3);
        assert_eq!(p.inputs.len(), BATCHES * 16 * INPUTS);
        assert_eq!(p.labels.len(), BATCHES * 16);
        assert!(p.inputs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(p.labels.iter().all(|l| (0..CLASSES as i32).contains(l)));
        assert_eq!(p.initial.count(), 784 * 128 + 128 + 128 * 10 + 10);
        let limit = (6.0f32 / (784.0 + 128.0)).sqrt();
        assert!(p.initial.w1.iter().all(|w| w.abs() <= limit));
        assert!(p.initial.b1.iter().all(|b| *b == 0.0));
        // A teacher-made labelling uses more than one class.
        assert!(p.labels.iter().any(|l| *l != p.labels[0]));
    }

    #[test]
    fn steps_cycle_through_the_batches() {
        let p = Problem::generate(1, 4, 9, 1e-3);
        assert_eq!(p.batch_of(0), p.batch_of(BATCHES));
        assert_ne!(p.batch_of(0).0, p.batch_of(1).0);
        assert_eq!(p.batch_of(3).1.len(), 4);
    }
}
