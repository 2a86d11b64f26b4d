//! A training loop for classifiers: epochs, seeded shuffling, mini-batches of a compile-time
//! size, evaluation, a progress bar, and a [`History`] of loss, accuracy and per-layer
//! gradient norms.
//!
//! A step whose loss or gradient is NaN or infinite is refused before it touches the
//! parameters, and recorded in the history: weights never become NaN.

use crate::diagnostics::{snapshot, GradientReport};
use crate::loss::{argmax, softmax_cross_entropy_rows, LabelOutOfRange};
use crate::network::TrainableNetwork;
use crate::optim::{ConfigError, Optimizer};
use bytemuck::Zeroable;
use gradflow_tensor::{sq, Scalar};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::string::String;
use std::time::Instant;
use std::vec::Vec;

pub use crate::history::{EpochRecord, History, Refusal};

/// Samples and their labels, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a, X> {
    /// One row per sample.
    pub features: &'a [X],
    /// The class of each sample.
    pub labels: &'a [usize],
}

impl<'a, X> Samples<'a, X> {
    /// Pairs features with labels.
    pub fn new(features: &'a [X], labels: &'a [usize]) -> Self {
        Self { features, labels }
    }
}

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Seed of the shuffling: `ChaCha8Rng::seed_from_u64(seed)`, the generator
    /// `gradflow::rng(seed)` also starts from, so a network initialized with the same seed
    /// draws its weights from the same numbers the shuffle uses. Give the two different seeds
    /// for independent streams.
    pub seed: u64,
    /// Show a progress bar (on a terminal only).
    pub progress: bool,
    /// Record per-layer gradient norms every this many steps (0: never).
    pub grad_norms_every: usize,
    /// Capture a full [`GradientReport`] at the first and the last step.
    pub reports: bool,
    /// Refuse steps whose input batch holds a NaN or infinite value, and a test set that
    /// holds one (`TrainError::NonFiniteTestInput`: its accuracy would count the sample as
    /// misclassified without a word). On by default; it costs one pass over each batch and
    /// one over the test set.
    pub check_inputs: bool,
    /// Text shown beside the progress bar.
    pub label: String,
    /// Epochs a resumed run has already done. `fit` replays their shuffles without training,
    /// so that a run continued from a checkpoint saved after epoch `start_epoch` (see
    /// [`fit_with_epoch_hook`]) ends exactly as one that never stopped; it then trains
    /// epochs `start_epoch + 1..=epochs`. 0 for a fresh run.
    pub start_epoch: usize,
    /// Steps of epoch `start_epoch + 1` a resumed run has already done: `fit` shuffles that
    /// epoch as the interrupted run did and skips its first `start_step` batches, so a run
    /// continued from a checkpoint saved mid-epoch (see [`fit_with_step_hook`], which hands
    /// the hook both numbers as a [`Position`]) ends with the same network and optimizer as
    /// one that never stopped. Less than the steps in an epoch; 0 for a fresh run.
    pub start_step: usize,
}

impl TrainConfig {
    /// This configuration, resuming after `position` (from [`fit_with_step_hook`]):
    /// `start_epoch` and `start_step` set from it.
    pub fn resume_at(self, position: Position) -> Self {
        Self {
            start_epoch: position.epoch,
            start_step: position.step,
            ..self
        }
    }
}

/// Where a run stands after a step: `epoch` epochs completed and `step` steps of the next one
/// done. A run resumes there with [`TrainConfig::resume_at`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps of epoch `epoch + 1` done (0 right after an epoch ends).
    pub step: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            seed: 0,
            progress: true,
            grad_norms_every: 10,
            reports: false,
            check_inputs: true,
            label: String::new(),
            start_epoch: 0,
            start_step: 0,
        }
    }
}

/// Training data that cannot be used.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TrainError {
    /// Features and labels differ in number.
    LengthMismatch {
        /// Which set.
        set: &'static str,
        /// Number of feature rows.
        features: usize,
        /// Number of labels.
        labels: usize,
    },
    /// Fewer training samples than one batch.
    TooFewSamples {
        /// Samples given.
        samples: usize,
        /// The batch size.
        batch: usize,
    },
    /// The batch size `B` is 0: no step could train on anything.
    ZeroBatch,
    /// A label names no class.
    Label {
        /// Which set.
        set: &'static str,
        /// The bad label.
        error: LabelOutOfRange,
    },
    /// The run's step count does not fit a `usize`.
    TooManyEpochs {
        /// Epochs asked for.
        epochs: usize,
        /// Steps in each.
        steps_per_epoch: usize,
    },
    /// The optimizer's settings are invalid (one made by `const_zeroed` and never
    /// configured), so it would refuse every step.
    Optimizer(ConfigError),
    /// `epochs` is 0: a run that would train nothing (a finished run is resumed with
    /// `start_epoch == epochs`, not with `epochs: 0`).
    NoEpochs,
    /// The network has no trainable parameter (every weighted layer is `frozen`), so no step
    /// could change it.
    NothingToTrain,
    /// A layer misdescribes its tensors (a layer of your own whose `PARAM_COUNT` or
    /// `TRAINABLE_PARAM_COUNT` disagrees with what its `visit_tensors` visits): checked
    /// before the run, since the counts decide what `fit` does.
    Layout(crate::network::LayoutError),
    /// A layer's setting is outside what it admits (a batchnorm's `momentum` of 2 or `eps`
    /// of 0, set by hand): training would run, but with running statistics that go negative
    /// or non-finite, which inference turns into NaN and `gradflow::weights` refuses to save.
    /// Checked before the run. (A NaN `value` makes the error unequal to itself under the
    /// derived `PartialEq`: match on `name` instead.)
    Setting {
        /// The setting, `layer.name` (`batchnorm_0.momentum`).
        name: String,
        /// Its value.
        value: f64,
        /// What it must be: `"it must be between 0 and 1"`.
        requirement: &'static str,
    },
    /// A test sample holds a NaN or infinite feature (checked when
    /// [`TrainConfig::check_inputs`] is on).
    NonFiniteTestInput {
        /// Index of the sample in the test set.
        sample: usize,
    },
    /// `start_epoch` and `start_step` are not a point of the run: `start_epoch` beyond
    /// `epochs`, `start_step` not within an epoch, or steps into an epoch after the last.
    ResumePoint {
        /// The `start_epoch` asked for.
        start_epoch: usize,
        /// The `start_step` asked for.
        start_step: usize,
        /// Epochs of the run.
        epochs: usize,
        /// Steps in each epoch.
        steps_per_epoch: usize,
    },
}

impl core::fmt::Display for TrainError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TrainError::LengthMismatch {
                set,
                features,
                labels,
            } => {
                write!(
                    f,
                    "{set} set has {features} feature rows but {labels} labels"
                )
            }
            TrainError::TooFewSamples { samples, batch } => {
                write!(
                    f,
                    "{samples} training samples cannot fill one batch of {batch}"
                )
            }
            TrainError::ZeroBatch => write!(
                f,
                "a batch of 0 samples trains nothing: the batch size B must be at least 1"
            ),
            TrainError::Label { set, error } => write!(f, "{set} set: {error}"),
            TrainError::Optimizer(error) => write!(f, "{error}"),
            TrainError::TooManyEpochs {
                epochs,
                steps_per_epoch,
            } => write!(
                f,
                "{epochs} epochs of {steps_per_epoch} steps are more steps than a usize counts"
            ),
            TrainError::NoEpochs => write!(f, "`epochs` is 0: the run would train nothing"),
            TrainError::NothingToTrain => write!(
                f,
                "the network has no trainable parameters (every weighted layer is frozen)"
            ),
            TrainError::Layout(e) => write!(f, "{e}"),
            TrainError::Setting {
                name,
                value,
                requirement,
            } => write!(
                f,
                "setting `{name}` is {value}: {requirement}; fit does not start with it"
            ),
            TrainError::NonFiniteTestInput { sample } => write!(
                f,
                "test set: sample {sample} holds a NaN or infinite feature, which its accuracy would count as misclassified; clean the data, or turn off check_inputs"
            ),
            TrainError::ResumePoint {
                start_epoch,
                start_step,
                epochs,
                steps_per_epoch,
            } => write!(
                f,
                "cannot resume after epoch {start_epoch} and step {start_step} of the next: the run has {epochs} epochs of {steps_per_epoch} steps"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

fn validate<X>(set: &'static str, s: &Samples<'_, X>, classes: usize) -> Result<(), TrainError> {
    if s.features.len() != s.labels.len() {
        return Err(TrainError::LengthMismatch {
            set,
            features: s.features.len(),
            labels: s.labels.len(),
        });
    }
    if let Some((sample, &label)) = s.labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(TrainError::Label {
            set,
            error: LabelOutOfRange {
                sample,
                label,
                classes,
            },
        });
    }
    Ok(())
}

/// The first setting of `net` that is not finite or not one its layer admits.
fn check_settings<T: Scalar, N: crate::network::Network<T> + ?Sized>(
    net: &N,
) -> Result<(), TrainError> {
    let mut result = Ok(());
    net.visit_settings(&mut |s| {
        let value = s.value.to_f64();
        if result.is_ok() && !(value.is_finite() && (s.admits)(value)) {
            result = Err(TrainError::Setting {
                name: crate::layer::tensor_name(s.layer, s.name),
                value,
                requirement: s.requirement,
            });
        }
    });
    result
}

/// Whether every scalar of `samples` is finite (what `check_inputs` asks of a batch).
fn all_finite<T: Scalar, X: bytemuck::Pod>(samples: &[X]) -> bool {
    bytemuck::cast_slice::<X, T>(samples)
        .iter()
        .all(|v| v.is_finite())
}

/// Fraction of `samples` that `net` classifies correctly (NaN for an empty set).
///
/// # Panics
/// If `samples` has not as many labels as feature rows, or has a label that names no output
/// of the network (a data set for another network): a figure computed over the shorter of
/// the two, or with labels that can never match, would look plausible and be wrong.
pub fn accuracy<T, N>(net: &N, samples: Samples<'_, N::Input>) -> f64
where
    T: Scalar,
    N: crate::network::Network<T>,
    N::Output: AsRef<[T]>,
{
    assert_eq!(
        samples.features.len(),
        samples.labels.len(),
        "accuracy: {} feature rows but {} labels",
        samples.features.len(),
        samples.labels.len()
    );
    if let Some((sample, label)) = samples
        .labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l >= N::OUTPUT)
    {
        panic!(
            "accuracy: sample {sample} has label {label}, but the network has {} outputs (classes 0..{})",
            N::OUTPUT,
            N::OUTPUT
        );
    }
    let correct = samples
        .features
        .iter()
        .zip(samples.labels)
        .filter(|(x, &label)| {
            let mut y: [N::Output; 1] = Zeroable::zeroed();
            net.forward_into(&[**x], &mut y);
            // An output with a NaN (a diverged network) classifies nothing, not class 0.
            let y = y[0].as_ref();
            !y.iter().any(|v| v.is_nan()) && argmax(y) == label
        })
        .count();
    correct as f64 / samples.labels.len() as f64
}

/// Per-layer gradient L2 norms, one per layer item with trainable parameters, in order.
pub fn layer_grad_norms<T: Scalar, N: TrainableNetwork<T>>(
    net: &mut N,
    grads: &N::Grads,
) -> (Vec<usize>, Vec<f64>) {
    let mut layers: Vec<usize> = Vec::new();
    let mut norms: Vec<f64> = Vec::new();
    net.visit_params::<0>(grads, [], &mut |p| {
        let index = N::LAYERS
            .iter()
            .find(|l| l.name == p.layer)
            .map_or(usize::MAX, |l| l.index);
        if layers.last() != Some(&index) {
            layers.push(index);
            norms.push(0.0);
        }
        if let Some(n) = norms.last_mut() {
            *n += p.grad.iter().map(|g| sq(g.to_f64())).sum::<f64>();
        }
    });
    (layers, norms.into_iter().map(libm::sqrt).collect())
}

/// Trains `net` with `optimizer` on mini-batches of `B` for `config.epochs` epochs.
///
/// Each epoch shuffles the training samples (seeded by `config.seed`) and leaves out the last
/// `len % B` of the shuffle. Labels are checked against the network's output width first.
/// A step whose input, loss or gradient is not finite, or whose update is too large, is
/// refused and recorded in [`History::refused`]; the run goes on, and returns `Ok` even when
/// it refused every step (its parameters are then as they were).
pub fn fit<T, N, O, const B: usize>(
    net: &mut N,
    optimizer: &mut O,
    train: Samples<'_, N::Input>,
    test: Samples<'_, N::Input>,
    config: &TrainConfig,
) -> Result<History, TrainError>
where
    T: Scalar,
    N: TrainableNetwork<T>,
    N::Input: bytemuck::Pod,
    N::Output: AsRef<[T]> + AsMut<[T]>,
    O: Optimizer<T, N>,
{
    fit_observed::<T, N, O, B>(net, optimizer, train, test, config, &mut |_, _| {})
}

/// [`fit`], calling `on_epoch_end(epoch, net, optimizer)` after each epoch (1-based), where a
/// caller saves checkpoints. To resume, restore the network and optimizer from the
/// checkpoint of epoch `e` and call again with `start_epoch: e` and the same seed.
pub fn fit_with_epoch_hook<T, N, O, const B: usize>(
    net: &mut N,
    optimizer: &mut O,
    train: Samples<'_, N::Input>,
    test: Samples<'_, N::Input>,
    config: &TrainConfig,
    on_epoch_end: &mut dyn FnMut(usize, &mut N, &mut O),
) -> Result<History, TrainError>
where
    T: Scalar,
    N: TrainableNetwork<T>,
    N::Input: bytemuck::Pod,
    N::Output: AsRef<[T]> + AsMut<[T]>,
    O: Optimizer<T, N>,
{
    run::<T, N, O, B>(
        net,
        optimizer,
        train,
        test,
        config,
        Hooks {
            observe: &mut |_, _| {},
            on_step: None,
            on_epoch_end,
        },
    )
}

/// [`fit`], calling `on_step(position, net, optimizer)` after each step whose number (from 1,
/// over the whole run, counting the steps a resumed run skips and refused steps) is a
/// multiple of `every` (`every == 0`: never),
/// where a caller saves checkpoints within long epochs. To resume, restore the network and
/// optimizer from the checkpoint saved at `position` and call again with
/// [`TrainConfig::resume_at`]`(position)` and the same seed: the network and optimizer end as
/// in a run that never stopped. (The resumed run's history starts at `position`: the
/// interrupted epoch's mean loss counts only its own steps.)
pub fn fit_with_step_hook<T, N, O, const B: usize>(
    net: &mut N,
    optimizer: &mut O,
    train: Samples<'_, N::Input>,
    test: Samples<'_, N::Input>,
    config: &TrainConfig,
    every: usize,
    on_step: &mut dyn FnMut(Position, &mut N, &mut O),
) -> Result<History, TrainError>
where
    T: Scalar,
    N: TrainableNetwork<T>,
    N::Input: bytemuck::Pod,
    N::Output: AsRef<[T]> + AsMut<[T]>,
    O: Optimizer<T, N>,
{
    run::<T, N, O, B>(
        net,
        optimizer,
        train,
        test,
        config,
        Hooks {
            observe: &mut |_, _| {},
            on_step: Some((every, on_step)),
            on_epoch_end: &mut |_, _, _| {},
        },
    )
}

/// [`fit`], calling `observe(step, cache)` after every backward pass (before the optimizer
/// step), for experiments that watch activations or gradients through training
/// (`TrainableNetwork::visit_activations`, `visit_output_grads`).
pub fn fit_observed<T, N, O, const B: usize>(
    net: &mut N,
    optimizer: &mut O,
    train: Samples<'_, N::Input>,
    test: Samples<'_, N::Input>,
    config: &TrainConfig,
    observe: &mut dyn FnMut(usize, &N::Cache<B>),
) -> Result<History, TrainError>
where
    T: Scalar,
    N: TrainableNetwork<T>,
    N::Input: bytemuck::Pod,
    N::Output: AsRef<[T]> + AsMut<[T]>,
    O: Optimizer<T, N>,
{
    run::<T, N, O, B>(
        net,
        optimizer,
        train,
        test,
        config,
        Hooks {
            observe,
            on_step: None,
            on_epoch_end: &mut |_, _, _| {},
        },
    )
}

/// A hook called with the run's position after a step.
type StepHook<'a, N, O> = &'a mut dyn FnMut(Position, &mut N, &mut O);

/// What the `fit` variants call back.
struct Hooks<'a, N: TrainableNetwork<T>, O, T: Scalar, const B: usize> {
    observe: &'a mut dyn FnMut(usize, &N::Cache<B>),
    /// Every how many steps, and what.
    on_step: Option<(usize, StepHook<'a, N, O>)>,
    on_epoch_end: &'a mut dyn FnMut(usize, &mut N, &mut O),
}

fn run<T, N, O, const B: usize>(
    net: &mut N,
    optimizer: &mut O,
    train: Samples<'_, N::Input>,
    test: Samples<'_, N::Input>,
    config: &TrainConfig,
    hooks: Hooks<'_, N, O, T, B>,
) -> Result<History, TrainError>
where
    T: Scalar,
    N: TrainableNetwork<T>,
    N::Input: bytemuck::Pod,
    N::Output: AsRef<[T]> + AsMut<[T]>,
    O: Optimizer<T, N>,
{
    validate("training", &train, N::OUTPUT)?;
    validate("test", &test, N::OUTPUT)?;
    if config.check_inputs {
        let finite = |x: &N::Input| all_finite::<T, _>(core::slice::from_ref(x));
        if let Some(sample) = test.features.iter().position(|x| !finite(x)) {
            return Err(TrainError::NonFiniteTestInput { sample });
        }
    }
    optimizer.check_config().map_err(TrainError::Optimizer)?;
    if config.epochs == 0 {
        return Err(TrainError::NoEpochs);
    }
    let mut grads = crate::memory::zeroed_box::<N::Grads>();
    crate::network::check_params_layout(net, &grads).map_err(TrainError::Layout)?;
    check_settings(net)?;
    if N::TRAINABLE_PARAM_COUNT == 0 {
        return Err(TrainError::NothingToTrain);
    }
    if B == 0 {
        return Err(TrainError::ZeroBatch);
    }
    if train.labels.len() < B {
        return Err(TrainError::TooFewSamples {
            samples: train.labels.len(),
            batch: B,
        });
    }
    let start = Instant::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let mut cache = crate::memory::zeroed_box::<N::Cache<B>>();
    let mut x = crate::memory::zeroed_box::<[N::Input; B]>();
    let mut dy = crate::memory::zeroed_box::<[N::Output; B]>();
    let mut labels = [0usize; B];
    let mut order: Vec<usize> = (0..train.labels.len()).collect();
    let steps_per_epoch = order.len() / B;
    let total_steps =
        steps_per_epoch
            .checked_mul(config.epochs)
            .ok_or(TrainError::TooManyEpochs {
                epochs: config.epochs,
                steps_per_epoch,
            })?;
    let Hooks {
        observe,
        mut on_step,
        on_epoch_end,
    } = hooks;
    let (first_epoch, skip) = (config.start_epoch, config.start_step);
    // Epochs done (all of them at most), then steps of the next epoch (none after the last).
    if first_epoch > config.epochs
        || (skip > 0 && (skip >= steps_per_epoch || first_epoch == config.epochs))
    {
        return Err(TrainError::ResumePoint {
            start_epoch: first_epoch,
            start_step: skip,
            epochs: config.epochs,
            steps_per_epoch,
        });
    }
    let done = steps_per_epoch * first_epoch + skip;
    let bar = progress_bar(config, total_steps - done);
    let mut history = History {
        steps: done,
        ..History::default()
    };
    // A resumed run replays the shuffles of the epochs already done.
    for _ in 0..first_epoch {
        order.shuffle(&mut rng);
    }

    for epoch in first_epoch + 1..=config.epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut accepted) = (0.0, 0usize);
        let skip = if epoch == first_epoch + 1 { skip } else { 0 };
        for (in_epoch, rows) in order.chunks_exact(B).enumerate().skip(skip) {
            let step = history.steps;
            history.steps += 1;
            bar.inc(1);
            'step: {
                for (k, &r) in rows.iter().enumerate() {
                    x[k] = train.features[r];
                    labels[k] = train.labels[r];
                }
                if config.check_inputs && !all_finite::<T, _>(&x[..]) {
                    history.refused.push((step, Refusal::NonFiniteInput));
                    break 'step;
                }
                N::zero_grads(&mut *grads);
                let out = net.forward_train(&x, &mut cache);
                let loss = match softmax_cross_entropy_rows(out, &labels, &mut *dy) {
                    Ok(l) if l.is_finite() => l,
                    _ => {
                        history.refused.push((step, Refusal::NonFiniteLoss));
                        break 'step;
                    }
                };
                net.backward_into(&mut cache, &dy, None, &mut grads);
                observe(step, &cache);
                let last = step + 1 == total_steps;
                // The first report is of the first step this run applies.
                let first = history.first_report.is_none();
                let mut report = (config.reports && (first || last)).then(|| {
                    (
                        GradientReport::capture::<T, N, B>(step, net, &cache, &grads),
                        snapshot(net, &grads),
                    )
                });
                if config.grad_norms_every > 0 && step.is_multiple_of(config.grad_norms_every) {
                    let (layers, norms) = layer_grad_norms(net, &grads);
                    history.layers = layers;
                    history.grad_norms.push((step, norms));
                }
                let outcome = optimizer.step(net, &grads);
                if !outcome.applied {
                    let reason = if outcome.too_large {
                        Refusal::GradientTooLarge
                    } else {
                        Refusal::NonFiniteGradient
                    };
                    history.refused.push((step, reason));
                    // The last step's report is kept even so: its verdict says why (a NaN
                    // or an overflowing gradient), and no update took place to record.
                    if let Some((r, _)) = report.take().filter(|_| last) {
                        history.last_report = Some(r);
                    }
                    break 'step;
                }
                if let Some((mut r, before)) = report.take() {
                    r.record_update(&before, net, &grads);
                    if first {
                        history.first_report = Some(r.clone());
                    }
                    if last {
                        history.last_report = Some(r);
                    }
                }
                loss_sum += loss.to_f64();
                accepted += 1;
            }
            if let Some((every, on_step)) = on_step.as_mut() {
                if *every > 0 && history.steps.is_multiple_of(*every) {
                    let position = if in_epoch + 1 == steps_per_epoch {
                        Position { epoch, step: 0 }
                    } else {
                        Position {
                            epoch: epoch - 1,
                            step: in_epoch + 1,
                        }
                    };
                    on_step(position, net, optimizer);
                }
            }
        }
        let record = EpochRecord {
            epoch,
            train_loss: if accepted > 0 {
                loss_sum / accepted as f64
            } else {
                f64::NAN
            },
            train_accuracy: accuracy(net, train),
            test_accuracy: accuracy(net, test),
            seconds: start.elapsed().as_secs_f64(),
        };
        bar.set_message(std::format!(
            "epoch {epoch}: loss {:.4}, test accuracy {:.4}",
            record.train_loss,
            record.test_accuracy
        ));
        history.epochs.push(record);
        on_epoch_end(epoch, net, optimizer);
    }
    bar.finish_and_clear();
    Ok(history)
}

fn progress_bar(config: &TrainConfig, total: usize) -> indicatif::ProgressBar {
    if !config.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(config.label.clone());
    bar
}
