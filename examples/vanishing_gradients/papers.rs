//! Reproductions of published results, each generic over its networks so that the example
//! runs them at full size and the tests at reduced size.
//!
//! - He et al. 2015, "Delving Deep into Rectifiers" (<https://arxiv.org/abs/1502.01852>)
//! - Glorot and Bengio 2010, "Understanding the difficulty of training deep feedforward neural
//!   networks" (<https://proceedings.mlr.press/v9/glorot10a.html>)
//! - Ioffe and Szegedy 2015, "Batch Normalization" (<https://arxiv.org/abs/1502.03167>)
//! - He et al. 2016, "Deep Residual Learning for Image Recognition" (<https://arxiv.org/abs/1512.03385>)

use crate::study::{run, run_observed, Budget, Outcome, BATCH};
use gradflow::data::Dataset;
use gradflow::nn::Activations;
use gradflow::prelude::*;
use std::fmt::Write as _;

type Error = Box<dyn std::error::Error>;

/// The `p`-th quantile (0..=1) of `values`, by nearest rank. NaN for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize]
}

fn std_dev(values: &[f32]) -> f64 {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    (values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

fn rms(values: &[f32]) -> f64 {
    (values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

/// A fixed first batch of the training set, as network input.
fn first_batch<const F: usize>(train: &Dataset<F>) -> ([[f32; F]; BATCH], [usize; BATCH]) {
    let x = core::array::from_fn(|i| train.features[i % train.len()]);
    let y = core::array::from_fn(|i| train.labels[i % train.len()]);
    (x, y)
}

/// Runs one forward and backward pass of a fresh `N` on the first training batch and hands
/// the filled cache to `inspect`.
fn inspect_first_step<N, const F: usize, R>(
    make: impl FnOnce(&mut gradflow::Rng) -> Box<N>,
    train: &Dataset<F>,
    seed: u64,
    inspect: impl FnOnce(&N::Cache<BATCH>) -> R,
) -> Result<R, Error>
where
    N: TrainableNetwork<f32, Input = [f32; F]>,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    let mut net = make(&mut gradflow::rng(seed));
    let (x, labels) = first_batch(train);
    let mut cache = gradflow::nn::memory::zeroed_box::<N::Cache<BATCH>>();
    let mut grads = gradflow::nn::memory::zeroed_box::<N::Grads>();
    let mut dy = gradflow::nn::memory::zeroed_box::<[N::Output; BATCH]>();
    let out = net.forward_train(&x, &mut cache);
    gradflow::nn::loss::softmax_cross_entropy_rows(out, &labels, &mut *dy)?;
    net.backward_into(&mut cache, &dy, None, &mut grads);
    Ok(inspect(&cache))
}

// ---------------------------------------------------------------------------------------------
// He et al. 2015

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
            "after training: Xavier test accuracy {:.4} (train loss {:.4}), He test accuracy {:.4} (train loss {:.4})",
            self.xavier_run.test_accuracy(),
            self.xavier_run.final_loss(),
            self.he_run.test_accuracy(),
            self.he_run.final_loss()
        );
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Glorot and Bengio 2010

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
                    // Saturated: derivative y (1 - y) below 1e-3 of its maximum 1/4.
                    let sat = a
                        .values
                        .iter()
                        .filter(|&&y| (y * (1.0 - y)) < 0.25e-3)
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
        let _ = writeln!(
            out,
            "the top hidden layer is driven toward 0, the sigmoid's flat lower tail (lowest mean {top:.3}), while the \
             layers below stay near 0.5 (lowest mean {below:.3}); test accuracy {:.4}, train loss {:.4}",
            self.sigmoid_run.test_accuracy(),
            self.sigmoid_run.final_loss()
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

// ---------------------------------------------------------------------------------------------
// Ioffe and Szegedy 2015

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
                let _ = writeln!(
                    out,
                    "  step {step:>5}: {:>8.3} {:>8.3} {:>8.3}",
                    q[0], q[1], q[2]
                );
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

// ---------------------------------------------------------------------------------------------
// He et al. 2016

/// The degradation problem: a deep plain network, a shallow one, and the deep residual one.
pub struct Degradation {
    /// The shallow plain network.
    pub shallow: Outcome,
    /// The deep plain network.
    pub deep: Outcome,
    /// The deep residual network.
    pub residual: Outcome,
}

/// Runs the degradation comparison; all three with batchnorm and He initialization.
pub fn he2016<S, D, R>(
    make_shallow: fn(&mut gradflow::Rng) -> Box<S>,
    make_deep: fn(&mut gradflow::Rng) -> Box<D>,
    make_residual: fn(&mut gradflow::Rng) -> Box<R>,
    names: [&str; 3],
    data: &(Dataset<64>, Dataset<64>),
    budget: &Budget,
) -> Result<Degradation, Error>
where
    S: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    D: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    R: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
{
    Ok(Degradation {
        shallow: run(names[0], make_shallow, data, budget)?,
        deep: run(names[1], make_deep, data, budget)?,
        residual: run(names[2], make_residual, data, budget)?,
    })
}

impl Degradation {
    /// Whether the deep plain network ends with a higher training loss than the shallow one,
    /// and the deep residual one does not.
    pub fn degrades(&self) -> bool {
        self.deep.final_loss() > self.shallow.final_loss()
            && self.residual.final_loss() < self.deep.final_loss()
    }

    /// The table and what it means.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "He et al. 2016, the degradation problem (batchnorm and He init everywhere):"
        );
        let _ = writeln!(
            out,
            "{:<22}  {:>10}  {:>8}  {:>14}  {:>14}",
            "network", "train loss", "test acc", "grad ratio t=0", "grad ratio end"
        );
        for o in [&self.shallow, &self.deep, &self.residual] {
            let ratio = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2e}"));
            let _ = writeln!(
                out,
                "{:<22}  {:>10.4}  {:>8.4}  {:>14}  {:>14}",
                o.name,
                o.final_loss(),
                o.test_accuracy(),
                ratio(o.first.first_to_last_ratio()),
                ratio(o.last.first_to_last_ratio())
            );
        }
        let _ = writeln!(
            out,
            "{}",
            if self.degrades() {
                "The deeper plain network ends with the higher training loss, and its residual version does not."
            } else {
                "This run does not show the degradation ordering."
            }
        );
        let _ = writeln!(
            out,
            "The paper: with batchnorm and He initialization in place, this is an optimization difficulty, not \
             vanishing gradients."
        );
        let (start, end) = (
            self.deep.first.first_to_last_ratio(),
            self.deep.last.first_to_last_ratio(),
        );
        let vanishing = [start, end].iter().any(|r| r.is_some_and(|r| r < 1e-3));
        let _ = writeln!(
            out,
            "Here the deep plain network's first/last gradient ratio is {} at the start and {} at the end: {}",
            start.map_or("-".to_string(), |r| format!("{r:.2e}")),
            end.map_or("-".to_string(), |r| format!("{r:.2e}")),
            if vanishing {
                "the first layers' gradients do fall below 1e-3 of the last layer's in this run."
            } else {
                "the gradient reaching the first layer is not vanishingly small (a vanishing gradient shows as a ratio \
                 far below 1e-3), so what holds the deep network back is not the size of its gradients."
            }
        );
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Input scale

/// A saturating network on raw against standardized features.
pub struct InputScale {
    /// On raw features.
    pub raw: Outcome,
    /// With a fitted `standardize` first layer.
    pub standardized: Outcome,
}

/// Fraction of saturated outputs in the first layer that has any, at the first step.
pub fn first_saturation(o: &Outcome) -> f64 {
    o.first
        .layers
        .iter()
        .find_map(|l| l.saturated_fraction)
        .unwrap_or(f64::NAN)
}

/// Runs the input-scale comparison on `data`; `fit_standardizer` fits the second network's
/// `standardize` layer to the training features.
pub fn input_scale<R, S, const F: usize>(
    make_raw: fn(&mut gradflow::Rng) -> Box<R>,
    make_standardized: fn(&mut gradflow::Rng) -> Box<S>,
    fit_standardizer: fn(&mut S, &Dataset<F>),
    data: &(Dataset<F>, Dataset<F>),
    budget: &Budget,
) -> Result<InputScale, Error>
where
    R: TrainableNetwork<f32, Input = [f32; F], Output = [f32; 2]>,
    S: TrainableNetwork<f32, Input = [f32; F], Output = [f32; 2]>,
{
    Ok(InputScale {
        raw: run("tanh, raw features", make_raw, data, budget)?,
        standardized: run_observed(
            "tanh, standardized features",
            make_standardized,
            fit_standardizer,
            data,
            budget,
            &mut |_, _| {},
        )?,
    })
}

impl InputScale {
    /// Side by side.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Input scale on breast_cancer (features from 0.01 to 4000):"
        );
        let _ = writeln!(
            out,
            "{:<28}  {:>22}  {:>8}",
            "network", "saturated at step 0", "test acc"
        );
        for o in [&self.raw, &self.standardized] {
            let _ = writeln!(
                out,
                "{:<28}  {:>21.1}%  {:>8.4}",
                o.name,
                100.0 * first_saturation(o),
                o.test_accuracy()
            );
        }
        out
    }
}
