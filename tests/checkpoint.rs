//! Checkpoints and training guards: a run interrupted at step k and resumed from its
//! checkpoint ends bit-identical to an uninterrupted run (SGD with momentum and Adam); a
//! damaged or mismatched checkpoint is refused and changes nothing; a step with a non-finite
//! input, loss or gradient, or a gradient too large for f32, is refused and leaves parameters
//! and optimizer state unchanged.

use gradflow::checkpoint::{self, Progress};
use gradflow::nn::train::{fit, Refusal, Samples, TrainConfig};
use gradflow::nn::OptimizerState;
use gradflow::prelude::*;
use gradflow::weights::WeightsError;
use rand::Rng as _;

network! {
    /// A small classifier with batchnorm, so running statistics are part of the state.
    pub struct Net<f32> {
        input 2,
        dense 8 [he_init, batchnorm, relu],
        dense 3,
    }
}

network! {
    /// `Net` with its first layer (and that layer's batchnorm) frozen, as for fine-tuning: the
    /// same stored tensors, less optimizer state.
    pub struct NetFrozen<f32> {
        input 2,
        dense 8 [he_init, batchnorm, relu, frozen],
        dense 3,
    }
}

const B: usize = 8;
const STEPS: u64 = 40;
const STEPS_PER_EPOCH: u64 = 8;

/// 64 points of three classes (by angle), the same every time.
fn data() -> (Vec<[f32; 2]>, Vec<usize>) {
    let mut rng = gradflow::rng(1234);
    (0..64)
        .map(|_| {
            let x = [
                rng.random_range(-1.0f32..1.0),
                rng.random_range(-1.0f32..1.0),
            ];
            let class = ((x[1].atan2(x[0]) + std::f32::consts::PI)
                / (2.0 * std::f32::consts::PI / 3.0)) as usize;
            (x, class.min(2))
        })
        .unzip()
}

/// Steps `from..to` of a training loop whose randomness all comes from `rng`: each step
/// draws its batch from it.
fn train<O: Optimizer<f32, Net>>(
    net: &mut Net,
    optimizer: &mut O,
    rng: &mut gradflow::Rng,
    from: u64,
    to: u64,
) {
    let (features, labels) = data();
    let mut cache = NetCache::<B>::new_boxed();
    let mut grads = NetGrads::new_boxed();
    let mut dy = [[0.0f32; 3]; B];
    for _ in from..to {
        let rows: [usize; B] = core::array::from_fn(|_| rng.random_range(0..features.len()));
        let x = rows.map(|r| features[r]);
        let y = rows.map(|r| labels[r]);
        grads.zero();
        let out = net.forward_train(&x, &mut cache);
        let loss = softmax_cross_entropy(out, &y, &mut dy).unwrap();
        assert!(loss.is_finite());
        net.backward(&mut cache, &dy, &mut grads);
        assert!(optimizer.step(net, &grads).applied);
    }
}

fn progress(step: u64) -> Progress {
    Progress {
        epoch: step / STEPS_PER_EPOCH,
        step,
    }
}

/// The whole training state as checkpoint bytes, for exact comparisons.
fn state<O: OptimizerState<f32, Net>>(
    net: &mut Net,
    optimizer: &mut O,
    rng: &gradflow::Rng,
    step: u64,
) -> Vec<u8> {
    checkpoint::to_bytes(net, optimizer, rng, progress(step)).unwrap()
}

fn resumed_run_is_bit_identical<O>(make: impl Fn() -> O, k: u64)
where
    O: Optimizer<f32, Net> + OptimizerState<f32, Net>,
{
    // Uninterrupted.
    let mut net = Net::new(&mut gradflow::rng(7));
    let mut opt = make();
    let mut rng = gradflow::rng(8);
    train(&mut net, &mut opt, &mut rng, 0, STEPS);
    let uninterrupted = state(&mut net, &mut opt, &rng, STEPS);

    // Interrupted at step k: checkpoint, then everything is lost.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("run.ckpt");
    {
        let mut net = Net::new(&mut gradflow::rng(7));
        let mut opt = make();
        let mut rng = gradflow::rng(8);
        train(&mut net, &mut opt, &mut rng, 0, k);
        checkpoint::save(&path, &mut net, &mut opt, &rng, progress(k)).unwrap();
    }
    // A new process: other seeds, fresh optimizer; the checkpoint restores all of it.
    let mut net = Net::new(&mut gradflow::rng(70));
    let mut opt = make();
    let mut rng = gradflow::rng(80);
    let resumed = checkpoint::load(&path, &mut net, &mut opt, &mut rng).unwrap();
    assert_eq!(resumed, progress(k));
    train(&mut net, &mut opt, &mut rng, resumed.step, STEPS);
    assert!(
        state(&mut net, &mut opt, &rng, STEPS) == uninterrupted,
        "{}: the resumed run differs from the uninterrupted one",
        O::NAME
    );
    // Only the checkpoint is left in the folder (no temporary file).
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
}

#[test]
fn sgd_with_momentum_resumes_bit_identically() {
    for k in [1, 13, 24] {
        resumed_run_is_bit_identical(
            || Sgd::<NetGrads>::new(SgdConfig::new(0.05).momentum(0.9)).unwrap(),
            k,
        );
    }
}

#[test]
fn adam_resumes_bit_identically() {
    for k in [1, 13, 24] {
        resumed_run_is_bit_identical(|| Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap(), k);
    }
}

#[test]
fn without_the_optimizer_state_the_run_would_differ() {
    // The test above would be empty if momentum or the moments did not matter: restoring the
    // network and generator alone gives another result.
    let mut net = Net::new(&mut gradflow::rng(7));
    let mut opt = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    let mut rng = gradflow::rng(8);
    train(&mut net, &mut opt, &mut rng, 0, STEPS);
    let full = gradflow::weights::to_bytes(&net).unwrap();

    let mut net = Net::new(&mut gradflow::rng(7));
    let mut opt = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    let mut rng = gradflow::rng(8);
    train(&mut net, &mut opt, &mut rng, 0, 13);
    let mut fresh = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    train(&mut net, &mut fresh, &mut rng, 13, STEPS);
    assert_ne!(gradflow::weights::to_bytes(&net).unwrap(), full);
}

/// `bytes` (a safetensors file of f32 tensors) with value `index` of tensor `name` set to
/// `value`.
fn poke(bytes: &[u8], name: &str, index: usize, value: f32) -> Vec<u8> {
    poke_bytes(bytes, name, index, &value.to_le_bytes())
}

/// `bytes` (a safetensors file) with element `index` of tensor `name`, whose elements are
/// `value.len()` bytes wide, set to `value`.
fn poke_bytes(bytes: &[u8], name: &str, index: usize, value: &[u8]) -> Vec<u8> {
    let (header, metadata) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let (start, end) = metadata.info(name).unwrap().data_offsets;
    let at = 8 + header + start + value.len() * index;
    assert!(at + value.len() <= 8 + header + end);
    let mut out = bytes.to_vec();
    out[at..at + value.len()].copy_from_slice(value);
    out
}

#[test]
fn a_bad_checkpoint_is_refused_and_changes_nothing() {
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut adam = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    let mut rng = gradflow::rng(2);
    train(&mut net, &mut adam, &mut rng, 0, 3);
    let good = state(&mut net, &mut adam, &rng, 3);

    let mut target_net = Net::new(&mut gradflow::rng(5));
    let mut target_opt = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    let mut target_rng = gradflow::rng(6);
    let before = state(&mut target_net, &mut target_opt, &target_rng, 0);
    let mut check = |bytes: &[u8]| -> WeightsError {
        let err = checkpoint::from_bytes(bytes, &mut target_net, &mut target_opt, &mut target_rng)
            .unwrap_err();
        assert!(
            state(&mut target_net, &mut target_opt, &target_rng, 0) == before,
            "{err}"
        );
        err
    };

    // Truncated, corrupted, or a plain weights file.
    assert!(matches!(
        check(&good[..good.len() - 1]),
        WeightsError::Truncated { .. }
    ));
    assert!(matches!(
        check(&good[..100]),
        WeightsError::TruncatedHeader { available: 92, .. }
    ));
    let mut garbled = good.clone();
    garbled[10] = b'!';
    assert!(matches!(check(&garbled), WeightsError::Corrupt { .. }));
    let err = check(&gradflow::weights::to_bytes(&net).unwrap());
    assert!(
        matches!(&err, WeightsError::Metadata { key, .. } if key == "format"),
        "{err}"
    );
    // An SGD checkpoint for an Adam run.
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.5)).unwrap();
    let err = check(&checkpoint::to_bytes(&mut net, &mut sgd, &rng, progress(3)).unwrap());
    assert!(
        err.to_string().contains("gradflow-checkpoint v1 sgd f32"),
        "{err}"
    );
    // A NaN in the optimizer state, and a negative second moment: finite, but its square
    // root would be NaN. (A negative first moment is an ordinary value.) Neither is saved,
    // and a file holding one is not loaded.
    let mut nan_opt = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    train(&mut net, &mut nan_opt, &mut rng, 0, 1);
    let clean = checkpoint::to_bytes(&mut net, &mut nan_opt, &rng, progress(1)).unwrap();
    for bad in [f32::NAN, -0.5] {
        let set = |net: &mut Net, opt: &mut Adam<NetGrads>, value: f32| {
            let mut old = None;
            opt.visit_state(net, &mut |s| {
                if s.slot == "v" && s.layer == "dense_1" && s.name == "bias" {
                    old = Some(core::mem::replace(&mut s.data[1], value));
                }
            });
            old.unwrap()
        };
        let kept = set(&mut net, &mut nan_opt, bad);
        let saving = checkpoint::to_bytes(&mut net, &mut nan_opt, &rng, progress(1)).unwrap_err();
        set(&mut net, &mut nan_opt, kept);
        let loading = check(&poke(&clean, "optimizer.v.dense_1.bias", 1, bad));
        for err in [saving, loading] {
            if bad.is_nan() {
                assert!(
                    matches!(&err, WeightsError::NonFinite { name, index: 1, .. } if name == "optimizer.v.dense_1.bias"),
                    "{err}"
                );
            } else {
                assert!(
                    matches!(&err, WeightsError::OutOfDomain { name, index: 1, .. } if name == "optimizer.v.dense_1.bias"),
                    "{err}"
                );
            }
        }
    }
    // A checkpoint loaded as plain weights: the error points to `checkpoint::load`.
    let err =
        gradflow::weights::from_bytes(&mut Net::new(&mut gradflow::rng(7)), &good).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Unexpected { .. })
            && err
                .to_string()
                .contains("a checkpoint? load it with `checkpoint::load`"),
        "{err}"
    );
    // And the good one loads.
    let p =
        checkpoint::from_bytes(&good, &mut target_net, &mut target_opt, &mut target_rng).unwrap();
    assert_eq!(p, progress(3));
    assert_eq!(target_opt.steps(), 3);
    assert!(state(&mut target_net, &mut target_opt, &target_rng, 3) == good);
}

/// A network, Adam and SGD-momentum after three real steps each (so their state is not all
/// zeros), and the generator their checkpoints are taken with.
fn trained_optimizers() -> (Net, Adam<NetGrads>, Sgd<NetGrads>, gradflow::Rng) {
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut adam = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let mut r = gradflow::rng(3);
    train(&mut net, &mut adam, &mut r, 0, 3);
    train(&mut net, &mut sgd, &mut r, 0, 3);
    (net, adam, sgd, gradflow::rng(2))
}

#[test]
fn a_non_finite_gradient_leaves_parameters_and_optimizer_state_unchanged() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let (mut net, mut adam, mut sgd, rng) = trained_optimizers();
        let adam_before = state(&mut net, &mut adam, &rng, 0);
        let sgd_before = state(&mut net, &mut sgd, &rng, 0);
        let mut grads = NetGrads::new_boxed();
        grads.dense_0.weight[1][2] = 0.5;
        grads.batchnorm_0.gamma[3] = bad;
        let outcome = adam.step(&mut net, &grads);
        assert!(!outcome.applied && !outcome.grad_norm.is_finite());
        assert!(!sgd.step(&mut net, &grads).applied);
        assert!(
            state(&mut net, &mut adam, &rng, 0) == adam_before,
            "adam, gradient {bad}"
        );
        assert!(
            state(&mut net, &mut sgd, &rng, 0) == sgd_before,
            "sgd, gradient {bad}"
        );
        assert_eq!(adam.steps(), 3);
    }
}

/// A finite gradient too large for f32 (norm above `sqrt(f32::MAX / 2)`, 1.3e19): Adam's
/// second moment would square it to infinity and freeze the weight for good, so the step is
/// refused, exactly as a NaN's, unless clipping bounds it. Just below the bound the step is
/// applied and the state stays finite (the checkpoint, which refuses non-finite state, saves).
#[test]
fn a_finite_gradient_too_large_for_f32_is_refused_unless_clipped() {
    use gradflow::nn::optim::max_grad_norm_for;
    assert_eq!(max_grad_norm_for::<f32>(), (f32::MAX as f64 / 2.0).sqrt());
    for huge in [1e22f32, -3e19, f32::MAX] {
        let (mut net, mut adam, mut sgd, rng) = trained_optimizers();
        let adam_before = state(&mut net, &mut adam, &rng, 0);
        let sgd_before = state(&mut net, &mut sgd, &rng, 0);
        let mut grads = NetGrads::new_boxed();
        grads.dense_0.weight[0][0] = huge;
        let outcome = adam.step(&mut net, &grads);
        assert!(!outcome.applied && outcome.too_large, "{outcome:?}");
        assert_eq!(outcome.grad_norm, (huge as f64).abs());
        let outcome = sgd.step(&mut net, &grads);
        assert!(!outcome.applied && outcome.too_large, "{outcome:?}");
        assert!(state(&mut net, &mut adam, &rng, 0) == adam_before, "{huge}");
        assert!(state(&mut net, &mut sgd, &rng, 0) == sgd_before, "{huge}");
        assert_eq!(adam.steps(), 3);

        // Clipped to norm 1, the same gradient is a normal step.
        let mut clipped = Adam::<NetGrads>::new(AdamConfig::new(0.01).clip_grad_norm(1.0)).unwrap();
        let outcome = clipped.step(&mut net, &grads);
        assert!(outcome.applied && outcome.scale < 1e-18, "{outcome:?}");
        checkpoint::to_bytes(&mut net, &mut clipped, &rng, progress(1)).unwrap();
    }
    // Just below the bound, in one weight: applied, and the second moment stays finite.
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut adam = Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    train(&mut net, &mut adam, &mut gradflow::rng(3), 0, 3);
    let mut grads = NetGrads::new_boxed();
    grads.dense_1.bias[1] = (max_grad_norm_for::<f32>() * 0.999) as f32;
    let outcome = adam.step(&mut net, &grads);
    assert!(outcome.applied && !outcome.too_large, "{outcome:?}");
    checkpoint::to_bytes(&mut net, &mut adam, &gradflow::rng(0), progress(4)).unwrap();
}

network! {
    /// A classifier without normalization: inputs of 1e25 give it weight gradients of 1e25.
    pub struct Plain<f32> {
        input 2,
        dense 3,
    }
}

#[test]
fn fit_records_steps_refused_for_a_gradient_too_large() {
    let (mut features, labels) = data();
    for x in &mut features {
        *x = x.map(|v| v * 1e25);
    }
    let mut net = Plain::new(&mut gradflow::rng(1));
    let before = gradflow::weights::to_bytes(&net).unwrap();
    let mut sgd = Sgd::<PlainGrads>::new(SgdConfig::new(0.1)).unwrap();
    let config = TrainConfig {
        epochs: 1,
        progress: false,
        ..Default::default()
    };
    let samples = Samples::new(&features, &labels);
    let history = fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &config).unwrap();
    assert_eq!(history.steps, 8);
    assert_eq!(
        history.refused,
        (0..8)
            .map(|s| (s, Refusal::GradientTooLarge))
            .collect::<Vec<_>>()
    );
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
    // With reports: the refused last step's report is kept, and its verdict finds the
    // explosion; no step was applied, so there is no first report.
    let reporting = TrainConfig {
        reports: true,
        ..config
    };
    let history = fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &reporting).unwrap();
    assert!(history.first_report.is_none());
    let last = history.last_report.expect("the last step's report");
    assert_eq!(last.step, 7);
    assert!(last.verdict().exploding(), "{}", last.verdict());
}

#[test]
fn fit_refuses_non_finite_inputs_and_losses_without_touching_the_state() {
    let (mut features, labels) = data();
    for x in features.iter_mut().step_by(2) {
        x[1] = f32::INFINITY;
    }
    // Every batch of 8 from this shuffle holds a non-finite sample, all steps are refused.
    for (check_inputs, reason) in [
        (true, Refusal::NonFiniteInput),
        (false, Refusal::NonFiniteLoss),
    ] {
        let mut net = Net::new(&mut gradflow::rng(1));
        let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
        let rng = gradflow::rng(0);
        let before = state(&mut net, &mut sgd, &rng, 0);
        let config = TrainConfig {
            epochs: 2,
            progress: false,
            check_inputs,
            ..Default::default()
        };
        let samples = Samples::new(&features, &labels);
        // A finite test set (a non-finite one is refused up front with `check_inputs`).
        let test = Samples::new(&features[1..2], &labels[1..2]);
        let history = fit::<f32, _, _, 32>(&mut net, &mut sgd, samples, test, &config).unwrap();
        assert_eq!(history.steps, 4);
        assert_eq!(history.refused.len(), 4, "{:?}", history.refused);
        assert!(
            history.refused.iter().all(|(_, r)| *r == reason),
            "{:?}",
            history.refused
        );
        assert!(
            state(&mut net, &mut sgd, &rng, 0) == before,
            "check_inputs: {check_inputs}"
        );
    }
}

#[test]
fn fit_resumed_from_an_epoch_checkpoint_ends_bit_identical() {
    let (features, labels) = data();
    let samples = Samples::new(&features, &labels);
    let config = TrainConfig {
        epochs: 5,
        seed: 11,
        progress: false,
        ..Default::default()
    };
    let make = || Adam::<NetGrads>::new(AdamConfig::new(0.01)).unwrap();
    let rng = gradflow::rng(0);

    let mut net = Net::new(&mut gradflow::rng(7));
    let mut adam = make();
    fit::<f32, _, _, B>(&mut net, &mut adam, samples, samples, &config).unwrap();
    let uninterrupted = state(&mut net, &mut adam, &rng, 0);

    // Checkpoints after every epoch; the run "dies" after epoch 2.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("fit.ckpt");
    let mut net = Net::new(&mut gradflow::rng(7));
    let mut adam = make();
    let short = TrainConfig {
        epochs: 2,
        ..config.clone()
    };
    gradflow::nn::train::fit_with_epoch_hook::<f32, _, _, B>(
        &mut net,
        &mut adam,
        samples,
        samples,
        &short,
        &mut |epoch, net, adam| {
            let p = Progress {
                epoch: epoch as u64,
                step: 0,
            };
            checkpoint::save(&path, net, adam, &rng, p).unwrap();
        },
    )
    .unwrap();

    let mut net = Net::new(&mut gradflow::rng(70));
    let mut adam = make();
    let mut r = gradflow::rng(1);
    let p = checkpoint::load(&path, &mut net, &mut adam, &mut r).unwrap();
    assert_eq!(p.epoch, 2);
    let resume = TrainConfig {
        start_epoch: p.epoch as usize,
        ..config
    };
    let history = fit::<f32, _, _, B>(&mut net, &mut adam, samples, samples, &resume).unwrap();
    assert_eq!(history.epochs.len(), 3);
    assert_eq!(history.epochs[0].epoch, 3);
    assert!(state(&mut net, &mut adam, &rng, 0) == uninterrupted);
}

/// A run checkpointed every 3 steps by `fit_with_step_hook` "dies"; resumed from its
/// checkpoint mid-epoch (global step 21: 2 epochs and 5 of the 8 steps of the third done) or
/// at an epoch's end (step 24), it ends with the network and optimizer of the run that never
/// stopped, bit for bit.
#[test]
fn fit_resumed_mid_epoch_ends_bit_identical() {
    use gradflow::nn::train::{fit_with_step_hook, Position, TrainError};
    let (features, labels) = data();
    let samples = Samples::new(&features, &labels);
    let config = TrainConfig {
        epochs: 5,
        seed: 5,
        progress: false,
        ..Default::default()
    };
    let make = || Sgd::<NetGrads>::new(SgdConfig::new(0.05).momentum(0.9)).unwrap();
    let rng = gradflow::rng(0);

    let mut net = Net::new(&mut gradflow::rng(7));
    let mut sgd = make();
    fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &config).unwrap();
    let uninterrupted = state(&mut net, &mut sgd, &rng, 0);

    let mut saved: Vec<(Position, Vec<u8>)> = Vec::new();
    let mut net = Net::new(&mut gradflow::rng(7));
    let mut sgd = make();
    fit_with_step_hook::<f32, _, _, B>(
        &mut net,
        &mut sgd,
        samples,
        samples,
        &config,
        3,
        &mut |position, net, sgd| {
            let progress = Progress {
                epoch: position.epoch as u64,
                step: position.step as u64,
            };
            saved.push((
                position,
                checkpoint::to_bytes(net, sgd, &rng, progress).unwrap(),
            ));
        },
    )
    .unwrap();
    // Steps 3, 6, ..., 39 of the 40.
    assert_eq!(saved.len(), 13);
    assert_eq!(saved[6].0, Position { epoch: 2, step: 5 });
    assert_eq!(saved[7].0, Position { epoch: 3, step: 0 });
    assert!(state(&mut net, &mut sgd, &rng, 0) == uninterrupted);

    for (position, bytes) in [&saved[6], &saved[7], &saved[0]] {
        let mut net = Net::new(&mut gradflow::rng(70));
        let mut sgd = make();
        let mut r = gradflow::rng(1);
        let p = checkpoint::from_bytes(bytes, &mut net, &mut sgd, &mut r).unwrap();
        let at = Position {
            epoch: p.epoch as usize,
            step: p.step as usize,
        };
        assert_eq!(at, *position);
        let resume = config.clone().resume_at(at);
        let history = fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &resume).unwrap();
        assert_eq!(history.steps, 40, "{at:?}");
        assert_eq!(history.epochs.len(), 5 - at.epoch, "{at:?}");
        assert!(
            state(&mut net, &mut sgd, &rng, 0) == uninterrupted,
            "resumed at {at:?}"
        );
    }

    // Resuming one step later or earlier than the checkpoint does not give the same run.
    let (position, bytes) = &saved[6];
    let mut net = Net::new(&mut gradflow::rng(70));
    let mut sgd = make();
    checkpoint::from_bytes(bytes, &mut net, &mut sgd, &mut gradflow::rng(1)).unwrap();
    let off_by_one = config.clone().resume_at(Position {
        step: position.step + 1,
        ..*position
    });
    fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &off_by_one).unwrap();
    assert!(state(&mut net, &mut sgd, &rng, 0) != uninterrupted);

    // A resume point outside the run is refused before anything changes.
    let mut net = Net::new(&mut gradflow::rng(7));
    let mut sgd = make();
    let before = state(&mut net, &mut sgd, &rng, 0);
    for (epoch, step) in [(1, 8), (6, 0), (5, 1)] {
        let beyond = config.clone().resume_at(Position { epoch, step });
        let err = fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &beyond).unwrap_err();
        assert_eq!(
            err,
            TrainError::ResumePoint {
                start_epoch: epoch,
                start_step: step,
                epochs: 5,
                steps_per_epoch: 8
            }
        );
        assert_eq!(
            err.to_string(),
            format!("cannot resume after epoch {epoch} and step {step} of the next: the run has 5 epochs of 8 steps")
        );
    }
    assert!(state(&mut net, &mut sgd, &rng, 0) == before);
    // After the last epoch, nothing is left to train.
    let done = config.clone().resume_at(Position { epoch: 5, step: 0 });
    let history = fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &done).unwrap();
    assert_eq!((history.steps, history.epochs.len()), (40, 0));
    assert!(state(&mut net, &mut sgd, &rng, 0) == before);
}

/// The first report is of the first step the run applies: a resumed run's first step, or the
/// first step after refused ones.
#[test]
fn the_first_report_is_of_the_first_applied_step() {
    let (mut features, labels) = data();
    let samples = Samples::new(&features, &labels);
    let config = TrainConfig {
        epochs: 2,
        progress: false,
        reports: true,
        ..Default::default()
    };
    let mut net = Net::new(&mut gradflow::rng(7));
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.05)).unwrap();
    let resumed = config
        .clone()
        .resume_at(gradflow::nn::train::Position { epoch: 1, step: 3 });
    let history = fit::<f32, _, _, B>(&mut net, &mut sgd, samples, samples, &resumed).unwrap();
    assert_eq!(history.first_report.as_ref().map(|r| r.step), Some(11));
    assert_eq!(history.last_report.as_ref().map(|r| r.step), Some(15));

    // Four NaN samples, and a seed whose first batch holds one: step 0 is refused.
    for x in &mut features[..4] {
        x[0] = f32::NAN;
    }
    let samples = Samples::new(&features, &labels);
    let test = Samples::new(&features[4..], &labels[4..]);
    let history = (0..100)
        .map(|seed| {
            let mut net = Net::new(&mut gradflow::rng(7));
            let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.05)).unwrap();
            let config = TrainConfig {
                seed,
                ..config.clone()
            };
            fit::<f32, _, _, B>(&mut net, &mut sgd, samples, test, &config).unwrap()
        })
        .find(|h| h.refused.first().is_some_and(|&(step, _)| step == 0))
        .expect("a seed whose first batch holds a NaN");
    let first_applied = (0..16)
        .find(|s| !history.refused.iter().any(|(r, _)| r == s))
        .expect("an applied step");
    assert!(first_applied > 0);
    assert_eq!(
        history.first_report.as_ref().map(|r| r.step),
        Some(first_applied)
    );
}

/// A diverged network (NaN outputs) classifies nothing, whatever the labels.
#[test]
fn accuracy_counts_nan_outputs_as_wrong() {
    let (features, _) = data();
    let zeros = vec![0; features.len()];
    let mut net = Net::new(&mut gradflow::rng(7));
    net.dense_1.bias = [f32::NAN; 3];
    let samples = Samples::new(&features, &zeros);
    assert_eq!(gradflow::nn::train::accuracy(&net, samples), 0.0);
}

/// `bytes` (a safetensors file) with tensor `name` relabelled as `dtype`, its bytes unchanged.
fn with_dtype(bytes: &[u8], name: &str, dtype: safetensors::Dtype) -> Vec<u8> {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(n, view)| {
            if n != name {
                return (n, view);
            }
            let (shape, data) = (view.shape().to_vec(), view.data());
            (
                n,
                safetensors::tensor::TensorView::new(dtype, shape, data).unwrap(),
            )
        })
        .collect();
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    safetensors::serialize(tensors, header.metadata().clone()).unwrap()
}

/// A checkpoint counter stored with another dtype is named as a counter's problem, not the
/// network's element type's.
#[test]
fn a_counter_of_another_dtype_is_named() {
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1)).unwrap();
    let bytes = state(&mut net, &mut sgd, &gradflow::rng(2), 3);
    let edited = with_dtype(&bytes, "progress.epoch", safetensors::Dtype::I64);
    let err =
        checkpoint::from_bytes(&edited, &mut net, &mut sgd, &mut gradflow::rng(0)).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Dtype { name, expected, found } if name == "progress.epoch" && expected == "U64" && found == "I64"),
        "{err}"
    );
    assert!(err.to_string().contains("U64 for its counters"), "{err}");
}

/// A checkpoint of `Net` resumed into the same network with its first layer frozen since:
/// the file holds optimizer state for tensors the network no longer trains. The error says
/// so, rather than suggesting `checkpoint::load`, which is what was called.
#[test]
fn optimizer_state_of_a_layer_frozen_since_the_checkpoint_is_named_as_such() {
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let bytes = state(&mut net, &mut sgd, &gradflow::rng(2), 0);
    let mut frozen = NetFrozen::new(&mut gradflow::rng(3));
    let mut frozen_sgd = Sgd::<NetFrozenGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let before = gradflow::weights::to_bytes(&frozen).unwrap();
    let err = checkpoint::from_bytes(&bytes, &mut frozen, &mut frozen_sgd, &mut gradflow::rng(0))
        .unwrap_err();
    assert!(
        matches!(&err, WeightsError::UntrainedState { name } if name == "optimizer.velocity.batchnorm_0.beta"),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        !message.contains("load it with `checkpoint::load`"),
        "{message}"
    );
    assert!(message.contains("does not train"), "{message}");
    assert_eq!(gradflow::weights::to_bytes(&frozen).unwrap(), before);
    // The same file read as plain weights still points to `checkpoint::load`.
    let err = gradflow::weights::from_bytes(&mut net, &bytes).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Unexpected { .. })
            && err.to_string().contains("load it with `checkpoint::load`"),
        "{err}"
    );
}

/// The other way round: a checkpoint of the network with a frozen layer, resumed into the
/// network with that layer trained (the usual fine-tuning step). The missing optimizer state
/// is named, with the way to go on, and the network is left as it was.
#[test]
fn optimizer_state_of_a_layer_unfrozen_since_the_checkpoint_is_named_with_the_way_on() {
    let mut frozen = NetFrozen::new(&mut gradflow::rng(3));
    let mut frozen_sgd = Sgd::<NetFrozenGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let bytes =
        checkpoint::to_bytes(&mut frozen, &mut frozen_sgd, &gradflow::rng(2), progress(0)).unwrap();
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let before = gradflow::weights::to_bytes(&net).unwrap();
    let err =
        checkpoint::from_bytes(&bytes, &mut net, &mut sgd, &mut gradflow::rng(0)).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Missing { name } if name.starts_with("optimizer.velocity.")),
        "{err}"
    );
    assert!(err.to_string().contains("was its layer unfrozen"), "{err}");
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
    // The way on: the weights of the frozen network load into the trained one.
    let weights = gradflow::weights::to_bytes(&frozen).unwrap();
    gradflow::weights::from_bytes(&mut net, &weights).unwrap();
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), weights);
}

/// `bytes` (a checkpoint) with the `u64` at `index` of counter `name` set to `value`.
fn poke_u64(bytes: &[u8], name: &str, index: usize, value: u64) -> Vec<u8> {
    poke_bytes(bytes, name, index, &value.to_le_bytes())
}

/// The generator's position is a 68-bit word count (ChaCha's 64-bit block counter times 16
/// words): a file whose high word is 16 or more names no position, and `set_word_pos` would
/// drop those bits without a word, restoring another position than the file's.
#[test]
fn a_generator_position_beyond_68_bits_is_refused() {
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let mut rng = gradflow::rng(2);
    let _: u64 = rng.random();
    let good = state(&mut net, &mut sgd, &rng, 0);
    // The largest position a generator can be at loads.
    let mut last = gradflow::rng(2);
    last.set_word_pos((1u128 << 68) - 1);
    let edge = poke_u64(
        &poke_u64(&good, "rng.word_pos", 0, u64::MAX),
        "rng.word_pos",
        1,
        15,
    );
    let mut restored = gradflow::rng(0);
    checkpoint::from_bytes(&edge, &mut net, &mut sgd, &mut restored).unwrap();
    assert_eq!(restored.get_word_pos(), last.get_word_pos());

    let mut target = gradflow::rng(9);
    let before = target.clone();
    for high in [16, 1 << 40, u64::MAX] {
        let bad = poke_u64(&good, "rng.word_pos", 1, high);
        let err = checkpoint::from_bytes(&bad, &mut net, &mut sgd, &mut target).unwrap_err();
        assert!(
            matches!(&err, WeightsError::OutOfDomain { name, index: 1, .. } if name == "rng.word_pos"),
            "{high}: {err}"
        );
        assert_eq!(
            target, before,
            "{high}: a refused checkpoint moved the generator"
        );
    }
}

/// The generator's seed is the one byte tensor of a checkpoint: a seed of another dtype says
/// that U8 is expected, and the message does not claim U64 for it.
#[test]
fn a_seed_of_another_dtype_says_u8_is_expected() {
    let mut net = Net::new(&mut gradflow::rng(1));
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1)).unwrap();
    let bytes = state(&mut net, &mut sgd, &gradflow::rng(2), 3);
    let edited = with_dtype(&bytes, "rng.seed", safetensors::Dtype::I8);
    let err =
        checkpoint::from_bytes(&edited, &mut net, &mut sgd, &mut gradflow::rng(0)).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Dtype { name, expected, found } if name == "rng.seed" && expected == "U8" && found == "I8"),
        "{err}"
    );
    assert!(
        err.to_string().contains("U8 for its generator's seed"),
        "{err}"
    );
}

/// A resumed run computes what the saved one did: batchnorm's `eps` and `momentum` are in the
/// checkpoint, beside the layer's tensors.
#[test]
fn batchnorm_settings_are_restored_from_a_checkpoint() {
    let mut net = Net::new(&mut gradflow::rng(1));
    (net.batchnorm_0.eps, net.batchnorm_0.momentum) = (1e-3, 0.01);
    let mut sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let rng = gradflow::rng(5);
    let bytes = checkpoint::to_bytes(&mut net, &mut sgd, &rng, progress(3)).unwrap();
    let mut resumed = Net::new(&mut gradflow::rng(2));
    let mut resumed_sgd = Sgd::<NetGrads>::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let mut resumed_rng = gradflow::rng(0);
    checkpoint::from_bytes(&bytes, &mut resumed, &mut resumed_sgd, &mut resumed_rng).unwrap();
    assert_eq!(
        (resumed.batchnorm_0.eps, resumed.batchnorm_0.momentum),
        (1e-3, 0.01)
    );
}
