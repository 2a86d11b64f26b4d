//! He et al. 2015, "Delving Deep into Rectifiers" (<https://arxiv.org/abs/1502.01852>): in a
//! deep plain ReLU network, Xavier initialization shrinks the signal by 1/sqrt(2) a layer and He
//! initialization keeps it.

use super::{inspect_first_step, rms, std_dev, Error};
use crate::study::{run, Budget, Outcome};
use gradflow::data::Dataset;
use gradflow::prelude::*;
use std::fmt::Write as _;

/// Per hidden layer: the spread of the pre-activations (dense outputs) and the size of the
/// gradient back-propagated to them, at initialization.
#[derive(Clone, Debug, Default)]
pub struct DepthProfile {
    /// Standard deviation of each hidden dense layer's outputs.
    pub forward_std: Vec<f64>,
    /// Root mean square of the loss gradient at each hidden dense layer's outputs.
    pub backward_rms: Vec<f64>,
}

impl DepthProfile {
    /// Geometric mean of the layer-to-layer factor of the forward spread.
    pub fn forward_factor(&self) -> f64 {
        per_layer_factor(&self.forward_std)
    }
    /// Geometric mean of the layer-to-layer factor of the gradient, from the top layer down.
    pub fn backward_factor(&self) -> f64 {
        let down: Vec<f64> = self.backward_rms.iter().rev().copied().collect();
        per_layer_factor(&down)
    }
}

fn per_layer_factor(v: &[f64]) -> f64 {
    match (v.first(), v.last()) {
        (Some(&a), Some(&b)) if v.len() > 1 && a > 0.0 => (b / a).powf(1.0 / (v.len() - 1) as f64),
        _ => f64::NAN,
    }
}

/// Measures a fresh network's [`DepthProfile`] on the first training batch.
pub fn depth_profile<N, const F: usize>(
    make: impl FnOnce(&mut gradflow::Rng) -> Box<N>,
    train: &Dataset<F>,
    seed: u64,
) -> Result<DepthProfile, Error>
where
    N: TrainableNetwork<f32, Input = [f32; F]>,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    inspect_first_step::<N, F, _>(make, train, seed, |cache| {
        let mut profile = DepthProfile::default();
        // The last dense layer is the classifier, not a hidden layer: drop it.
        N::visit_activations(cache, &mut |a| {
            if a.kind == "dense" {
                profile.forward_std.push(std_dev(a.values));
            }
        });
        profile.forward_std.pop();
        N::visit_output_grads(cache, &mut |a| {
            if a.kind == "dense" {
                profile.backward_rms.push(rms(a.values));
            }
        });
        profile
    })
}

/// He et al. 2015 on a deep plain ReLU network: Xavier against He initialization.
pub struct He2015 {
    /// Profile at initialization under Xavier.
    pub xavier: DepthProfile,
    /// Profile at initialization under He.
    pub he: DepthProfile,
    /// Training under Xavier.
    pub xavier_run: Outcome,
    /// Training under He.
    pub he_run: Outcome,
}

/// Runs the He et al. 2015 comparison with networks `X` (Xavier) and `H` (He).
pub fn he2015<X, H>(
    make_x: fn(&mut gradflow::Rng) -> Box<X>,
    make_h: fn(&mut gradflow::Rng) -> Box<H>,
    data: &(Dataset<64>, Dataset<64>),
    budget: &Budget,
) -> Result<He2015, Error>
where
    X: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    H: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
{
    Ok(He2015 {
        xavier: depth_profile(make_x, &data.0, budget.seed)?,
        he: depth_profile(make_h, &data.0, budget.seed)?,
        xavier_run: run("relu + xavier", make_x, data, budget)?,
        he_run: run("relu + he", make_h, data, budget)?,
    })
}

impl He2015 {
    /// The per-layer table and the conclusion.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let layers = self.xavier.forward_std.len();
        let _ = writeln!(
            out,
            "He et al. 2015: {layers} hidden ReLU layers, at initialization"
        );
        let _ = writeln!(
            out,
            "{:>5}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}",
            "layer", "fwd std X", "theory X", "fwd std He", "grad rms X", "grad rms He"
        );
        let s0 = self.xavier.forward_std.first().copied().unwrap_or(f64::NAN);
        for l in 0..layers {
            let theory = s0 * std::f64::consts::FRAC_1_SQRT_2.powi(l as i32);
            let _ = writeln!(
                out,
                "{l:>5}  {:>12.3e}  {theory:>12.3e}  {:>12.3e}  {:>12.3e}  {:>12.3e}",
                self.xavier.forward_std[l],
                self.he.forward_std.get(l).copied().unwrap_or(f64::NAN),
                self.xavier.backward_rms.get(l).copied().unwrap_or(f64::NAN),
                self.he.backward_rms.get(l).copied().unwrap_or(f64::NAN),
            );
        }
        let _ = writeln!(
            out,
            "per-layer factor of the forward spread: Xavier {:.3} (theory 1/sqrt(2) = 0.707: Var(w) = 1/n and ReLU \
             zeroes half the signal), He {:.3} (theory 1)",
            self.xavier.forward_factor(),
            self.he.forward_factor()
        );
        let _ = writeln!(
            out,
            "per-layer factor of the gradient, top layer down: Xavier {:.3} (theory 0.707), He {:.3} (theory 1)",
            self.xavier.backward_factor(),
            self.he.backward_factor()
        );
        let _ = writeln!(
            out,
            "after training: Xavier test accuracy {:.4} (train loss {}), He test accuracy {:.4} (train loss {})",
            self.xavier_run.test_accuracy(),
            crate::study::fmt_loss(self.xavier_run.final_loss()),
            self.he_run.test_accuracy(),
            crate::study::fmt_loss(self.he_run.final_loss())
        );
        out
    }
}
