//! Ioffe and Szegedy 2015, "Batch Normalization" (<https://arxiv.org/abs/1502.03167>): how far
//! the inputs of the last hidden sigmoids drift over training, without and with batchnorm.

use super::{percentile, Error};
use crate::study::{fmt_decimals, run_observed, Budget, Outcome, BATCH};
use gradflow::data::Dataset;
use gradflow::prelude::*;
use std::fmt::Write as _;

/// The 15th, 50th and 85th percentiles of the inputs of the last hidden layer's sigmoids,
/// unit by unit, over training.
#[derive(Clone, Debug, Default)]
pub struct InputDrift {
    /// `(step, per unit [p15, p50, p85])`.
    pub points: Vec<(usize, Vec<[f64; 3]>)>,
}

impl InputDrift {
    /// How far one unit's input distribution moves over training, in units of its initial
    /// spread: for each percentile, the distance between its average over the first three
    /// recorded steps and over the last quarter, averaged over the three percentiles and divided
    /// by the initial 15th-85th percentile range. Averaging keeps one batch's sampling noise out
    /// of the measure; the division makes a shift count relative to the distribution's width.
    pub fn unit_drift(&self, unit: usize) -> f64 {
        let n = self.points.len();
        if n < 2 {
            return f64::NAN;
        }
        let average = |points: &[(usize, Vec<[f64; 3]>)], k: usize| {
            points
                .iter()
                .map(|(_, p)| p.get(unit).map_or(f64::NAN, |q| q[k]))
                .sum::<f64>()
                / points.len() as f64
        };
        let (head, tail) = (&self.points[..n.min(3)], &self.points[n - (n / 4).max(1)..]);
        let width = (average(head, 2) - average(head, 0)).max(1e-3);
        (0..3)
            .map(|k| (average(tail, k) - average(head, k)).abs())
            .sum::<f64>()
            / (3.0 * width)
    }

    /// [`InputDrift::unit_drift`] averaged over all the layer's units.
    pub fn drift(&self) -> f64 {
        let units = self.points.first().map_or(0, |(_, p)| p.len());
        (0..units).map(|u| self.unit_drift(u)).sum::<f64>() / units.max(1) as f64
    }
}

/// Ioffe and Szegedy 2015: with and without batchnorm.
pub struct Ioffe2015 {
    /// Without batchnorm.
    pub plain: (Outcome, InputDrift),
    /// With batchnorm.
    pub normalized: (Outcome, InputDrift),
}

fn drift_run<N>(
    name: &str,
    make: fn(&mut gradflow::Rng) -> Box<N>,
    data: &(Dataset<64>, Dataset<64>),
    budget: &Budget,
) -> Result<(Outcome, InputDrift), Error>
where
    N: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
{
    let mut drift = InputDrift::default();
    let mut observe = |step: usize, cache: &N::Cache<BATCH>| {
        if !step.is_multiple_of(10) {
            return;
        }
        // The input of the last sigmoid layer is the output of the layer just before it.
        let mut outputs: Vec<(&'static str, usize, Vec<f64>)> = Vec::new();
        N::visit_activations(cache, &mut |a| {
            outputs.push((
                a.kind,
                a.width,
                a.values.iter().map(|&v| v as f64).collect(),
            ));
        });
        if let Some(i) = outputs
            .iter()
            .rposition(|o| o.0 == "sigmoid")
            .filter(|&i| i > 0)
        {
            let (_, width, values) = &outputs[i - 1];
            let width = (*width).max(1);
            let units = (0..width)
                .map(|u| {
                    let unit: Vec<f64> = values.iter().skip(u).step_by(width).copied().collect();
                    [
                        percentile(&unit, 0.15),
                        percentile(&unit, 0.5),
                        percentile(&unit, 0.85),
                    ]
                })
                .collect();
            drift.points.push((step, units));
        }
    };
    let outcome = run_observed(name, make, |_, _| {}, data, budget, &mut observe)?;
    Ok((outcome, drift))
}

/// Runs the batchnorm comparison with sigmoid networks `P` (plain) and `N` (batchnorm).
pub fn ioffe2015<P, N>(
    make_plain: fn(&mut gradflow::Rng) -> Box<P>,
    make_bn: fn(&mut gradflow::Rng) -> Box<N>,
    data: &(Dataset<64>, Dataset<64>),
    budget: &Budget,
) -> Result<Ioffe2015, Error>
where
    P: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    N: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
{
    Ok(Ioffe2015 {
        plain: drift_run("sigmoid", make_plain, data, budget)?,
        normalized: drift_run("sigmoid + batchnorm", make_bn, data, budget)?,
    })
}

impl Ioffe2015 {
    /// Accuracy over training and the percentiles' drift.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Ioffe and Szegedy 2015: sigmoid layers without and with batchnorm"
        );
        let _ = writeln!(
            out,
            "{:>5}  {:>14}  {:>14}",
            "epoch", "test acc plain", "test acc BN"
        );
        let (p, n) = (
            &self.plain.0.history.epochs,
            &self.normalized.0.history.epochs,
        );
        for (a, b) in p.iter().zip(n) {
            let _ = writeln!(
                out,
                "{:>5}  {:>14.4}  {:>14.4}",
                a.epoch, a.test_accuracy, b.test_accuracy
            );
        }
        for (name, d) in [
            ("without batchnorm", &self.plain.1),
            ("with batchnorm", &self.normalized.1),
        ] {
            let _ = writeln!(
                out,
                "input of one sigmoid in the last hidden layer, {name}: 15th/50th/85th percentiles"
            );
            let every = (d.points.len() / 8).max(1);
            for (step, units) in d.points.iter().step_by(every) {
                let q = units.first().copied().unwrap_or([f64::NAN; 3]);
                let [a, b, c] = q.map(|v| fmt_decimals(v, 3));
                let _ = writeln!(out, "  step {step:>5}: {a:>8} {b:>8} {c:>8}");
            }
            let _ = writeln!(
                out,
                "  drift (percentiles' move from the first steps to the last quarter, in initial 15-85 ranges): \
                 this unit {:.2}, mean over the layer's units {:.2}",
                d.unit_drift(0),
                d.drift()
            );
        }
        out
    }
}
