//! Turning a [`GradientReport`] into words: which layers' gradients vanish or explode, which
//! units are dead or saturated, and which cure applies.

use crate::diagnostics::{GradientReport, LayerHealth};
use alloc::vec::Vec;
use core::fmt;

/// Where the verdict draws its lines. The defaults follow common practice: a layer whose
/// gradient is a thousandth of the largest layer's learns a thousand times slower.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// A layer vanishes when its gradient norm is below this fraction of the largest layer's...
    pub vanishing_ratio: f64,
    /// ...or below this absolute norm.
    pub vanishing_floor: f64,
    /// A layer explodes when its gradient norm exceeds this (or is not finite).
    pub exploding_norm: f64,
    /// Report gradients that grow toward the input when the first weighted layer's gradient
    /// norm is more than this many times the last hidden weighted layer's.
    pub growth_ratio: f64,
    /// Report dead ReLU units when more than this fraction of a layer is dead.
    pub dead_fraction: f64,
    /// Report saturation when more than this fraction of a layer's units saturate.
    pub saturated_fraction: f64,
    /// Report a shrinking forward signal when the last hidden layer's output spread is below
    /// this fraction of the first's (and a growing one above its inverse).
    pub signal_ratio: f64,
    /// Report badly scaled inputs when, before any update, the first weighted layer's inputs
    /// have a root mean square above this or below its inverse square (1 is the scale
    /// initializers assume; see [`Finding::InputScale`]). The small side is the square: a
    /// one-hot or sparse input has a small root mean square (`1 / sqrt(width)` for one-hot)
    /// with its nonzero values at unit scale, so 30 lets one-hot inputs of up to 900^2
    /// categories pass while inputs scaled by 1e-4 are caught.
    pub input_scale: f64,
}

/// A [`Thresholds`] field outside the range where it means anything: a negative
/// `exploding_norm` would call every layer exploding, a `dead_fraction` above 1 would never
/// report a dead layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InvalidThreshold {
    /// The field's name.
    pub name: &'static str,
    /// The value given.
    pub value: f64,
    /// What the value must satisfy.
    pub expected: &'static str,
}

impl fmt::Display for InvalidThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Thresholds::{} = {} is invalid: it must be {}",
            self.name, self.value, self.expected
        )
    }
}

impl core::error::Error for InvalidThreshold {}

impl Thresholds {
    /// `Ok` when every field is in its range: the ratios `vanishing_ratio` and `signal_ratio`
    /// in (0, 1), the fractions in [0, 1], `vanishing_floor` at least 0, `exploding_norm`
    /// above 0, `growth_ratio` and `input_scale` above 1 (the last three may be infinite, to
    /// turn their finding off). NaN is never valid.
    pub fn validate(&self) -> Result<(), InvalidThreshold> {
        let fields: [(&'static str, f64, bool, &'static str); 8] = [
            (
                "vanishing_ratio",
                self.vanishing_ratio,
                self.vanishing_ratio > 0.0 && self.vanishing_ratio < 1.0,
                "between 0 and 1, both excluded",
            ),
            (
                "vanishing_floor",
                self.vanishing_floor,
                self.vanishing_floor >= 0.0 && self.vanishing_floor.is_finite(),
                "at least 0 and finite",
            ),
            (
                "exploding_norm",
                self.exploding_norm,
                self.exploding_norm > 0.0,
                "above 0",
            ),
            (
                "growth_ratio",
                self.growth_ratio,
                self.growth_ratio > 1.0,
                "above 1",
            ),
            (
                "dead_fraction",
                self.dead_fraction,
                (0.0..=1.0).contains(&self.dead_fraction),
                "between 0 and 1",
            ),
            (
                "saturated_fraction",
                self.saturated_fraction,
                (0.0..=1.0).contains(&self.saturated_fraction),
                "between 0 and 1",
            ),
            (
                "signal_ratio",
                self.signal_ratio,
                self.signal_ratio > 0.0 && self.signal_ratio < 1.0,
                "between 0 and 1, both excluded",
            ),
            (
                "input_scale",
                self.input_scale,
                self.input_scale > 1.0,
                "above 1",
            ),
        ];
        match fields.into_iter().find(|&(_, _, ok, _)| !ok) {
            Some((name, value, _, expected)) => Err(InvalidThreshold {
                name,
                value,
                expected,
            }),
            None => Ok(()),
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            vanishing_ratio: 1e-3,
            vanishing_floor: 1e-8,
            exploding_norm: 1e3,
            growth_ratio: 1e2,
            dead_fraction: 0.5,
            saturated_fraction: 0.5,
            signal_ratio: 1e-2,
            input_scale: 30.0,
        }
    }
}

/// A remedy, named by its word in `network!` or its optimizer setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cure {
    /// Replace sigmoid/tanh by `relu`: its derivative is 1 wherever the unit is active.
    Relu,
    /// `he_init`: weights with variance 2/fan_in keep the signal's scale through ReLU layers.
    HeInit,
    /// `batchnorm`: renormalizes every layer's inputs, whatever the layers below did.
    BatchNorm,
    /// `residual { .. }`: an identity path carries the gradient past the blocks unchanged.
    Residual,
    /// A `standardize` first layer: features at mean 0, spread 1, so the first layer does not saturate.
    InputScaling,
    /// `clip_grad_norm` and a lower learning rate: bound the step that explodes. Before any
    /// update (a report at step 0) the gradient's size comes from the initialization and the
    /// depth, not from the learning rate, which scales every layer's step alike and leaves
    /// the exploding layers as far ahead: only clipping is named then
    /// ([`Cure::describe_before_training`]).
    Clipping,
    /// `leaky_relu` or a lower learning rate: a dead ReLU gets no gradient and never recovers.
    /// Units dead before any update (a report at step 0) were killed by the initial weights, a
    /// bias or the inputs' scale, not by the learning rate: only `leaky_relu` is named then
    /// ([`Cure::describe_before_training`]), with He initialization or input standardization
    /// where those apply.
    LeakyRelu,
}

impl Cure {
    /// The cure in a few words, for a network that has been trained: what
    /// [`Verdict`]'s `Display` prints except at step 0 (see [`Cure::describe_before_training`]).
    pub fn describe(self) -> &'static str {
        match self {
            Cure::Relu => "relu instead of sigmoid/tanh (`relu`)",
            Cure::HeInit => "He initialization (`he_init`)",
            Cure::BatchNorm => "batch normalization (`batchnorm`)",
            Cure::Residual => "residual connections (`residual { .. }`)",
            Cure::InputScaling => "input standardization (`standardize`)",
            Cure::Clipping => "gradient clipping (`clip_grad_norm`) or a lower learning rate",
            Cure::LeakyRelu => "`leaky_relu` or a lower learning rate",
        }
    }

    /// The cure in a few words, for a network before any update (a [`Verdict`] whose `step`
    /// is `Some(0)`): [`Cure::describe`] without the learning rate, which cannot have caused
    /// dead units or an exploding gradient yet.
    pub fn describe_before_training(self) -> &'static str {
        match self {
            Cure::Clipping => "gradient clipping (`clip_grad_norm`)",
            Cure::LeakyRelu => "`leaky_relu`",
            other => other.describe(),
        }
    }
}

/// One problem found, with the layers it concerns and the cures that apply.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Finding {
    /// These layers' gradients are too small to learn from.
    Vanishing {
        /// Layer indices.
        layers: Vec<usize>,
        /// Smallest gradient norm relative to the largest layer's.
        worst_ratio: f64,
        /// Cures that apply.
        cures: Vec<Cure>,
    },
    /// These layers' weights hold a NaN or an infinity: every gradient computed through them
    /// is meaningless, so it is the only finding, and no cure applies but restoring them.
    NonFiniteWeights {
        /// Layer indices.
        layers: Vec<usize>,
    },
    /// These layers' gradients are too large, or not finite.
    Exploding {
        /// Layer indices.
        layers: Vec<usize>,
        /// Largest gradient norm.
        largest: f64,
        /// Cures that apply.
        cures: Vec<Cure>,
    },
    /// The gradient grows geometrically from the last hidden layer down to the first: the
    /// bottom layers take steps far larger than the top ones for the same learning rate. Deep
    /// batch-normalized networks without skip connections do this from initialization (Yang
    /// et al., "A Mean Field Theory of Batch Normalization", ICLR 2019).
    Growing {
        /// First weighted layer's index.
        first: usize,
        /// Last hidden weighted layer's index.
        last: usize,
        /// First layer's gradient norm over the last hidden layer's.
        ratio: f64,
        /// Weighted layers from `first` to `last`, both included.
        layers: usize,
        /// Cures that apply.
        cures: Vec<Cure>,
    },
    /// The spread of the layers' outputs across samples ([`LayerHealth::sample_std`]) shrinks
    /// (or grows) geometrically with depth: the forward half of the vanishing (or exploding)
    /// problem, which the backward pass repeats. A ratio of exactly 0 is a top layer that
    /// gives every sample the same output.
    SignalScale {
        /// First hidden layer index.
        first: usize,
        /// Last hidden layer index.
        last: usize,
        /// Output spread of the last hidden layer over the first's.
        ratio: f64,
        /// Weighted layers from `first` to `last`, both included.
        layers: usize,
        /// Cures that apply.
        cures: Vec<Cure>,
    },
    /// Every layer's gradient is below the absolute floor, the largest one's included: the
    /// loss is at (or near) a minimum on this batch, or flat where the network is. Not a
    /// vanishing gradient, which is small beside the other layers'. `largest` exactly 0 is
    /// displayed as gradients that `backward` may never have written.
    AllSmall {
        /// Largest gradient norm.
        largest: f64,
        /// The floor ([`Thresholds::vanishing_floor`]).
        floor: f64,
    },
    /// No layer has a trainable parameter (every weighted layer is `frozen`): there is no
    /// gradient to judge, which is not health.
    NoTrainable,
    /// Every sample of the batch was the same input ([`GradientReport::same_samples`]) and
    /// the network has batchnorm, which then normalizes every unit to 0 (and a ReLU after it
    /// to 0, so no gradient passes): what the layers show says nothing about how they treat
    /// real data. Only exploding or NaN gradients are reported beside it.
    SameSamples,
    /// ReLU units that output zero for the whole batch.
    Dead {
        /// Layer index.
        layer: usize,
        /// Fraction of its units.
        fraction: f64,
        /// Cures that apply.
        cures: Vec<Cure>,
    },
    /// The inputs are far from the unit scale that initializers assume, before any update:
    /// inputs in the thousands make the first layer's outputs, and the gradients through
    /// them, that many times too large (exploding, then dead units); inputs of 1e-4 make them
    /// that small. Estimated from the first weighted layer's outputs and weights (with zero
    /// biases at initialization, a pre-activation's root mean square is the inputs' times the
    /// weights' times `sqrt(fan_in)`, and a ReLU keeps half of its power), so judged only
    /// for a layer without batchnorm or a sigmoid/tanh (saturation speaks for those) and
    /// without a `standardize` layer before it.
    InputScale {
        /// The first weighted layer's index.
        layer: usize,
        /// The estimated root mean square of its inputs.
        rms: f64,
        /// Cures that apply.
        cures: Vec<Cure>,
    },
    /// Sigmoid or tanh units in the flat tails of the function.
    Saturated {
        /// Layer index.
        layer: usize,
        /// Fraction of its units.
        fraction: f64,
        /// Cures that apply.
        cures: Vec<Cure>,
    },
}

/// Everything a report shows to be wrong; empty when gradients are healthy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// The findings, most serious first.
    pub findings: Vec<Finding>,
    /// The step of the report the verdict was drawn from ([`GradientReport::step`]); `None`
    /// for a verdict built otherwise. A report at step 0 was taken before its run applied any
    /// update: of a network as initialized, nothing it shows can be the learning rate's doing,
    /// and `Display` then describes the cures with [`Cure::describe_before_training`]
    /// ([`Cure::describe`] at any other step, or `None`). A run that continues a trained
    /// network counts its steps on from the earlier ones when resumed
    /// (`TrainConfig::resume_at`), so its first report is not at step 0.
    pub step: Option<usize>,
}

impl Verdict {
    /// Whether any layer's gradient vanishes.
    pub fn vanishing(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f, Finding::Vanishing { .. }))
    }
    /// Whether any layer's gradient explodes.
    pub fn exploding(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f, Finding::Exploding { .. }))
    }
    /// Whether nothing was found.
    pub fn healthy(&self) -> bool {
        self.findings.is_empty()
    }
}

/// What a saturated unit is, in the verdict's words ([`crate::diagnostics::SATURATION`]).
const SATURATED: &str =
    "sit within 1% of their range from a bound, where the derivative is below 4% of its maximum";

fn is_saturating(l: &LayerHealth) -> bool {
    l.kind.contains("sigmoid") || l.kind.contains("tanh")
}

/// A layer's weight scale as a fraction of He initialization's (std `sqrt(2 / fan_in)`), from
/// its `weight` tensor's root mean square and fan-in (1 for a layer without one: no judgement).
/// Below about 0.9 the layer is not He-initialized (Xavier's is 0.71 for a square layer), and
/// He initialization is a cure it does not have yet.
fn he_scale(l: &LayerHealth) -> f64 {
    if l.fan_in == 0 {
        return 1.0;
    }
    l.weight_rms / libm::sqrt(2.0 / l.fan_in as f64)
}

/// The root mean square of a weighted layer's inputs, estimated from its outputs and weights
/// (see [`Finding::InputScale`]); `None` where the outputs do not tell it: no weights, a
/// batchnorm that rescales them, a bounded activation.
fn input_rms(l: &LayerHealth) -> Option<f64> {
    if l.fan_in == 0 || l.weight_rms <= 0.0 || l.kind.contains("batchnorm") || is_saturating(l) {
        return None;
    }
    let out_rms =
        libm::sqrt(l.activation_mean * l.activation_mean + l.activation_std * l.activation_std);
    // A ReLU (or its leaky and smooth kin) zeroes about half of a centred pre-activation,
    // keeping half of its power.
    let rectified = l.kind.contains("relu") || l.kind.contains("gelu");
    let pre_rms = if rectified {
        out_rms * core::f64::consts::SQRT_2
    } else {
        out_rms
    };
    let rms = pre_rms / (l.weight_rms * libm::sqrt(l.fan_in as f64));
    rms.is_finite().then_some(rms)
}

/// Weights below He's scale: what keeps a ReLU network's signal from holding its spread.
fn below_he(l: &LayerHealth) -> bool {
    he_scale(l) < 0.9
}

/// Whether the weighted hidden layers, pooled, sit below He's scale: the root mean square
/// of their [`he_scale`]s weighted by parameter count, so that the sampling noise of a narrow
/// He-initialized layer, or one Xavier-initialized projection among He layers, does not
/// decide it, while Xavier on square layers (0.71 of He's) does.
fn hidden_below_he(hidden: &[&LayerHealth]) -> bool {
    let (sum, count) =
        hidden
            .iter()
            .filter(|l| l.fan_in > 0)
            .fold((0.0, 0.0), |(sum, count), l| {
                let weight = l.params as f64;
                (sum + weight * he_scale(l) * he_scale(l), count + weight)
            });
    count > 0.0 && libm::sqrt(sum / count) < 0.9
}

pub(crate) fn diagnose(report: &GradientReport, t: &Thresholds) -> Verdict {
    // Before any update: nothing found can be the learning rate's doing.
    let before_training = report.step == 0;
    let has = |part: &str| report.layers.iter().any(|l| l.kind.contains(part));
    let trainable: Vec<&LayerHealth> = report
        .layers
        .iter()
        // By the parameter count, not the norms: a layer initialized to zeros whose gradient
        // is exactly 0 is the plainest case of a vanished gradient.
        .filter(|l| l.params > 0)
        .collect();
    let largest = trainable
        .iter()
        .map(|l| l.grad_norm)
        .filter(|g| g.is_finite())
        .fold(0.0, f64::max);
    // Nothing below applies without a trainable layer: no gradient to compare, no output
    // layer to tell from the hidden ones, no step whose learning rate could be lowered.
    if trainable.is_empty() {
        return Verdict {
            findings: Vec::from([Finding::NoTrainable]),
            step: Some(report.step),
        };
    }
    // A weight that is not a number makes the gradients NaN as well: judging those would
    // suggest clipping or batchnorm, neither of which repairs a parameter.
    let broken: Vec<usize> = trainable
        .iter()
        .filter(|l| !l.weight_norm.is_finite())
        .map(|l| l.index)
        .collect();
    if !broken.is_empty() {
        return Verdict {
            findings: Vec::from([Finding::NonFiniteWeights { layers: broken }]),
            step: Some(report.step),
        };
    }
    let mut findings = Vec::new();

    // Dense and convolution layers (those with a weight and a fan-in), less the classifier on
    // top: layers of one kind, whose gradient norms compare. `growth`: the first one's
    // gradient norm over the last hidden one's, when that exceeds the line.
    let weighted: Vec<&LayerHealth> = trainable.iter().copied().filter(|l| l.fan_in > 0).collect();
    let weighted_hidden = &weighted[..weighted.len().saturating_sub(1)];
    let growth = match (weighted_hidden.first(), weighted_hidden.last()) {
        (Some(first), Some(last)) if weighted_hidden.len() > 1 && last.grad_norm > 0.0 => {
            let ratio = first.grad_norm / last.grad_norm;
            (ratio.is_finite() && ratio > t.growth_ratio).then_some((first, last, ratio))
        }
        _ => None,
    };

    let exploding: Vec<usize> = trainable
        .iter()
        .filter(|l| !l.grad_norm.is_finite() || l.grad_norm > t.exploding_norm)
        .map(|l| l.index)
        .collect();
    if !exploding.is_empty() {
        let largest = trainable
            .iter()
            .map(|l| l.grad_norm)
            .fold(0.0, |a: f64, b| if b.is_nan() || b > a { b } else { a });
        let mut cures = Vec::from([Cure::Clipping]);
        if !has("batchnorm") {
            cures.push(Cure::BatchNorm);
        }
        // Explosion concentrated in the bottom layers, as batchnorm without skips makes it.
        if growth.is_some() && !has("residual") {
            cures.push(Cure::Residual);
        }
        findings.push(Finding::Exploding {
            layers: exploding,
            largest,
            cures,
        });
    }

    // An exploding norm is its own finding, with the growth among its cures.
    if let Some((first, last, ratio)) = growth.filter(|_| {
        !findings
            .iter()
            .any(|f| matches!(f, Finding::Exploding { .. }))
    }) {
        let mut cures = Vec::new();
        if !has("residual") {
            cures.push(Cure::Residual);
        }
        cures.push(Cure::Clipping);
        findings.push(Finding::Growing {
            first: first.index,
            last: last.index,
            ratio,
            layers: weighted_hidden.len(),
            cures,
        });
    }

    // A NaN or infinite norm is the finding: the finite norms beside it say nothing of how
    // gradients flow, so neither "small everywhere" nor "vanishing" is judged from them.
    let all_finite = trainable.iter().all(|l| l.grad_norm.is_finite());
    // Below the floor everywhere, the largest layer included: nothing vanishes beside the
    // others, the loss itself has (almost) no gradient. Only the relative test applies then.
    let all_small = all_finite && !trainable.is_empty() && largest < t.vanishing_floor;
    if all_small {
        findings.push(Finding::AllSmall {
            largest,
            floor: t.vanishing_floor,
        });
    }
    let vanishing: Vec<&LayerHealth> = trainable
        .iter()
        .copied()
        .filter(|l| {
            l.grad_norm < t.vanishing_ratio * largest
                || (l.grad_norm < t.vanishing_floor && !all_small)
        })
        .collect();
    // Growth toward the input makes the top layers small beside the bottom ones: the growth
    // is the finding, not a vanishing top.
    let growing = growth.is_some();
    if all_finite && !vanishing.is_empty() && !growing {
        let worst = vanishing
            .iter()
            .map(|l| l.grad_norm)
            .fold(f64::INFINITY, f64::min);
        let mut cures = Vec::new();
        if report.layers.iter().any(is_saturating) {
            cures.push(Cure::Relu);
        }
        // He's standard deviation for a layer is sqrt(2 / fan_in); far less starves the signal
        // of a ReLU network. A sigmoid or tanh network is not cured by any initializer at
        // depth: their derivatives (at most 1/4 for sigmoid) shrink the gradient anyway.
        // Xavier's scale on square layers, 0.71 of He's, is enough for the signal finding
        // below to name He's: the same pooled line here, on the same hidden layers (the
        // classifier on top is Xavier-initialized by default), so that both findings agree.
        let hidden = &trainable[..trainable.len() - 1];
        if (has("relu") || has("gelu")) && hidden_below_he(hidden) {
            cures.push(Cure::HeInit);
        }
        if !has("batchnorm") {
            cures.push(Cure::BatchNorm);
        }
        if trainable.len() >= 8 && !has("residual") {
            cures.push(Cure::Residual);
        }
        findings.push(Finding::Vanishing {
            layers: vanishing.iter().map(|l| l.index).collect(),
            worst_ratio: if largest > 0.0 { worst / largest } else { 0.0 },
            cures,
        });
    }

    // The hidden layers: those with parameters, less the classifier on top.
    let hidden = &trainable[..trainable.len().saturating_sub(1)];
    if let (Some(first), Some(last)) = (hidden.first(), hidden.last()) {
        // The spread across samples, which is what carries the inputs: a stack whose top
        // layers give every sample the same output (each unit at its own value) has lost the
        // signal however spread its units are. At batch 1 a vector layer has none: the spread
        // over its units stands in then.
        let spread = |l: &LayerHealth| {
            if first.sample_std > 0.0 {
                l.sample_std
            } else {
                l.activation_std
            }
        };
        let ratio = spread(last) / spread(first);
        if hidden.len() > 1
            && spread(first) > 0.0
            && (ratio < t.signal_ratio || ratio > 1.0 / t.signal_ratio)
        {
            let mut cures = Vec::new();
            if has("relu") && hidden_below_he(hidden) {
                cures.push(Cure::HeInit);
            }
            if !has("batchnorm") {
                cures.push(Cure::BatchNorm);
            }
            findings.push(Finding::SignalScale {
                first: first.index,
                last: last.index,
                ratio,
                layers: hidden.iter().filter(|l| l.fan_in > 0).count(),
                cures,
            });
        }
    }

    // Badly scaled inputs, judged before any update (the weights and biases training sets
    // make the estimate meaningless later) on the first layer with weights, frozen or not:
    // behind a frozen one, a trainable layer's inputs are that layer's outputs.
    let first_weighted = report.layers.iter().find(|l| l.fan_in > 0);
    if let Some(first) = first_weighted.filter(|_| before_training && !has("standardize")) {
        let small = 1.0 / (t.input_scale * t.input_scale);
        if let Some(rms) = input_rms(first).filter(|&r| r > t.input_scale || r < small) {
            findings.push(Finding::InputScale {
                layer: first.index,
                rms,
                cures: Vec::from([Cure::InputScaling]),
            });
        }
    }

    // The weighted layers at or before a row: a standalone activation (`dense 8, relu`) is
    // judged by the layer that feeds it, as the same activation written as an attribute is.
    let weighted_up_to = |l: &LayerHealth| -> Vec<&LayerHealth> {
        let at = l.index;
        report
            .layers
            .iter()
            .filter(|w| w.fan_in > 0 && w.index <= at)
            .collect()
    };
    for l in &report.layers {
        // Only the cures the network does not have already.
        if let Some(fraction) = l.dead_fraction.filter(|&d| d > t.dead_fraction) {
            let below = weighted_up_to(l);
            let mut cures = Vec::from([Cure::LeakyRelu]);
            // Not for a frozen layer (weights, nothing trainable): it keeps the weights it was
            // given, so an initializer would not change them.
            if below.last().is_some_and(|w| w.params > 0 && below_he(w)) {
                cures.push(Cure::HeInit);
            }
            // Dead before any update and fed by the raw inputs: inputs far from mean 0 (all
            // positive pixel counts, say) put a unit's pre-activation below 0 for every sample
            // when its weights sum to less than 0; standardized inputs are centred.
            if before_training && below.len() <= 1 && !has("standardize") {
                cures.push(Cure::InputScaling);
            }
            findings.push(Finding::Dead {
                layer: l.index,
                fraction,
                cures,
            });
        }
        // A trained output layer that saturates is confident, as a tanh output trained toward
        // targets of -1 and 1 must be: only hidden layers (or any before training) are judged.
        let output = weighted.last().is_some_and(|w| l.index >= w.index);
        let judged = before_training || !output;
        if let Some(fraction) = l
            .saturated_fraction
            .filter(|&s| judged && s > t.saturated_fraction)
        {
            let mut cures = Vec::new();
            // Saturated by the raw inputs: at most the first weighted layer lies below. Only
            // offered before any update: the inputs do not change during training, so a
            // scale that saturates the first layer does so at step 0, while saturation that
            // appears later was trained in (a tanh layer after a step at lr 5 on inputs in
            // [0, 1]). A report first captured after updates (a resumed run) therefore gets
            // no input-scale cure for a saturated first layer.
            if before_training && weighted_up_to(l).len() <= 1 && !has("standardize") {
                cures.push(Cure::InputScaling);
            }
            if !l.kind.contains("batchnorm") {
                cures.push(Cure::BatchNorm);
            }
            cures.push(Cure::Relu);
            findings.push(Finding::Saturated {
                layer: l.index,
                fraction,
                cures,
            });
        }
    }
    // One input repeated, through batchnorm: every unit normalized to 0 (a ReLU after it
    // passes no gradient), so only a gradient that explodes or is NaN still says something.
    // Without batchnorm such a batch is judged as a batch of one.
    if report.same_samples && has("batchnorm") {
        findings.retain(|f| matches!(f, Finding::Exploding { .. }));
        findings.insert(0, Finding::SameSamples);
    }
    Verdict {
        findings,
        step: Some(report.step),
    }
}

struct Layers<'a>(&'a [usize]);

impl fmt::Display for Layers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.0.len() == 1 { "layer" } else { "layers" };
        write!(f, "{word} ")?;
        // Runs of consecutive indices print as ranges: "layers 0-15, 18".
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            while i + 1 < self.0.len() && self.0[i + 1] == self.0[i] + 1 {
                i += 1;
            }
            if i > 0 && start != self.0[0] {
                write!(f, ", ")?;
            }
            if self.0[i] == start {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{}", self.0[i])?;
            }
            i += 1;
        }
        Ok(())
    }
}

/// For two dead-unit (or two saturation) findings with the same cures: `b`'s layer and
/// fraction.
fn unit_run(a: &Finding, b: &Finding) -> Option<(usize, f64)> {
    match (a, b) {
        (
            Finding::Dead { cures: ca, .. },
            Finding::Dead {
                layer,
                fraction,
                cures: cb,
            },
        )
        | (
            Finding::Saturated { cures: ca, .. },
            Finding::Saturated {
                layer,
                fraction,
                cures: cb,
            },
        ) if ca == cb => Some((*layer, *fraction)),
        _ => None,
    }
}

/// Several dead-unit (or saturation) findings with the same cures, as one line; the cures as
/// before any update when `before_training`.
fn unit_group(f: &mut fmt::Formatter<'_>, group: &[Finding], before_training: bool) -> fmt::Result {
    let (layers, fractions): (Vec<usize>, Vec<f64>) =
        group.iter().filter_map(|g| unit_run(&group[0], g)).unzip();
    let low = 100.0 * fractions.iter().copied().fold(f64::INFINITY, f64::min);
    let high = 100.0 * fractions.iter().copied().fold(0.0, f64::max);
    // "52%", not "52-52%", when the range rounds to one value.
    let share = if alloc::format!("{low:.0}") == alloc::format!("{high:.0}") {
        alloc::format!("{high:.0}%")
    } else {
        alloc::format!("{low:.0}-{high:.0}%")
    };
    let (Finding::Dead { cures: c, .. } | Finding::Saturated { cures: c, .. }) = &group[0] else {
        return Ok(());
    };
    if matches!(group[0], Finding::Dead { .. }) {
        write!(
            f,
            "dead units: in {}: {share} of each layer's ReLUs output 0 for the whole batch",
            Layers(&layers)
        )?;
    } else {
        write!(
            f,
            "saturation: in {}: {share} of each layer's units {SATURATED}",
            Layers(&layers)
        )?;
    }
    cures(f, c, before_training)
}

/// The cures line, each described as before any update when `before_training`.
fn cures(f: &mut fmt::Formatter<'_>, cures: &[Cure], before_training: bool) -> fmt::Result {
    if cures.is_empty() {
        return Ok(());
    }
    write!(f, "\n    cures: ")?;
    for (i, c) in cures.iter().enumerate() {
        let text = if before_training {
            c.describe_before_training()
        } else {
            c.describe()
        };
        write!(f, "{}{text}", if i > 0 { "; " } else { "" })?;
    }
    Ok(())
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.findings.is_empty() {
            return write!(f, "healthy: no layer's gradient vanishes or explodes, and no layer's share of dead or saturated units crosses the line (by default, half)");
        }
        let before_training = self.step == Some(0);
        let cures = |f: &mut fmt::Formatter<'_>, c: &[Cure]| cures(f, c, before_training);
        let mut i = 0;
        while let Some(finding) = self.findings.get(i) {
            if i > 0 {
                writeln!(f)?;
            }
            // A run of dead (or of saturated) layers with the same cures is one line.
            let run = self.findings[i..]
                .iter()
                .take_while(|g| unit_run(finding, g).is_some())
                .count();
            if run > 1 {
                unit_group(f, &self.findings[i..i + run], before_training)?;
                i += run;
                continue;
            }
            i += 1;
            match finding {
                Finding::Vanishing {
                    layers,
                    worst_ratio,
                    cures: c,
                } => {
                    if *worst_ratio == 0.0 {
                        // Underflowed (smaller than the element type can hold), or cut off
                        // (zero weights above pass nothing down).
                        write!(
                            f,
                            "vanishing gradients: {} (down to exactly 0: no gradient reaches them)",
                            Layers(layers)
                        )?;
                    } else {
                        write!(f, "vanishing gradients: {} (down to {worst_ratio:.1e} of the largest layer's gradient)", Layers(layers))?;
                    }
                    cures(f, c)?;
                }
                Finding::NonFiniteWeights { layers } => write!(
                    f,
                    "weights that are not numbers (NaN or infinite): {}, so every gradient \
                     through them is too; no cure repairs them: load the last good weights \
                     (a checkpoint) and find what wrote them (a step with too large a learning \
                     rate, a NaN in the data, or code that set them)",
                    Layers(layers)
                )?,
                Finding::Exploding {
                    layers,
                    largest,
                    cures: c,
                } => {
                    if largest.is_nan() {
                        // Clipping cannot repair a NaN that came in with the data or weights.
                        // The layers listed may also be infinite or merely too large.
                        write!(
                            f,
                            "gradients that are not numbers (NaN) or too large: {}; look for \
                             a NaN in the inputs or weights first; if they are finite, values \
                             overflowed",
                            Layers(layers)
                        )?;
                    } else {
                        write!(
                            f,
                            "exploding gradients: {} (norm up to {largest:.1e})",
                            Layers(layers)
                        )?;
                    }
                    cures(f, c)?;
                }
                Finding::Growing {
                    first,
                    last,
                    ratio,
                    layers,
                    cures: c,
                } => {
                    write!(
                        f,
                        "gradients grow toward the input: layer {first}'s gradient norm is {ratio:.1e} times layer {last}'s \
                         (x{:.2} per layer), so the bottom layers take far larger steps",
                        libm::pow(*ratio, 1.0 / layers.saturating_sub(1).max(1) as f64)
                    )?;
                    cures(f, c)?;
                }
                Finding::SignalScale {
                    first,
                    last,
                    ratio,
                    layers,
                    cures: c,
                } => {
                    let (word, per) = if *ratio < 1.0 {
                        ("shrinking", "falls")
                    } else {
                        ("growing", "rises")
                    };
                    // Per weighted layer: standalone activations between them are not steps.
                    let layers = layers.saturating_sub(1).max(1) as f64;
                    if *ratio == 0.0 {
                        write!(
                            f,
                            "lost signal: layer {last} gives every sample the same output; the \
                             spread across samples falls to exactly 0 from layer {first}'s"
                        )?;
                        cures(f, c)?;
                        continue;
                    }
                    write!(
                        f,
                        "{word} signal: the outputs' spread across samples {per} from layer {first} to layer {last} by {ratio:.1e} \
                         (x{:.2} per layer)",
                        libm::pow(*ratio, 1.0 / layers)
                    )?;
                    cures(f, c)?;
                }
                Finding::AllSmall { largest, .. } if *largest == 0.0 => {
                    // Rounding leaves a trace of a gradient at any real minimum, so exactly 0
                    // everywhere is more often gradients that backward never wrote.
                    write!(
                        f,
                        "no gradient: every layer's gradient is exactly 0, so either backward \
                         did not write these gradients (it was not run, or they were zeroed \
                         after it), or the loss is exactly flat here (a softmax saturated to \
                         exactly one-hot, a perfect fit)"
                    )?;
                }
                Finding::NoTrainable => {
                    write!(
                        f,
                        "nothing to judge: no layer has a trainable parameter (every weighted \
                         layer is frozen), so there is no gradient"
                    )?;
                }
                Finding::SameSamples => {
                    write!(
                        f,
                        "same samples: every sample of the batch is the same input, so \
                         batchnorm normalizes every unit to 0 and the gradients below it say \
                         nothing about real data; capture the report on a batch of different \
                         samples"
                    )?;
                }
                Finding::AllSmall { largest, floor } => {
                    write!(
                        f,
                        "small gradients everywhere: the largest layer's gradient norm is \
                         {largest:.1e}, below {floor:.0e}: the loss is at or near a minimum on \
                         this batch, or flat where the network is"
                    )?;
                }
                Finding::Dead {
                    layer,
                    fraction,
                    cures: c,
                } => {
                    write!(
                        f,
                        "dead units: {:.0}% of layer {layer}'s ReLUs output 0 for the whole batch",
                        100.0 * fraction
                    )?;
                    cures(f, c)?;
                }
                Finding::InputScale {
                    layer,
                    rms,
                    cures: c,
                } => {
                    let (size, effect) = if *rms > 1.0 {
                        ("large", "too large")
                    } else {
                        ("small", "too small")
                    };
                    write!(
                        f,
                        "badly scaled inputs: layer {layer}'s inputs are {size} (root mean square \
                         about {rms:.1e}, where initializers assume 1), which makes its outputs \
                         and the gradients through them {effect}"
                    )?;
                    cures(f, c)?;
                }
                Finding::Saturated {
                    layer,
                    fraction,
                    cures: c,
                } => {
                    write!(
                        f,
                        "saturation: {:.0}% of layer {layer}'s units {SATURATED}",
                        100.0 * fraction
                    )?;
                    cures(f, c)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    /// A report of `layers` at `step`, of a batch of different samples.
    fn report_at(step: usize, layers: Vec<LayerHealth>) -> GradientReport {
        GradientReport {
            step,
            layers,
            same_samples: false,
        }
    }

    fn layer(index: usize, kind: &str, weight_norm: f64) -> LayerHealth {
        LayerHealth {
            index,
            kind: kind.to_string(),
            inputs: 64,
            outputs: 16,
            params: if kind.starts_with("dense") {
                64 * 16
            } else {
                0
            },
            grad_norm: if kind.starts_with("dense") { 1.0 } else { 0.0 },
            weight_norm,
            fan_in: if kind.starts_with("dense") { 64 } else { 0 },
            weight_rms: weight_norm / 32.0,
            update_ratio: None,
            activation_mean: 0.0,
            activation_std: 1.0,
            // 0: the signal checks fall back to `activation_std`, as at batch 1, unless a
            // test sets it.
            sample_std: 0.0,
            dead_fraction: None,
            saturated_fraction: None,
        }
    }

    /// A ReLU network whose hidden layers sit at Xavier's scale on square layers (0.71 of
    /// He's) is offered He initialization against a vanishing gradient, as the shrinking
    /// signal finding offers it; at He's scale it is not, and an Xavier-initialized
    /// classifier on top does not count.
    #[test]
    fn vanishing_in_a_relu_network_below_he_scale_is_offered_he_init() {
        let he_rms = libm::sqrt(2.0 / 64.0);
        let cures = |hidden_scale: f64, top_scale: f64| {
            let mut layers: Vec<LayerHealth> = (0..6)
                .map(|k| LayerHealth {
                    grad_norm: libm::pow(10.0, k as f64 - 6.0),
                    weight_rms: hidden_scale * he_rms,
                    ..layer(k, "dense+relu", 1.0)
                })
                .collect();
            layers.push(LayerHealth {
                weight_rms: top_scale * he_rms,
                ..layer(6, "dense", 1.0)
            });
            let verdict = diagnose(&report_at(3, layers), &Thresholds::default());
            verdict
                .findings
                .into_iter()
                .find_map(|f| match f {
                    Finding::Vanishing { cures, .. } => Some(cures),
                    _ => None,
                })
                .expect("vanishing")
        };
        assert!(cures(0.71, 0.78).contains(&Cure::HeInit));
        assert!(!cures(1.0, 0.78).contains(&Cure::HeInit));
        // Pooled over the hidden layers: one of six at 0.6 (a projection, or a narrow
        // layer's sampling noise) among He-scaled ones does not decide it.
        let mixed = |scales: [f64; 6]| {
            let layers: Vec<LayerHealth> = (0..7)
                .map(|k| LayerHealth {
                    grad_norm: libm::pow(10.0, k as f64 - 6.0),
                    weight_rms: scales.get(k).copied().unwrap_or(0.78) * he_rms,
                    ..layer(k, if k < 6 { "dense+relu" } else { "dense" }, 1.0)
                })
                .collect();
            diagnose(&report_at(3, layers), &Thresholds::default())
                .findings
                .into_iter()
                .any(|f| matches!(f, Finding::Vanishing { cures, .. } if cures.contains(&Cure::HeInit)))
        };
        assert!(!mixed([1.0, 1.0, 0.6, 1.0, 1.0, 1.0]));
        assert!(mixed([0.7, 0.7, 0.7, 0.7, 0.7, 1.0]));
    }

    /// NaN gradients are named as such, with the data to look at before the cures.
    #[test]
    fn nan_gradients_say_so() {
        let mut layers = vec![layer(0, "dense", 1.0), layer(1, "dense", 1.0)];
        layers[0].grad_norm = f64::NAN;
        let text = diagnose(&report_at(0, layers), &Thresholds::default()).to_string();
        assert!(
            text.contains(
                "gradients that are not numbers (NaN) or too large: layer 0; look for a NaN"
            ),
            "{text}"
        );
        assert!(!text.contains("norm up to"), "{text}");
        let mut layers = vec![layer(0, "dense", 1.0), layer(1, "dense", 1.0)];
        layers[0].grad_norm = 1e9;
        let text = diagnose(&report_at(0, layers), &Thresholds::default()).to_string();
        assert!(
            text.contains("exploding gradients: layer 0 (norm up to 1.0e9)"),
            "{text}"
        );
    }

    /// The verdict at `step` on dense layers with these gradient norms.
    fn verdict_of_norms(step: usize, norms: &[f64]) -> Verdict {
        let layers = norms
            .iter()
            .enumerate()
            .map(|(i, &n)| LayerHealth {
                grad_norm: n,
                ..layer(i, "dense", 1.0)
            })
            .collect();
        diagnose(&report_at(step, layers), &Thresholds::default())
    }

    /// The defaults are valid; each field outside its range is named, NaN included, and
    /// infinite limits (a finding turned off) are accepted.
    #[test]
    fn thresholds_outside_their_ranges_are_named() {
        let d = Thresholds::default();
        assert_eq!(d.validate(), Ok(()));
        let off = Thresholds {
            exploding_norm: f64::INFINITY,
            growth_ratio: f64::INFINITY,
            input_scale: f64::INFINITY,
            ..d
        };
        assert_eq!(off.validate(), Ok(()));
        let cases = [
            (
                Thresholds {
                    exploding_norm: -1.0,
                    ..d
                },
                "exploding_norm",
            ),
            (
                Thresholds {
                    vanishing_ratio: 1.0,
                    ..d
                },
                "vanishing_ratio",
            ),
            (
                Thresholds {
                    vanishing_floor: f64::NAN,
                    ..d
                },
                "vanishing_floor",
            ),
            (
                Thresholds {
                    growth_ratio: 0.5,
                    ..d
                },
                "growth_ratio",
            ),
            (
                Thresholds {
                    dead_fraction: 1.5,
                    ..d
                },
                "dead_fraction",
            ),
            (
                Thresholds {
                    saturated_fraction: -0.1,
                    ..d
                },
                "saturated_fraction",
            ),
            (
                Thresholds {
                    signal_ratio: 0.0,
                    ..d
                },
                "signal_ratio",
            ),
            (
                Thresholds {
                    input_scale: f64::NAN,
                    ..d
                },
                "input_scale",
            ),
        ];
        for (t, name) in cases {
            let err = t.validate().unwrap_err();
            assert_eq!(err.name, name);
            assert!(
                err.to_string()
                    .starts_with(&alloc::format!("Thresholds::{name} = ")),
                "{err}"
            );
        }
        // `verdict_with` refuses them rather than judging every layer by them.
        let report = report_at(3, (0..2).map(|i| layer(i, "dense", 1.0)).collect());
        let bad = Thresholds {
            exploding_norm: -1.0,
            ..d
        };
        let panicked = std::panic::catch_unwind(|| report.verdict_with(&bad)).unwrap_err();
        let message = panicked
            .downcast_ref::<alloc::string::String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.starts_with("Thresholds::exploding_norm = -1 is invalid"),
            "{message}"
        );
        assert!(
            report.verdict_with(&d).healthy(),
            "{}",
            report.verdict_with(&d)
        );
    }

    /// A layer whose weights hold a NaN is named as that, alone: the NaN gradients it causes
    /// are not called exploding, nor given clipping or batchnorm as cures.
    #[test]
    fn non_finite_weights_are_named_and_nothing_else_is_judged() {
        for bad in [f64::NAN, f64::INFINITY] {
            let layers = (0..4)
                .map(|i| LayerHealth {
                    grad_norm: if i <= 1 { f64::NAN } else { 1.0 },
                    ..layer(i, "dense", if i == 1 { bad } else { 1.0 })
                })
                .collect();
            let verdict = diagnose(&report_at(3, layers), &Thresholds::default());
            assert_eq!(
                verdict.findings,
                [Finding::NonFiniteWeights { layers: vec![1] }]
            );
            assert!(!verdict.exploding() && !verdict.healthy());
            let text = verdict.to_string();
            assert!(
                text.starts_with("weights that are not numbers (NaN or infinite): layer 1,"),
                "{text}"
            );
            assert!(!text.contains("clipping"), "{text}");
        }
    }

    /// Norms that are NaN or infinite are that finding alone: the finite ones beside them
    /// (or none) are neither "small everywhere" nor "vanishing".
    #[test]
    fn non_finite_gradients_are_not_also_called_small_or_vanishing() {
        for norms in [
            &[f64::NAN, f64::NAN, f64::NAN][..],
            &[f64::INFINITY, f64::INFINITY],
            &[f64::INFINITY, 1e-9, 1e-9, 1e-9],
            &[f64::NAN, 1e-14, 1.0],
        ] {
            let verdict = verdict_of_norms(3, norms);
            let text = verdict.to_string();
            assert!(
                verdict.exploding() && !verdict.vanishing(),
                "{norms:?}: {text}"
            );
            assert!(
                !text.contains("small gradients everywhere"),
                "{norms:?}: {text}"
            );
            assert_eq!(
                text.lines().filter(|l| !l.starts_with(' ')).count(),
                1,
                "{norms:?}: {text}"
            );
        }
    }

    /// Gradients that are exactly 0 everywhere (a report captured without `backward`, or
    /// after zeroing the gradients) are not called a minimum; a network with no trainable
    /// layer is not called healthy.
    #[test]
    fn no_gradient_at_all_is_named_as_such() {
        let unwritten = verdict_of_norms(0, &[0.0, 0.0, 0.0]);
        let text = unwritten.to_string();
        assert!(!unwritten.healthy() && !unwritten.vanishing(), "{text}");
        assert!(
            text.starts_with("no gradient: every layer's gradient is exactly 0, so either backward did not write"),
            "{text}"
        );
        assert!(!text.contains("near a minimum"), "{text}");
        // Frozen layers whose outputs would otherwise be findings (saturated, dead, the
        // output layer after updates): no finding beside this one, no learning-rate cure.
        let frozen_layer = |index, kind| LayerHealth {
            params: 0,
            saturated_fraction: Some(0.9),
            dead_fraction: Some(0.9),
            ..layer(index, kind, 1.0)
        };
        let frozen = diagnose(
            &report_at(
                7,
                std::vec![
                    frozen_layer(0, "dense+tanh"),
                    frozen_layer(1, "dense+relu"),
                    frozen_layer(2, "dense+tanh"),
                ],
            ),
            &Thresholds::default(),
        );
        assert_eq!(frozen.findings, std::vec![Finding::NoTrainable]);
        assert_eq!(
            frozen.to_string(),
            "nothing to judge: no layer has a trainable parameter (every weighted layer is \
             frozen), so there is no gradient"
        );
    }

    /// Gradients below the floor in every layer, the largest included, are a loss at its
    /// minimum, not a vanishing gradient; a layer small beside the others still is one.
    #[test]
    fn gradients_small_everywhere_are_not_called_vanishing() {
        let report = |norms: &[f64]| verdict_of_norms(0, norms);
        let fitted = report(&[3e-9, 5e-9, 9e-9]);
        assert!(!fitted.vanishing(), "{fitted}");
        assert_eq!(
            fitted.to_string(),
            "small gradients everywhere: the largest layer's gradient norm is 9.0e-9, below \
             1e-8: the loss is at or near a minimum on this batch, or flat where the network is"
        );
        let starved = report(&[3e-14, 5e-9, 9e-9]);
        assert!(starved.vanishing(), "{starved}");
        assert!(
            starved
                .to_string()
                .contains("vanishing gradients: layer 0 "),
            "{starved}"
        );
        // One layer above the floor: the others below it vanish, as before.
        assert!(report(&[3e-9, 5e-9, 1e-2]).vanishing());
    }

    /// A network written with standalone activations (`dense 16, tanh`) gets the verdict of
    /// the same network with attached ones (`dense 16 [tanh]`): the same per-layer factor of
    /// a shrinking signal, input standardization for a saturated first layer, and He
    /// initialization for dead units behind an undersized layer.
    #[test]
    fn standalone_activations_get_the_verdict_of_attached_ones() {
        // Six hidden dense layers whose outputs shrink by 0.1 each, then the classifier;
        // `split` puts each activation in a row of its own.
        let network = |split: bool, activation: &str| {
            let mut layers = Vec::new();
            for k in 0..6 {
                let spread = libm::pow(0.1, k as f64);
                let kind = if split {
                    "dense".to_string()
                } else {
                    alloc::format!("dense+{activation}")
                };
                layers.push(LayerHealth {
                    activation_std: spread,
                    weight_rms: 0.01,
                    ..layer(layers.len(), &kind, 1.0)
                });
                if split {
                    layers.push(LayerHealth {
                        activation_std: spread,
                        ..layer(layers.len(), activation, 1.0)
                    });
                }
            }
            layers.push(layer(layers.len(), "dense", 1.0));
            layers
        };
        for split in [false, true] {
            let layers = network(split, "tanh");
            let text = diagnose(&report_at(0, layers), &Thresholds::default()).to_string();
            assert!(
                text.contains("by 1.0e-5 (x0.10 per layer)"),
                "split {split}: {text}"
            );
        }
        // The first activation saturated by the raw inputs; the second dead behind a layer
        // of weights far below He's scale.
        for split in [false, true] {
            let mut layers = network(split, "tanh");
            let first_act = usize::from(split);
            layers[first_act].saturated_fraction = Some(0.9);
            let cures = cures_of(layers);
            assert!(
                cures[0].contains(&Cure::InputScaling),
                "split {split}: {cures:?}"
            );
            let mut layers = network(split, "relu");
            layers[first_act].dead_fraction = Some(0.9);
            let cures = cures_of(layers);
            assert!(cures[0].contains(&Cure::HeInit), "split {split}: {cures:?}");
        }
        // A saturated second layer is not the inputs' doing.
        let mut layers = network(true, "tanh");
        layers[3].saturated_fraction = Some(0.9);
        assert!(!cures_of(layers)[0].contains(&Cure::InputScaling));
    }

    /// The first-to-last ratio is a number only where there is one to read.
    #[test]
    fn first_to_last_ratio_is_none_without_a_finite_ratio() {
        let ratio = |first: f64, last: f64| {
            let mut layers = vec![layer(0, "dense", 1.0), layer(1, "dense", 1.0)];
            (layers[0].grad_norm, layers[1].grad_norm) = (first, last);
            report_at(0, layers).first_to_last_ratio()
        };
        assert_eq!(ratio(1e-3, 2.0), Some(5e-4));
        assert_eq!(ratio(0.0, 2.0), Some(0.0));
        assert_eq!(ratio(0.0, 0.0), None);
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
        let one = report_at(0, vec![layer(0, "dense", 1.0), layer(1, "relu", 0.0)]);
        assert_eq!(one.first_to_last_ratio(), None);
    }

    fn cures_of(layers: Vec<LayerHealth>) -> Vec<Vec<Cure>> {
        let report = report_at(0, layers);
        diagnose(&report, &Thresholds::default())
            .findings
            .into_iter()
            .filter_map(|f| match f {
                Finding::Dead { cures, .. } | Finding::Saturated { cures, .. } => Some(cures),
                _ => None,
            })
            .collect()
    }

    /// A first hidden layer saturated before any update may be the inputs' scale
    /// (`standardize` among the cures); saturated after updates, it was trained into the
    /// tails (the inputs have not changed), so `standardize` is not offered then.
    #[test]
    fn trained_in_saturation_is_not_blamed_on_the_inputs() {
        let saturated_cures = |step: usize| {
            let mut tanh = layer(0, "dense+tanh", 1.0);
            tanh.saturated_fraction = Some(0.9);
            let layers = vec![tanh, layer(1, "dense", 1.0)];
            diagnose(&report_at(step, layers), &Thresholds::default())
                .findings
                .into_iter()
                .find_map(|f| match f {
                    Finding::Saturated {
                        layer: 0, cures, ..
                    } => Some(cures),
                    _ => None,
                })
                .expect("layer 0 saturated")
        };
        assert_eq!(
            saturated_cures(0),
            [Cure::InputScaling, Cure::BatchNorm, Cure::Relu]
        );
        assert_eq!(saturated_cures(40), [Cure::BatchNorm, Cure::Relu]);
    }

    /// A deep stack whose gradient grows geometrically toward the input (as batchnorm without
    /// skips does at initialization) is reported with the per-layer factor; with residual
    /// connections, only clipping is suggested; a growth below 100x is not reported.
    #[test]
    fn gradients_growing_toward_the_input_are_reported() {
        let stack = |per_layer: f64, kinds: &str| {
            let mut layers: Vec<LayerHealth> = (0..11)
                .map(|i| layer(i, if i < 10 { kinds } else { "dense" }, 1.0))
                .collect();
            for (i, l) in layers.iter_mut().enumerate().take(10) {
                l.grad_norm = libm::pow(per_layer, (9 - i) as f64);
            }
            diagnose(&report_at(0, layers), &Thresholds::default())
        };
        let verdict = stack(1.8, "dense+batchnorm+relu");
        let growing = verdict.findings.iter().find_map(|f| match f {
            Finding::Growing {
                first,
                last,
                ratio,
                cures,
                ..
            } => Some((*first, *last, *ratio, cures.clone())),
            _ => None,
        });
        let (first, last, ratio, cures) = growing.expect("a growing finding");
        assert_eq!((first, last), (0, 9));
        assert!((ratio - libm::pow(1.8, 9.0)).abs() < 1e-9 * ratio);
        assert_eq!(cures, [Cure::Residual, Cure::Clipping]);
        assert!(verdict
            .to_string()
            .starts_with("gradients grow toward the input: layer 0's gradient norm is 2.0e2 times layer 9's (x1.80 per layer)"),
            "{verdict}");
        let with_skips = stack(1.8, "dense+batchnorm+relu+residual");
        assert!(with_skips
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Growing { cures, .. } if cures == &[Cure::Clipping])));
        assert!(
            stack(1.6, "dense+batchnorm+relu").healthy(),
            "1.6^9 = 69 < 100"
        );
    }

    /// Steep growth (x3 per layer) leaves the top layers below 1e-3 of the first: the growth
    /// is reported, not a vanishing top. A hand-built finding of zero layers prints.
    #[test]
    fn steep_growth_is_not_also_called_vanishing() {
        let mut layers: Vec<LayerHealth> = (0..11)
            .map(|i| layer(i, if i < 10 { "dense+relu" } else { "dense" }, 1.0))
            .collect();
        for (i, l) in layers.iter_mut().enumerate() {
            l.grad_norm = 1e-2 * libm::pow(3.0, (10 - i.min(10)) as f64);
        }
        let verdict = diagnose(&report_at(0, layers), &Thresholds::default());
        assert!(!verdict.vanishing(), "{verdict}");
        assert!(
            matches!(verdict.findings[..], [Finding::Growing { .. }]),
            "{verdict}"
        );
        let odd = Verdict {
            findings: vec![Finding::Growing {
                first: 0,
                last: 0,
                ratio: 200.0,
                layers: 0,
                cures: Vec::new(),
            }],
            step: None,
        };
        assert!(odd.to_string().contains("(x200.00 per layer)"), "{odd}");
    }

    /// Exploding gradients are cured by what the network lacks: batchnorm only without it,
    /// residual connections when the explosion grows toward the input and there are none.
    #[test]
    fn exploding_gradients_suggest_only_missing_cures() {
        let exploding = |kinds: &str, per_layer: f64| {
            let mut layers: Vec<LayerHealth> = (0..11)
                .map(|i| layer(i, if i < 10 { kinds } else { "dense" }, 1.0))
                .collect();
            for (i, l) in layers.iter_mut().enumerate() {
                l.grad_norm = 2e3 * libm::pow(per_layer, (10 - i.min(10)) as f64);
            }
            let verdict = diagnose(&report_at(0, layers), &Thresholds::default());
            assert!(!verdict.vanishing(), "{verdict}");
            match &verdict.findings[..] {
                [Finding::Exploding { cures, .. }] => cures.clone(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            exploding("dense+batchnorm+relu", 3.0),
            [Cure::Clipping, Cure::Residual]
        );
        assert_eq!(
            exploding("dense+relu", 1.0),
            [Cure::Clipping, Cure::BatchNorm]
        );
        assert_eq!(
            exploding("dense+batchnorm+relu+residual", 3.0),
            [Cure::Clipping]
        );
    }

    /// Before any update (step 0) dead units come from the initial weights, a bias or the
    /// inputs' scale, and an exploding (or growing) gradient from the initialization and the
    /// depth: the learning rate is not among the cures, as it is once the network has been
    /// trained.
    #[test]
    fn before_any_update_the_learning_rate_is_not_blamed() {
        let he_norm = libm::sqrt(2.0 / 64.0) * 32.0;
        let dead = |step| {
            let mut layers = vec![layer(0, "dense+relu", he_norm), layer(1, "dense", he_norm)];
            layers[0].dead_fraction = Some(0.9);
            diagnose(&report_at(step, layers), &Thresholds::default())
        };
        let before = dead(0);
        assert_eq!(before.step, Some(0));
        assert_eq!(
            before.to_string(),
            "dead units: 90% of layer 0's ReLUs output 0 for the whole batch\n    \
             cures: `leaky_relu`; input standardization (`standardize`)"
        );
        let after = dead(7);
        assert_eq!(after.step, Some(7));
        assert_eq!(
            after.to_string(),
            "dead units: 90% of layer 0's ReLUs output 0 for the whole batch\n    \
             cures: `leaky_relu` or a lower learning rate"
        );

        let exploding = |step| {
            let mut layers = vec![layer(0, "dense", 1.0), layer(1, "dense", 1.0)];
            layers[0].grad_norm = 1e9;
            diagnose(&report_at(step, layers), &Thresholds::default()).to_string()
        };
        let before = exploding(0);
        assert!(
            before.contains(
                "exploding gradients: layer 0 (norm up to 1.0e9)\n    cures: gradient clipping \
                 (`clip_grad_norm`); batch normalization (`batchnorm`)"
            ),
            "{before}"
        );
        assert!(!before.contains("learning rate"), "{before}");
        let after = exploding(7);
        assert!(
            after.contains(
                "cures: gradient clipping (`clip_grad_norm`) or a lower learning rate; batch"
            ),
            "{after}"
        );

        let growing = |step| {
            Verdict {
                findings: vec![Finding::Growing {
                    first: 0,
                    last: 9,
                    ratio: 200.0,
                    layers: 10,
                    cures: vec![Cure::Residual, Cure::Clipping],
                }],
                step,
            }
            .to_string()
        };
        assert!(growing(Some(0)).ends_with(
            "cures: residual connections (`residual { .. }`); gradient clipping (`clip_grad_norm`)"
        ));
        assert!(growing(Some(3)).ends_with("(`clip_grad_norm`) or a lower learning rate"));
        assert!(growing(None).ends_with("(`clip_grad_norm`) or a lower learning rate"));
    }

    /// Consecutive dead (or saturated) layers with the same cures print as one line, with
    /// the cures of the step: after updates the learning rate is among them, before any
    /// update (step 0) it is not.
    #[test]
    fn runs_of_dead_layers_print_as_one_line() {
        let dead = |layer, fraction| Finding::Dead {
            layer,
            fraction,
            cures: vec![Cure::LeakyRelu],
        };
        let mut verdict = Verdict {
            findings: vec![dead(1, 0.59), dead(2, 0.72), dead(3, 0.61), dead(7, 0.55)],
            step: Some(12),
        };
        assert_eq!(
            verdict.to_string(),
            "dead units: in layers 1-3, 7: 55-72% of each layer's ReLUs output 0 for the whole batch\n    cures: `leaky_relu` or a lower learning rate"
        );
        verdict.step = None;
        assert!(verdict
            .to_string()
            .ends_with("cures: `leaky_relu` or a lower learning rate"));
        verdict.step = Some(0);
        assert_eq!(
            verdict.to_string(),
            "dead units: in layers 1-3, 7: 55-72% of each layer's ReLUs output 0 for the whole batch\n    cures: `leaky_relu`"
        );
        let even = Verdict {
            findings: vec![dead(20, 0.521), dead(21, 0.518)],
            step: None,
        };
        assert!(
            even.to_string()
                .starts_with("dead units: in layers 20-21: 52% of each layer's ReLUs"),
            "{even}"
        );
        let one = Verdict {
            findings: vec![dead(4, 0.6)],
            step: None,
        };
        assert!(one
            .to_string()
            .starts_with("dead units: 60% of layer 4's ReLUs"));
    }

    /// Cures the network already has are not suggested: He initialization for dead ReLUs
    /// only when the weights are far below He's scale; batch normalization for saturated
    /// units only when their layer has none; input standardization (for saturated units, and
    /// for units dead before any update, in the first layer) only without a `standardize`
    /// layer.
    #[test]
    fn cures_already_in_place_are_not_suggested() {
        // He's std for 64 inputs is sqrt(2 / 64); over 64 x 16 weights the norm is 32 times it.
        let he_norm = libm::sqrt(2.0 / 64.0) * 32.0;
        // Dead at step 0 in the layer the inputs feed: input standardization is a cure
        // unless a `standardize` layer comes first.
        let dead = |weight_norm, standardized: bool| {
            let mut layers = Vec::new();
            if standardized {
                layers.push(layer(0, "standardize", 0.0));
            }
            let mut l = layer(layers.len(), "dense+relu", weight_norm);
            l.dead_fraction = Some(0.9);
            layers.push(l);
            layers.push(layer(layers.len(), "dense", he_norm));
            cures_of(layers)
        };
        assert_eq!(
            dead(he_norm, false),
            [[Cure::LeakyRelu, Cure::InputScaling].to_vec()]
        );
        assert_eq!(dead(he_norm, true), [[Cure::LeakyRelu].to_vec()]);
        // Xavier's scale for a 64 -> 16 layer: sqrt(2 / 80) against He's sqrt(2 / 64).
        let xavier_norm = libm::sqrt(2.0 / 80.0) * 32.0;
        assert_eq!(
            dead(xavier_norm, false),
            [[Cure::LeakyRelu, Cure::HeInit, Cure::InputScaling].to_vec()]
        );
        assert_eq!(
            dead(xavier_norm, true),
            [[Cure::LeakyRelu, Cure::HeInit].to_vec()]
        );
        // A frozen layer's weights stay as loaded: no initializer is suggested for them.
        let mut layers = vec![
            layer(0, "standardize", 0.0),
            layer(1, "dense+relu", xavier_norm),
        ];
        layers[1].dead_fraction = Some(0.9);
        layers[1].params = 0;
        layers.push(layer(2, "dense", he_norm));
        assert_eq!(cures_of(layers), [[Cure::LeakyRelu].to_vec()]);

        // A ReLU network whose signal shrinks layer by layer: He initialization is the cure
        // when the weights are below its scale (Xavier's), not when they already have it.
        let shrinking = |weight_norm: f64| {
            let mut layers: Vec<LayerHealth> = (0..4)
                .map(|i| layer(i, if i < 3 { "dense+relu" } else { "dense" }, weight_norm))
                .collect();
            for (i, l) in layers.iter_mut().enumerate() {
                l.activation_std = libm::pow(1e-2, i as f64);
            }
            let report = report_at(0, layers);
            diagnose(&report, &Thresholds::default())
                .findings
                .into_iter()
                .find_map(|f| match f {
                    Finding::SignalScale { cures, .. } => Some(cures),
                    _ => None,
                })
        };
        assert_eq!(
            shrinking(xavier_norm),
            Some([Cure::HeInit, Cure::BatchNorm].to_vec())
        );
        assert_eq!(shrinking(he_norm), Some([Cure::BatchNorm].to_vec()));

        let saturated = |kinds: &[&str]| {
            let mut layers: Vec<LayerHealth> = kinds
                .iter()
                .enumerate()
                .map(|(i, k)| layer(i, k, he_norm))
                .collect();
            let hidden = kinds.len() - 2;
            layers[hidden].saturated_fraction = Some(0.9);
            cures_of(layers)
        };
        assert_eq!(
            saturated(&["dense+sigmoid", "dense"]),
            [[Cure::InputScaling, Cure::BatchNorm, Cure::Relu].to_vec()]
        );
        assert_eq!(
            saturated(&["standardize", "dense+batchnorm+sigmoid", "dense"]),
            [[Cure::Relu].to_vec()]
        );
        assert_eq!(
            saturated(&["standardize", "dense+sigmoid", "dense"]),
            [[Cure::BatchNorm, Cure::Relu].to_vec()]
        );
    }

    #[test]
    fn a_gradient_that_underflowed_is_called_so() {
        let verdict = |worst_ratio| Verdict {
            findings: vec![Finding::Vanishing {
                layers: vec![0, 1, 2],
                worst_ratio,
                cures: vec![Cure::Relu],
            }],
            step: None,
        };
        let text = verdict(2e-33).to_string();
        assert!(
            text.contains("layers 0-2 (down to 2.0e-33 of the largest"),
            "{text}"
        );
        let text = verdict(0.0).to_string();
        assert!(
            text.contains("(down to exactly 0: no gradient reaches them)"),
            "{text}"
        );
        assert!(!text.contains("0.0e0"), "{text}");
    }

    /// Inputs far from unit scale are named before any update, from the first weighted
    /// layer's outputs and weights: He weights (rms sqrt(2 / 64)) whose ReLU outputs have a
    /// root mean square of 1 read inputs at 1.
    #[test]
    fn badly_scaled_inputs_are_named_before_training() {
        let he_norm = libm::sqrt(2.0 / 64.0) * 32.0;
        let scale_of = |out_rms: f64, kinds: &[&str], step: usize| {
            let layers: Vec<LayerHealth> = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    let mut l = layer(i, kind, he_norm);
                    l.activation_mean = 0.0;
                    l.activation_std = out_rms;
                    l
                })
                .collect();
            let report = report_at(step, layers);
            let verdict = diagnose(&report, &Thresholds::default());
            let found = verdict.findings.iter().find_map(|f| match f {
                Finding::InputScale { layer, rms, cures } => Some((*layer, *rms, cures.clone())),
                _ => None,
            });
            (found, verdict.to_string())
        };
        let relu = ["dense+relu", "dense+relu", "dense"];
        // At scale: nothing. Nor for one-hot inputs over 1024 categories (root mean square
        // 1/32): the small side's line is 1/30^2.
        assert_eq!(scale_of(1.0, &relu, 0).0, None);
        assert_eq!(scale_of(20.0, &relu, 0).0, None);
        assert_eq!(scale_of(1.0 / 32.0, &relu, 0).0, None);
        assert_eq!(scale_of(1.2e-3, &relu, 0).0, None);
        assert!(scale_of(1e-3, &relu, 0).0.is_some());
        // Inputs x1000 and x1e-4, as the ReLU outputs show them.
        let (found, text) = scale_of(1e3, &relu, 0);
        let (at, rms, cures) = found.unwrap();
        assert_eq!((at, cures), (0, [Cure::InputScaling].to_vec()));
        assert!((rms - 1e3).abs() < 1e-9 * 1e3, "{rms}");
        assert!(
            text.contains(
                "badly scaled inputs: layer 0's inputs are large (root mean square about 1.0e3"
            ),
            "{text}"
        );
        assert!(
            text.contains("input standardization (`standardize`)"),
            "{text}"
        );
        let (found, text) = scale_of(1e-4, &relu, 0);
        assert!(
            found.is_some_and(|(_, rms, _)| (rms - 1e-4).abs() < 1e-12),
            "{text}"
        );
        assert!(text.contains("are small"), "{text}");
        // Without a rectifier the outputs are the pre-activations.
        let plain = ["dense", "dense", "dense"];
        let (found, _) = scale_of(1e3, &plain, 0);
        assert!(
            found.is_some_and(|(_, rms, _)| (rms - 1e3 / core::f64::consts::SQRT_2).abs() < 1e-6)
        );
        // Not judged after updates, behind a standardize layer, through a batchnorm or a
        // bounded activation.
        assert_eq!(scale_of(1e3, &relu, 5).0, None);
        assert_eq!(
            scale_of(1e3, &["standardize", "dense+relu", "dense"], 0).0,
            None
        );
        assert_eq!(scale_of(1e3, &["dense+batchnorm+relu", "dense"], 0).0, None);
        assert_eq!(
            scale_of(1e-4, &["dense+tanh", "dense+tanh", "dense"], 0).0,
            None
        );
        // Behind a frozen first layer the network's inputs are that layer's: it is judged,
        // not the trainable layer after it.
        let frozen_first = |out_rms: f64| {
            let mut layers = vec![
                layer(0, "dense+relu", he_norm),
                layer(1, "dense+relu", he_norm),
                layer(2, "dense", he_norm),
            ];
            layers[0].params = 0;
            layers[0].activation_std = out_rms;
            let report = report_at(0, layers);
            diagnose(&report, &Thresholds::default())
                .findings
                .into_iter()
                .find_map(|f| match f {
                    Finding::InputScale { layer, .. } => Some(layer),
                    _ => None,
                })
        };
        assert_eq!(frozen_first(1.0), None);
        assert_eq!(frozen_first(1e4), Some(0));
    }

    /// He initialization is offered against a vanishing gradient in a ReLU network only: no
    /// initializer cures a deep sigmoid one, whose derivatives shrink the gradient anyway.
    #[test]
    fn he_initialization_is_not_offered_to_a_sigmoid_network() {
        let vanishing = |kind: &str| {
            // Small weights (a tenth of He's scale) and a gradient falling 10x per layer.
            let mut layers: Vec<LayerHealth> = (0..10)
                .map(|i| {
                    layer(
                        i,
                        if i < 9 { kind } else { "dense" },
                        0.1 * libm::sqrt(2.0 / 64.0) * 32.0,
                    )
                })
                .collect();
            for (i, l) in layers.iter_mut().enumerate() {
                l.grad_norm = libm::pow(10.0, i as f64 - 9.0);
            }
            let report = report_at(3, layers);
            diagnose(&report, &Thresholds::default())
                .findings
                .into_iter()
                .find_map(|f| match f {
                    Finding::Vanishing { cures, .. } => Some(cures),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(
            vanishing("dense+sigmoid"),
            [Cure::Relu, Cure::BatchNorm, Cure::Residual].to_vec()
        );
        assert_eq!(
            vanishing("dense+relu"),
            [Cure::HeInit, Cure::BatchNorm, Cure::Residual].to_vec()
        );
    }

    /// A trained tanh output layer that saturates is confident, not stuck: only hidden layers
    /// are judged after updates; before any, the output layer is judged too.
    #[test]
    fn a_saturated_output_layer_is_judged_only_before_training() {
        let saturated_layers = |step: usize| {
            let mut layers = vec![layer(0, "dense+relu", 1.0), layer(1, "dense+tanh", 1.0)];
            layers[1].saturated_fraction = Some(0.7);
            let report = report_at(step, layers);
            diagnose(&report, &Thresholds::default())
                .findings
                .into_iter()
                .filter_map(|f| match f {
                    Finding::Saturated { layer, .. } => Some(layer),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(saturated_layers(0), [1]);
        assert_eq!(saturated_layers(200), [] as [usize; 0]);
        // A hidden layer is judged at every step.
        let mut layers = vec![layer(0, "dense+tanh", 1.0), layer(1, "dense", 1.0)];
        layers[0].saturated_fraction = Some(0.7);
        let report = report_at(200, layers);
        assert!(diagnose(&report, &Thresholds::default())
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Saturated { layer: 0, .. })));
    }

    /// The signal is judged by the spread across samples: units that keep their spread from
    /// one another while every sample gets the same values have lost it.
    #[test]
    fn a_signal_lost_across_samples_is_found_where_the_spread_over_units_hides_it() {
        let finding = |sample_std: &dyn Fn(usize) -> f64| {
            let layers: Vec<LayerHealth> = (0..6)
                .map(|i| LayerHealth {
                    // The spread over all values stays 1 (the units differ)...
                    activation_std: 1.0,
                    // ...while the part that tells samples apart is as given.
                    sample_std: sample_std(i),
                    ..layer(i, if i < 5 { "dense+sigmoid" } else { "dense" }, 1.0)
                })
                .collect();
            let verdict = diagnose(&report_at(0, layers), &Thresholds::default());
            let found = verdict.findings.iter().find_map(|f| match f {
                Finding::SignalScale { ratio, cures, .. } => Some((*ratio, cures.clone())),
                _ => None,
            });
            (found, verdict.to_string())
        };
        let (found, text) = finding(&|_| 0.5);
        assert_eq!(found, None, "{text}");
        // x0.02 per layer over layers 0-4: 1.6e-7.
        let (found, text) = finding(&|i| 0.5 * libm::pow(0.02, i as f64));
        let (ratio, cures) = found.unwrap();
        assert!((ratio - libm::pow(0.02, 4.0)).abs() < 1e-15, "{ratio}");
        assert_eq!(cures, [Cure::BatchNorm]);
        assert!(
            text.contains("shrinking signal: the outputs' spread across samples falls from layer 0 to layer 4 by 1.6e-7 (x0.02 per layer)"),
            "{text}"
        );
        // Every sample the same at the top: said in words, not as a factor of 0.
        let (found, text) = finding(&|i| if i < 3 { 0.5 } else { 0.0 });
        assert_eq!(found.map(|(r, _)| r), Some(0.0));
        assert!(
            text.contains("lost signal: layer 4 gives every sample the same output"),
            "{text}"
        );
    }
}
