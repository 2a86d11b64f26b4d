//! The stethoscope: per-layer gradient health for one training step, and a verdict in words.
//!
//! A [`GradientReport`] has one row per layer of the `network!` list (a dense layer together
//! with its batchnorm and activation): gradient and weight L2 norms, the update-to-weight
//! ratio of the optimizer step, the mean and spread of the layer's outputs, the fraction of
//! dead ReLU units and of saturated sigmoid/tanh units. [`GradientReport::verdict`] says which
//! layers' gradients vanish or explode and which cure applies.
//!
//! Nothing here runs unless asked: the plain training step never computes a report.

use crate::layer::TensorKind;
use crate::network::{Activations, TrainableNetwork};
use crate::optim::l2_norm;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use gradflow_tensor::{sq, Scalar};

/// One row of a [`GradientReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct LayerHealth {
    /// Index of the layer item in the `network!` list.
    pub index: usize,
    /// The layer's parts, joined (`"dense+batchnorm+relu"`).
    pub kind: String,
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Number of trainable values (0 for a layer without any, or a frozen one).
    pub params: usize,
    /// L2 norm of the gradients of the layer's trainable tensors (0 without any).
    pub grad_norm: f64,
    /// L2 norm of the layer's trainable tensors.
    pub weight_norm: f64,
    /// Fan-in of the layer's `weight` tensor: the values feeding one output unit (a dense
    /// layer's inputs, a convolution's `k * k * channels`); 0 without a `weight` tensor.
    pub fan_in: usize,
    /// Root mean square of the `weight` tensor's values (biases and batchnorm left out): the
    /// scale initializers set, `sqrt(2 / fan_in)` for He's.
    pub weight_rms: f64,
    /// `||update|| / ||weights||` of the last optimizer step, once recorded.
    pub update_ratio: Option<f64>,
    /// Mean of the layer's outputs over the batch.
    pub activation_mean: f64,
    /// Standard deviation of the layer's outputs over the batch.
    pub activation_std: f64,
    /// Spread across the batch (and a feature map's positions) of each unit's output, root
    /// mean square over the units: the part of `activation_std` that tells samples apart,
    /// without the differences between units. A layer whose every unit gives the same value
    /// for every sample has 0 here however different its units are. 0 for a vector layer at
    /// batch 1 (one value per unit).
    pub sample_std: f64,
    /// For ReLU layers: fraction of units (a vector's outputs, a feature map's channels)
    /// whose output is zero for every sample of the batch and every position of a feature
    /// map. `None` when each unit has one value, a vector layer at batch 1: about half of a
    /// healthy layer's units are then 0.
    pub dead_fraction: Option<f64>,
    /// For sigmoid and tanh layers: fraction of units (as for `dead_fraction`) whose
    /// derivative, averaged over the batch and a feature map's positions, is below
    /// [`SATURATION`] of its maximum.
    pub saturated_fraction: Option<f64>,
}

/// Per-layer gradient health at one training step.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientReport {
    /// The training step (counting from 0) the report was taken at.
    pub step: usize,
    /// One row per layer item, in order.
    pub layers: Vec<LayerHealth>,
    /// Whether the batch was one input repeated (two or more samples, all equal, such as
    /// `[[0.5; 8]; 4]`): no unit then varies across samples, so dead units are judged as at
    /// batch 1 (not at all on a vector layer), and in a network with batchnorm, which
    /// normalizes every unit to 0, the verdict names the batch ([`Finding::SameSamples`]) and
    /// keeps only exploding or NaN gradients beside it.
    pub same_samples: bool,
}

/// A derivative below this fraction of its maximum counts as saturated: `4 x 0.01 x 0.99`,
/// the derivative's share where the output lies within 1% of the function's range from a
/// bound, a sigmoid above 0.99 or below 0.01 and a tanh beyond +-0.98 alike (the outputs
/// Glorot and Bengio 2010 call saturated). There a unit passes under 4% of the gradient it
/// passes at its centre.
pub const SATURATION: f64 = 4.0 * 0.01 * 0.99;

struct ActivationStats {
    mean: f64,
    std: f64,
    sample_std: f64,
    dead: Option<f64>,
    saturated: Option<f64>,
}

/// `copies`: how many times the batch repeats one input (the batch size when every sample
/// is the same, otherwise 1), so that a unit's values are counted as the distinct inputs give
/// them.
fn activation_stats<T: Scalar>(a: &Activations<'_, T>, copies: usize) -> ActivationStats {
    let n = a.values.len().max(1) as f64;
    let mean = a.values.iter().map(|v| v.to_f64()).sum::<f64>() / n;
    let var = a.values.iter().map(|v| sq(v.to_f64() - mean)).sum::<f64>() / n;
    // A unit is a vector layer's output or a feature map's channel, whose values are every
    // `units`-th one (channels-last) over all positions and samples.
    let units = a.units.max(1);
    // Values of one unit: its samples, times a feature map's positions.
    let per_unit = (a.values.len() / units).max(1) as f64;
    // With one value per unit (a vector layer at batch 1) about half of a healthy layer's
    // ReLUs output 0: a unit at 0 says nothing about its other inputs, so none is called dead.
    // So does a batch of one input repeated: its units have one value per position.
    let dead = (a.kind == "relu" && a.values.len() / units / copies.max(1) >= 2).then(|| {
        let dead_units = (0..units)
            .filter(|&j| {
                a.values
                    .iter()
                    .skip(j)
                    .step_by(units)
                    .all(|v| *v == T::ZERO)
            })
            .count();
        dead_units as f64 / units as f64
    });
    let derivative_ratio = |y: f64| match a.kind {
        "sigmoid" => Some(y * (1.0 - y) / 0.25),
        "tanh" => Some(1.0 - y * y),
        _ => None,
    };
    // A unit is saturated when its derivative, averaged over the batch, is below SATURATION of
    // its maximum: it then passes almost no gradient for any sample.
    let saturated = derivative_ratio(0.5).map(|_| {
        let count = (0..units)
            .filter(|&j| {
                let total: f64 = a
                    .values
                    .iter()
                    .skip(j)
                    .step_by(units)
                    .filter_map(|v| derivative_ratio(v.to_f64()))
                    .sum();
                total / per_unit < SATURATION
            })
            .count();
        count as f64 / units as f64
    });
    // Each unit's variance over its own values (samples and positions), averaged over units.
    let within = (0..units)
        .map(|j| {
            let values = || a.values.iter().skip(j).step_by(units).map(|v| v.to_f64());
            let unit_mean = values().sum::<f64>() / per_unit;
            values().map(|v| sq(v - unit_mean)).sum::<f64>() / per_unit
        })
        .sum::<f64>()
        / units as f64;
    ActivationStats {
        mean,
        std: libm::sqrt(var),
        sample_std: libm::sqrt(within),
        dead,
        saturated,
    }
}

fn index_of<T: Scalar, N: TrainableNetwork<T>>(layer: &str) -> Option<usize> {
    N::LAYERS.iter().find(|l| l.name == layer).map(|l| l.index)
}

impl GradientReport {
    /// Measures a network after `backward` (and before the optimizer step) from its cache and
    /// gradients. Gradients that `backward` did not write (not run, or zeroed after it) are
    /// all exactly 0, which the verdict names (`no gradient: ...`) rather than taking it for
    /// a minimum.
    ///
    /// # Panics
    /// If `cache` has not been through `forward_train`: its zeros would read as dead units and
    /// vanished gradients, a diagnosis of nothing.
    pub fn capture<T, N, const B: usize>(
        step: usize,
        net: &mut N,
        cache: &N::Cache<B>,
        grads: &N::Grads,
    ) -> Self
    where
        T: Scalar,
        N: TrainableNetwork<T>,
    {
        assert!(
            N::cache_filled(cache),
            "GradientReport::capture needs a cache that forward_train has filled (then backward, into the gradients it is given); this one is as it was created"
        );
        let mut layers: Vec<LayerHealth> = Vec::new();
        for info in N::LAYERS {
            match layers.last_mut() {
                Some(row) if row.index == info.index => {
                    row.kind.push('+');
                    row.kind.push_str(info.kind);
                    row.outputs = info.outputs;
                }
                _ => layers.push(LayerHealth {
                    index: info.index,
                    kind: String::from(info.kind),
                    inputs: info.inputs,
                    outputs: info.outputs,
                    params: 0,
                    grad_norm: 0.0,
                    weight_norm: 0.0,
                    fan_in: 0,
                    weight_rms: 0.0,
                    update_ratio: None,
                    activation_mean: 0.0,
                    activation_std: 0.0,
                    sample_std: 0.0,
                    dead_fraction: None,
                    saturated_fraction: None,
                }),
            }
        }
        let row = |layers: &mut Vec<LayerHealth>, name: &str| -> Option<usize> {
            let index = index_of::<T, N>(name)?;
            layers.iter().position(|r| r.index == index)
        };
        net.visit_params::<0>(grads, [], &mut |p| {
            if let Some(r) = row(&mut layers, p.layer) {
                layers[r].params += p.value.len();
            }
        });
        // Each layer's norms as the optimizer measures the global one (finite for f64 values
        // whose squares overflow).
        for l in &mut layers {
            let own = |name: &str| index_of::<T, N>(name) == Some(l.index);
            l.grad_norm = l2_norm(|f| {
                net.visit_params::<0>(grads, [], &mut |p| {
                    if own(p.layer) {
                        f(p.grad);
                    }
                })
            });
            l.weight_norm = l2_norm(|f| {
                net.visit_params::<0>(grads, [], &mut |p| {
                    if own(p.layer) {
                        f(p.value);
                    }
                })
            });
        }
        net.visit_tensors(&mut |t| {
            let outputs = t.shape.last().copied().unwrap_or(0);
            if t.name != "weight" || t.kind == TensorKind::Statistic || outputs == 0 {
                return;
            }
            if let Some(r) = row(&mut layers, t.layer) {
                let sum = t.data.iter().map(|w| sq(w.to_f64())).sum::<f64>();
                layers[r].fan_in = t.data.len() / outputs;
                layers[r].weight_rms = libm::sqrt(sum / t.data.len().max(1) as f64);
            }
        });
        let x = N::cached_input(cache);
        let same_samples = B >= 2
            && N::INPUT > 0
            && x.len() == B * N::INPUT
            && x.chunks_exact(N::INPUT)
                .all(|sample| sample == &x[..N::INPUT]);
        // The last part of a layer item (its activation) describes what the next layer sees;
        // a ReLU or sigmoid part anywhere in the item gives the dead or saturated fraction.
        N::visit_activations(cache, &mut |a| {
            if let Some(r) = row(&mut layers, a.layer) {
                let stats = activation_stats(&a, if same_samples { B } else { 1 });
                let l = &mut layers[r];
                l.activation_mean = stats.mean;
                l.activation_std = stats.std;
                l.sample_std = stats.sample_std;
                l.dead_fraction = stats.dead.or(l.dead_fraction);
                l.saturated_fraction = stats.saturated.or(l.saturated_fraction);
            }
        });
        GradientReport {
            step,
            layers,
            same_samples,
        }
    }

    /// Fills in the update-to-weight ratios from the trainable parameters before the step
    /// (see [`snapshot`]) and the network after it.
    pub fn record_update<T: Scalar, N: TrainableNetwork<T>>(
        &mut self,
        before: &[T],
        net: &mut N,
        grads: &N::Grads,
    ) {
        let mut update = Vec::new();
        update.resize(self.layers.len(), 0.0f64);
        let mut offset = 0;
        net.visit_params::<0>(grads, [], &mut |p| {
            let old = before.get(offset..offset + p.value.len());
            offset += p.value.len();
            let (Some(old), Some(index)) = (old, index_of::<T, N>(p.layer)) else {
                return;
            };
            if let Some(r) = self.layers.iter().position(|l| l.index == index) {
                update[r] += p
                    .value
                    .iter()
                    .zip(old)
                    .map(|(w, o)| sq(w.to_f64() - o.to_f64()))
                    .sum::<f64>();
            }
        });
        for (l, u) in self.layers.iter_mut().zip(update) {
            if l.weight_norm > 0.0 {
                l.update_ratio = Some(libm::sqrt(u) / l.weight_norm);
            }
        }
    }

    /// Ratio of the first to the last layer's gradient norm, among layers with trainable
    /// parameters. Far below 1: the gradient vanishes on its way down. `None` when there is no
    /// ratio to read: fewer than two such layers, a last layer whose gradient is exactly 0, or
    /// a norm that is NaN or infinite (`Some(NaN)` would pass a `ratio < 1e-4` check).
    pub fn first_to_last_ratio(&self) -> Option<f64> {
        let mut with_params = self.layers.iter().filter(|l| l.params > 0);
        let first = with_params.next()?;
        let last = with_params.next_back()?;
        let ratio = first.grad_norm / last.grad_norm;
        (first.grad_norm.is_finite() && last.grad_norm.is_finite() && last.grad_norm > 0.0)
            .then_some(ratio)
    }

    /// The diagnosis in words, with default thresholds.
    pub fn verdict(&self) -> Verdict {
        self.verdict_with(&Thresholds::default())
    }

    /// The diagnosis in words.
    ///
    /// # Panics
    /// If a threshold is outside its range ([`Thresholds::validate`] names it): a negative
    /// `exploding_norm` would otherwise call every layer exploding.
    pub fn verdict_with(&self, t: &Thresholds) -> Verdict {
        if let Err(e) = t.validate() {
            panic!("{e}");
        }
        crate::verdict::diagnose(self, t)
    }
}

/// Takes a copy of a network's trainable parameters, for [`GradientReport::record_update`].
pub fn snapshot<T: Scalar, N: TrainableNetwork<T>>(net: &mut N, grads: &N::Grads) -> Vec<T> {
    let mut out = Vec::new();
    net.visit_params::<0>(grads, [], &mut |p| out.extend_from_slice(p.value));
    out
}

pub use crate::verdict::{Cure, Finding, InvalidThreshold, Thresholds, Verdict};

impl fmt::Display for GradientReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<f64>, pct: bool| match v {
            Some(v) if pct => alloc::format!("{:.1}%", 100.0 * v),
            Some(v) => alloc::format!("{v:.2e}"),
            None => String::from("-"),
        };
        let kind_width = self
            .layers
            .iter()
            .map(|l| l.kind.len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(f, "gradient report at step {}", self.step)?;
        writeln!(
            f,
            "{:>5}  {:<kind_width$}  {:>11}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:>10}  {:>6}  {:>9}",
            "layer",
            "kind",
            "shape",
            "grad norm",
            "weight",
            "upd/wt",
            "act mean",
            "act std",
            "sample std",
            "dead",
            "saturated"
        )?;
        for l in &self.layers {
            let shape = alloc::format!("{}->{}", l.inputs, l.outputs);
            // A layer with weights but nothing trainable is frozen: its norms, which count
            // trainable tensors only, would read 0 as if its weights were.
            let (grad, weight) = if l.params == 0 && l.fan_in > 0 {
                (String::from("-"), String::from("frozen"))
            } else {
                (
                    alloc::format!("{:.3e}", l.grad_norm),
                    alloc::format!("{:.3e}", l.weight_norm),
                )
            };
            writeln!(
                f,
                "{:>5}  {:<kind_width$}  {:>11}  {:>10}  {:>10}  {:>10}  {:>9.3}  {:>9.3}  {:>10.2e}  {:>6}  {:>9}",
                l.index,
                l.kind,
                shape,
                grad,
                weight,
                opt(l.update_ratio, false),
                l.activation_mean,
                l.activation_std,
                l.sample_std,
                opt(l.dead_fraction, true),
                opt(l.saturated_fraction, true),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spread over all values counts the differences between units; the spread across
    /// samples only what tells samples apart, per unit (a feature map's channel over its
    /// positions too).
    #[test]
    fn the_spread_across_samples_leaves_out_the_differences_between_units() {
        let stats = |values: &[f32], width: usize, units: usize| {
            activation_stats(
                &Activations {
                    layer: "dense_0",
                    kind: "dense",
                    width,
                    units,
                    values,
                },
                1,
            )
        };
        // Two samples, two units at 1 and 2 for both: spread 0.5 over all, 0 across samples.
        let s = stats(&[1.0, 2.0, 1.0, 2.0], 2, 2);
        assert_eq!((s.std, s.sample_std), (0.5, 0.0));
        // Unit 0 at 1 and 3 (variance 1), unit 1 at 2 both times (0): sqrt(1/2).
        let s = stats(&[1.0, 2.0, 3.0, 2.0], 2, 2);
        assert!((s.sample_std - libm::sqrt(0.5)).abs() < 1e-12);
        // A feature map of one sample, 2 positions x 2 channels: channel 0 at 0 and 2
        // (variance 1), channel 1 at 5 and 5.
        let s = stats(&[0.0, 5.0, 2.0, 5.0], 4, 2);
        assert!((s.sample_std - libm::sqrt(0.5)).abs() < 1e-12);
    }
}
