//! Glorot and Bengio 2010, "Understanding the difficulty of training deep feedforward neural
//! networks" (<https://proceedings.mlr.press/v9/glorot10a.html>): the top sigmoid layer saturates
//! under standard initialization; normalized (Xavier) initialization keeps tanh layers' spread.

use super::{inspect_first_step, percentile, Error};
use crate::study::{run_observed, Budget, Outcome, BATCH};
use gradflow::data::Dataset;
use gradflow::nn::diagnostics::SATURATION;
use gradflow::nn::Activations;
use gradflow::prelude::*;
use std::fmt::Write as _;

/// Mean and saturated fraction of each sigmoid layer at one training step.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The step.
    pub step: usize,
    /// Per sigmoid layer: (mean activation, saturated fraction).
    pub layers: Vec<(f64, f64)>,
}

/// Percentiles (10th, 50th, 90th) per layer of activations and back-propagated gradients.
#[derive(Clone, Debug, Default)]
pub struct Spread {
    /// Per hidden layer: activation percentiles.
    pub activations: Vec<[f64; 3]>,
    /// Per hidden layer: percentiles of the gradient at the layer's outputs.
    pub gradients: Vec<[f64; 3]>,
}

impl Spread {
    fn width(p: &[f64; 3]) -> f64 {
        p[2] - p[0]
    }
    /// Spread of the top hidden layer's activations over the first's.
    pub fn activation_ratio(&self) -> f64 {
        match (self.activations.first(), self.activations.last()) {
            (Some(a), Some(b)) => Self::width(b) / Self::width(a),
            _ => f64::NAN,
        }
    }
    /// Spread of the first hidden layer's gradients over the top one's.
    pub fn gradient_ratio(&self) -> f64 {
        match (self.gradients.first(), self.gradients.last()) {
            (Some(a), Some(b)) => Self::width(a) / Self::width(b),
            _ => f64::NAN,
        }
    }
}

/// Glorot and Bengio 2010: sigmoid under standard initialization over training; tanh under
/// standard against normalized (Xavier) initialization at the start.
pub struct Glorot2010 {
    /// Sigmoid layers' mean and saturation through training.
    pub snapshots: Vec<Snapshot>,
    /// Training of the sigmoid network.
    pub sigmoid_run: Outcome,
    /// Spread per layer under standard initialization (tanh).
    pub standard: Spread,
    /// Spread per layer under Xavier initialization (tanh).
    pub normalized: Spread,
}

fn spread<N>(
    make: fn(&mut gradflow::Rng) -> Box<N>,
    train: &Dataset<64>,
    seed: u64,
) -> Result<Spread, Error>
where
    N: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
{
    let pct = |v: &[f32]| {
        let v: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        [
            percentile(&v, 0.1),
            percentile(&v, 0.5),
            percentile(&v, 0.9),
        ]
    };
    inspect_first_step::<N, 64, _>(make, train, seed, |cache| {
        let mut s = Spread::default();
        N::visit_activations(cache, &mut |a| {
            if a.kind == "tanh" || a.kind == "sigmoid" {
                s.activations.push(pct(a.values));
            }
        });
        N::visit_output_grads(cache, &mut |a| {
            if a.kind == "tanh" || a.kind == "sigmoid" {
                s.gradients.push(pct(a.values));
            }
        });
        s
    })
}

/// Runs the Glorot and Bengio comparison: `S` is a sigmoid network with standard
/// initialization, `TS` and `TX` tanh networks with standard and Xavier initialization.
pub fn glorot2010<S, TS, TX>(
    make_sigmoid: fn(&mut gradflow::Rng) -> Box<S>,
    make_standard: fn(&mut gradflow::Rng) -> Box<TS>,
    make_normalized: fn(&mut gradflow::Rng) -> Box<TX>,
    data: &(Dataset<64>, Dataset<64>),
    budget: &Budget,
) -> Result<Glorot2010, Error>
where
    S: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    TS: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    TX: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
{
    let steps_per_epoch = data.0.len() / BATCH;
    let mut snapshots = Vec::new();
    // Every 5 steps in the first epochs, where the top layer moves, then once an epoch.
    let mut observe = |step: usize, cache: &S::Cache<BATCH>| {
        if step.is_multiple_of(5)
            && (step < 3 * steps_per_epoch || step.is_multiple_of(steps_per_epoch))
        {
            let mut layers = Vec::new();
            S::visit_activations(cache, &mut |a: Activations<'_, f32>| {
                if a.kind == "sigmoid" {
                    let n = a.values.len().max(1) as f64;
                    let mean = a.values.iter().map(|&v| v as f64).sum::<f64>() / n;
                    // Saturated as the reports count it: derivative y (1 - y) below
                    // SATURATION of its maximum 1/4 (an output within 0.01 of 0 or 1).
                    let sat = a
                        .values
                        .iter()
                        .filter(|&&y| f64::from(y * (1.0 - y)) < 0.25 * SATURATION)
                        .count() as f64
                        / n;
                    layers.push((mean, sat));
                }
            });
            snapshots.push(Snapshot { step, layers });
        }
    };
    let sigmoid_run = run_observed(
        "sigmoid + standard init",
        make_sigmoid,
        |_, _| {},
        data,
        budget,
        &mut observe,
    )?;
    Ok(Glorot2010 {
        snapshots,
        sigmoid_run,
        standard: spread(make_standard, &data.0, budget.seed)?,
        normalized: spread(make_normalized, &data.0, budget.seed)?,
    })
}

impl Glorot2010 {
    /// Mean activation of the top hidden sigmoid layer at each snapshot.
    pub fn top_layer_means(&self) -> Vec<f64> {
        self.snapshots
            .iter()
            .filter_map(|s| s.layers.last().map(|l| l.0))
            .collect()
    }

    /// The top hidden layer's lowest mean activation over training, against the lowest mean
    /// of the layers below it: the paper's "top hidden layer saturates at 0".
    pub fn top_layer_drop(&self) -> (f64, f64) {
        let top = self
            .top_layer_means()
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        let below = self
            .snapshots
            .iter()
            .flat_map(|s| s.layers.iter().rev().skip(1).map(|l| l.0))
            .fold(f64::INFINITY, f64::min);
        (top, below)
    }

    /// Whether this run shows the paper's finding: the top hidden layer's mean activation
    /// falls below 0.35 at some snapshot while every layer below stays above 0.4.
    pub fn top_layer_saturates(&self) -> bool {
        let (top, below) = self.top_layer_drop();
        top < 0.35 && below > 0.4
    }

    /// The tables and the conclusion.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Glorot and Bengio 2010, sigmoid with standard init U(+-1/sqrt(fan_in)):"
        );
        let _ = writeln!(
            out,
            "mean activation (saturated %) per hidden layer, bottom to top"
        );
        for s in &self.snapshots {
            let _ = write!(out, "step {:>5}:", s.step);
            for (mean, sat) in &s.layers {
                let _ = write!(out, "  {mean:.3} ({:>4.1}%)", 100.0 * sat);
            }
            out.push('\n');
        }
        let (top, below) = self.top_layer_drop();
        // The largest share of the top layer's units in the flat tail (within 0.01 of 0 or 1)
        // at any snapshot: the mean alone does not say they got there.
        let top_saturated = self
            .snapshots
            .iter()
            .filter_map(|s| s.layers.last().map(|l| l.1))
            .fold(0.0, f64::max);
        let finding = match (self.top_layer_saturates(), top_saturated > 0.0) {
            (true, true) => format!(
                "the top hidden layer is driven toward 0, into the sigmoid's flat lower tail (up \
                 to {:.1}% of its units saturated)",
                100.0 * top_saturated
            ),
            (true, false) => {
                "the top hidden layer is driven toward 0, the paper's finding, though \
                 not into the sigmoid's flat tail (no unit saturated)"
                    .to_string()
            }
            (false, _) => {
                "this run does not show the top hidden layer driven toward 0 (below 0.35 \
                 while the layers below stay above 0.4)"
                    .to_string()
            }
        };
        let _ = writeln!(
            out,
            "{finding}: lowest mean {top:.3} for the top hidden layer, {below:.3} for the layers below; \
             test accuracy {:.4}, train loss {}",
            self.sigmoid_run.test_accuracy(),
            crate::study::fmt_loss(self.sigmoid_run.final_loss())
        );
        for (name, s) in [
            ("standard", &self.standard),
            ("normalized (Xavier)", &self.normalized),
        ] {
            let _ = writeln!(
                out,
                "tanh, {name} init, at the start: 10th/50th/90th percentiles per layer"
            );
            for (l, (a, g)) in s.activations.iter().zip(&s.gradients).enumerate() {
                let _ = writeln!(
                    out,
                    "  layer {l}: activations {:>8.3} {:>8.3} {:>8.3}   gradients {:>10.2e} {:>10.2e} {:>10.2e}",
                    a[0], a[1], a[2], g[0], g[1], g[2]
                );
            }
            let _ = writeln!(
                out,
                "  spread of activations, top/bottom layer: {:.3}; spread of gradients, bottom/top layer: {:.3}",
                s.activation_ratio(),
                s.gradient_ratio()
            );
        }
        out
    }
}
