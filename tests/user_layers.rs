//! Layers of your own that misdescribe their tensors or break the backward contract: each
//! mistake is an error naming the layer, or a failing gradient check, never a file with
//! values missing or misplaced, a network loaded wrong, or gradients silently off.

use gradflow::checkpoint::{self, Progress};
use gradflow::nn::gradcheck::{check_layer, check_network};
use gradflow::nn::layer::split_states;
use gradflow::nn::train::{fit, Samples, TrainConfig, TrainError};
use gradflow::nn::{
    Backward, Forward, LayoutError, LayoutProblem, Param, Setting, SettingMut, Tensor, TensorKind,
    TensorMut, Trainable,
};
use gradflow::prelude::*;
use gradflow::weights::{self, WeightsError};
use rand::RngCore;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// `y = gamma * x + beta` over 4 features, written right, or with the one mistake `M` names.
#[derive(Clone, Debug, bytemuck::Zeroable)]
struct Affine<T, const M: u8> {
    gamma: [T; 4],
    beta: [T; 4],
}

const RIGHT: u8 = 0;
/// `visit_tensors_mut` left at its default (visiting nothing).
const NO_MUT: u8 = 1;
/// Both tensor visitors left at their defaults.
const NO_VISIT: u8 = 2;
/// `PARAM_COUNT` left at its default of 0.
const COUNT_0: u8 = 3;
/// `backward` adds into `dx` instead of overwriting it.
const DX_ADDS: u8 = 4;
/// `backward` leaves `dx` unwritten.
const DX_UNWRITTEN: u8 = 5;
/// Tensors visited as frozen by a trainable layer (`TRAINABLE_PARAM_COUNT` left at 8).
const MARKED_FROZEN: u8 = 6;
/// Only `visit_tensors_mut` written (`visit_tensors` and `PARAM_COUNT` at their defaults).
const MUT_ONLY: u8 = 7;
/// `visit_params` leaves out `beta`, which `visit_tensors` marks trainable.
const PARAMS_MISS_BETA: u8 = 8;
/// `visit_params` hands `beta` half its gradient.
const GRAD_SHORT: u8 = 9;

#[derive(Clone, Debug, bytemuck::Zeroable)]
struct AffineGrads<T> {
    gamma: [T; 4],
    beta: [T; 4],
}

impl<T: Scalar, const M: u8> Affine<T, M> {
    fn kind() -> TensorKind {
        if M == MARKED_FROZEN {
            TensorKind::Frozen
        } else {
            TensorKind::Trainable
        }
    }
}

impl<T: Scalar, const M: u8> Forward<T> for Affine<T, M> {
    type Input = [T; 4];
    type Output = [T; 4];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "affine";
    const PARAM_COUNT: usize = if M == COUNT_0 || M == MUT_ONLY { 0 } else { 8 };

    fn init(&mut self, rng: &mut dyn RngCore) {
        for (k, (g, b)) in self.gamma.iter_mut().zip(&mut self.beta).enumerate() {
            *g = T::from_f64(1.0 + 0.1 * k as f64);
            *b = T::from_f64(f64::from(rng.next_u32() % 100) / 500.0);
        }
    }

    fn forward<const B: usize>(&self, x: &[[T; 4]; B], y: &mut [[T; 4]; B]) {
        for (xb, yb) in x.iter().zip(y) {
            for i in 0..4 {
                yb[i] = self.gamma[i] * xb[i] + self.beta[i];
            }
        }
    }

    fn forward_train<const B: usize>(&mut self, x: &[[T; 4]; B], y: &mut [[T; 4]; B], _: &mut ()) {
        self.forward(x, y);
    }

    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, T>)) {
        if M == NO_VISIT || M == MUT_ONLY {
            return;
        }
        let (layer, kind, shape) = ("", Self::kind(), &[4][..]);
        let data = &self.gamma;
        f(Tensor {
            layer,
            name: "gamma",
            kind,
            shape,
            data,
        });
        let data = &self.beta;
        f(Tensor {
            layer,
            name: "beta",
            kind,
            shape,
            data,
        });
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, T>)) {
        if M == NO_VISIT || M == NO_MUT {
            return;
        }
        let (layer, kind, shape) = ("", Self::kind(), &[4][..]);
        let data = &mut self.gamma;
        f(TensorMut {
            layer,
            name: "gamma",
            kind,
            shape,
            data,
        });
        let data = &mut self.beta;
        f(TensorMut {
            layer,
            name: "beta",
            kind,
            shape,
            data,
        });
    }
}

impl<T: Scalar, const M: u8> Trainable<T> for Affine<T, M> {
    type Grads = AffineGrads<T>;

    fn visit_params<const N: usize>(
        &mut self,
        grads: &AffineGrads<T>,
        mut states: [&mut AffineGrads<T>; N],
        f: &mut dyn FnMut(Param<'_, T, N>),
    ) {
        f(Param {
            layer: "",
            name: "gamma",
            value: &mut self.gamma,
            grad: &grads.gamma,
            state: split_states(&mut states, |g| &mut g.gamma[..]),
        });
        if M == PARAMS_MISS_BETA {
            return;
        }
        f(Param {
            layer: "",
            name: "beta",
            value: &mut self.beta,
            grad: if M == GRAD_SHORT {
                &grads.beta[..2]
            } else {
                &grads.beta
            },
            state: split_states(&mut states, |g| &mut g.beta[..]),
        });
    }
}

impl<T: Scalar, const M: u8> Backward<T> for Affine<T, M> {
    fn backward<const B: usize>(
        &self,
        x: &[[T; 4]; B],
        _: &[[T; 4]; B],
        _: &(),
        dy: &[[T; 4]; B],
        dx: Option<&mut [[T; 4]; B]>,
        grads: Option<&mut AffineGrads<T>>,
    ) {
        if let Some(g) = grads {
            for (xb, db) in x.iter().zip(dy) {
                for i in 0..4 {
                    g.gamma[i] += db[i] * xb[i];
                    g.beta[i] += db[i];
                }
            }
        }
        if let Some(dx) = dx {
            for (dxb, db) in dx.iter_mut().zip(dy) {
                for i in 0..4 {
                    let g = self.gamma[i] * db[i];
                    match M {
                        DX_ADDS => dxb[i] += g,
                        DX_UNWRITTEN => {}
                        _ => dxb[i] = g,
                    }
                }
            }
        }
    }
}

network! { struct Right<f32> { input 4, layer Affine<f32, 0> (4 -> 4), dense 2 } }
network! { struct NoMut<f32> { input 4, layer Affine<f32, 1> (4 -> 4), dense 4 } }
network! { struct NoVisit<f32> { input 4, layer Affine<f32, 2> (4 -> 4), dense 2 } }
network! { struct Count0<f32> { input 4, dense 4 [frozen], layer Affine<f32, 3> (4 -> 4), dense 2 [frozen] } }
network! { struct MutOnly<f32> { input 4, layer Affine<f32, 7> (4 -> 4), dense 2 } }
network! { struct MarkedFrozen<f32> { input 4, layer Affine<f32, 6> (4 -> 4), dense 2 } }
network! { struct MissBeta<f32> { input 4, layer Affine<f32, 8> (4 -> 4), dense 2 } }
network! { struct GradShort<f32> { input 4, layer Affine<f32, 9> (4 -> 4), dense 2 } }
network! { struct MissBeta64<f64> { input 4, dense 4 [tanh], layer Affine<f64, 8> (4 -> 4), dense 2 } }

network! { struct Right64<f64> { input 4, dense 4 [tanh], layer Affine<f64, 0> (4 -> 4), dense 2 } }
network! { struct Adds64<f64> { input 4, dense 4 [tanh], layer Affine<f64, 4> (4 -> 4), dense 2 } }
network! { struct Unwritten64<f64> { input 4, dense 4 [tanh], layer Affine<f64, 5> (4 -> 4), dense 2 } }
network! {
    /// Inside a residual body, the layer's `dx` is the block's gradient buffer.
    struct AddsInBlock64<f64> { input 4, dense 4 [tanh], residual { layer Affine<f64, 4> (4 -> 4) }, dense 2 }
}

fn layout(err: &WeightsError) -> LayoutError {
    match err {
        WeightsError::Layout(e) => *e,
        other => panic!("not a layout error: {other}"),
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it should panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// What `fit` says to one epoch of 4 samples in batches of 2, with plain SGD.
fn fit_one_epoch<N>(net: &mut N) -> TrainError
where
    N: TrainableNetwork<f32, Input = [f32; 4]>,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    let x = [[0.1f32, 0.2, 0.3, 0.4]; 4];
    let labels = [0, 1, 0, 1];
    let samples = Samples::new(&x, &labels);
    let config = TrainConfig {
        epochs: 1,
        progress: false,
        ..Default::default()
    };
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    fit::<f32, _, _, 2>(net, &mut sgd, samples, samples, &config).unwrap_err()
}

#[test]
fn a_layer_written_right_saves_loads_and_checks() {
    let a = Right::new(&mut gradflow::rng(1));
    let mut b = Right::new(&mut gradflow::rng(2));
    weights::from_bytes(&mut b, &weights::to_bytes(&a).unwrap()).unwrap();
    assert_eq!(
        (a.layer_0.gamma, a.layer_0.beta),
        (b.layer_0.gamma, b.layer_0.beta)
    );
    assert_eq!(a.dense_1.weight, b.dense_1.weight);
    let mut net = Right64::new(&mut gradflow::rng(3));
    let x = [[0.3, -0.2, 0.5, 0.1], [-0.4, 0.2, 0.0, 0.7]];
    let check = check_network(&mut net, &x);
    assert!(check.passes(1e-6) && check.repeatable, "{check:?}");
    let mut layer: Affine<f64, RIGHT> = gradflow::nn::memory::zeroed();
    layer.init(&mut gradflow::rng(4));
    assert!(check_layer(&mut layer, &x).passes(1e-6));
}

#[test]
fn loading_through_a_layer_without_visit_tensors_mut_is_refused_before_writing() {
    let a = NoMut::new(&mut gradflow::rng(1));
    let bytes = weights::to_bytes(&a).unwrap();
    let mut b = NoMut::new(&mut gradflow::rng(2));
    let before = (b.layer_0.gamma, b.dense_1.weight);
    let err = weights::from_bytes(&mut b, &bytes).unwrap_err();
    let e = layout(&err);
    assert_eq!((e.layer, e.tensor), ("layer_0", "gamma"));
    assert_eq!(e.problem, LayoutProblem::MutDiffers { position: 0 });
    assert!(
        err.to_string().contains("visit_tensors_mut does not visit"),
        "{err}"
    );
    // Before, the dense layer's weight took the layer's values, without an error.
    assert_eq!((b.layer_0.gamma, b.dense_1.weight), before);
    let bytes: [u8; NoMut::PARAM_BYTES] = a.to_le_bytes().try_into().unwrap();
    let message = panic_message(|| b.load_le_bytes(&bytes));
    assert!(
        message.contains("visit_tensors_mut does not visit"),
        "{message}"
    );
    assert_eq!((b.layer_0.gamma, b.dense_1.weight), before);
}

/// The file has no `layer_0` tensors, so the first difference between the visitors is
/// `layer_0.gamma` against `dense_1.weight`: the layer out of place is the earlier one.
#[test]
fn a_layer_that_only_visits_mutably_is_named_not_the_layer_after_it() {
    let bytes = weights::to_bytes(&MutOnly::new(&mut gradflow::rng(1))).unwrap();
    let mut net = MutOnly::new(&mut gradflow::rng(2));
    let e = layout(&weights::from_bytes(&mut net, &bytes).unwrap_err());
    assert_eq!((e.layer, e.tensor), ("layer_0", "gamma"));
    assert_eq!(e.problem, LayoutProblem::MutDiffers { position: 0 });
}

#[test]
fn a_layer_whose_tensors_are_not_visited_is_refused_by_every_saver() {
    let mut net = NoVisit::new(&mut gradflow::rng(1));
    let err = weights::to_bytes(&net).unwrap_err();
    let e = layout(&err);
    assert_eq!(e.layer, "layer_0");
    let counts = LayoutProblem::ParamCount {
        declared: 8,
        visited: 0,
    };
    assert_eq!(e.problem, counts);
    assert!(
        err.to_string()
            .contains("layer `layer_0` declares 8 stored values"),
        "{err}"
    );
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let progress = Progress { epoch: 0, step: 0 };
    let err = checkpoint::to_bytes(&mut net, &mut sgd, &gradflow::rng(0), progress).unwrap_err();
    assert_eq!(layout(&err).problem, counts);
}

#[test]
fn a_param_count_that_disagrees_with_the_tensors_is_refused_by_save_and_fit() {
    let mut net = Count0::new(&mut gradflow::rng(1));
    // The network's counts trust the layer: 0 trainable values, though it has 8.
    assert_eq!(Count0::TRAINABLE_PARAM_COUNT, 0);
    let err = weights::to_bytes(&net).unwrap_err();
    let e = layout(&err);
    let counts = LayoutProblem::ParamCount {
        declared: 0,
        visited: 8,
    };
    assert_eq!((e.layer, e.problem), ("layer_1", counts));
    let message = panic_message(|| drop(net.to_le_bytes()));
    assert!(
        message.contains("layer `layer_1` declares 0 stored values"),
        "{message}"
    );
    // fit said "no trainable parameters (every weighted layer is frozen)".
    let err = fit_one_epoch(&mut net);
    assert!(
        matches!(err, TrainError::Layout(e) if e.problem == counts),
        "{err}"
    );
}

#[test]
fn tensors_visited_as_frozen_by_a_trainable_layer_save_but_do_not_train() {
    let mut net = MarkedFrozen::new(&mut gradflow::rng(1));
    // An inference-only reading of the layer is consistent: its file round-trips.
    let mut other = MarkedFrozen::new(&mut gradflow::rng(2));
    weights::from_bytes(&mut other, &weights::to_bytes(&net).unwrap()).unwrap();
    assert_eq!(other.layer_0.gamma, net.layer_0.gamma);
    // Training relies on TRAINABLE_PARAM_COUNT, which disagrees with the tensors' kinds.
    let err = fit_one_epoch(&mut net);
    let expected = LayoutProblem::TrainableCount {
        declared: 18,
        visited: 10,
    };
    assert!(
        matches!(err, TrainError::Layout(e) if e.problem == expected),
        "{err}"
    );
    assert!(
        err.to_string().contains("TRAINABLE_PARAM_COUNT is wrong"),
        "{err}"
    );
}

/// Optimizers reach parameters only through `visit_params`: a trainable tensor it leaves out
/// would stay as initialized while `fit` reported success, and a gradient check would pass
/// without checking it.
#[test]
fn a_trainable_tensor_that_visit_params_leaves_out_is_refused_by_fit_and_fails_checks() {
    let mut net = MissBeta::new(&mut gradflow::rng(1));
    let before = net.layer_0.beta;
    let err = fit_one_epoch(&mut net);
    let TrainError::Layout(e) = err else {
        panic!("{err}")
    };
    assert_eq!(
        (e.layer, e.tensor, e.problem),
        (
            "layer_0",
            "beta",
            LayoutProblem::ParamsDiffer { position: 1 }
        )
    );
    assert!(err.to_string().contains("would never be trained"), "{err}");
    assert_eq!(net.layer_0.beta, before);
    let grads = MissBetaGrads::zeroed();
    let found = gradflow::nn::check_params_layout(&mut net, &grads);
    assert_eq!(found, Err(e));
    // The layer written right passes the same check.
    let mut right = Right::new(&mut gradflow::rng(1));
    let right_grads = RightGrads::zeroed();
    assert_eq!(
        gradflow::nn::check_params_layout(&mut right, &right_grads),
        Ok(())
    );

    let x = [[0.3, -0.2, 0.5, 0.1], [-0.4, 0.2, 0.0, 0.7]];
    let check = check_network(&mut MissBeta64::new(&mut gradflow::rng(3)), &x);
    // Every gradient it did check is right; the one it could not see fails it.
    assert!(
        check.params.iter().all(|(_, p)| p.passes(1e-6)),
        "{check:?}"
    );
    assert!(!check.params.iter().any(|(name, _)| name == "layer_1.beta"));
    assert_eq!(check.layout.map(|e| e.tensor), Some("beta"));
    assert!(!check.passes(1e-6));
    let mut layer: Affine<f64, PARAMS_MISS_BETA> = gradflow::nn::memory::zeroed();
    layer.init(&mut gradflow::rng(4));
    let check = check_layer(&mut layer, &x);
    assert!(check.layout.is_some() && !check.passes(1e-6), "{check:?}");
}

#[test]
fn a_gradient_shorter_than_its_tensor_is_refused_by_fit() {
    let mut net = GradShort::new(&mut gradflow::rng(1));
    let err = fit_one_epoch(&mut net);
    let expected = LayoutProblem::GradLength { values: 4, grad: 2 };
    assert!(
        matches!(err, TrainError::Layout(e) if e.problem == expected && e.tensor == "beta"),
        "{err}"
    );
    assert!(err.to_string().contains("a gradient of 2"), "{err}");
}

/// A layer that adds into `dx`, or leaves it, breaks every gradient before it; the gradient
/// checks say so, though a fresh cache's zeros make the first pass of an adding layer right.
#[test]
fn gradient_checks_fail_a_backward_that_does_not_overwrite_dx() {
    let x = [[0.3, -0.2, 0.5, 0.1], [-0.4, 0.2, 0.0, 0.7]];
    let check = check_network(&mut Adds64::new(&mut gradflow::rng(3)), &x);
    assert!(!check.passes(1e-6), "{check:?}");
    let check = check_network(&mut AddsInBlock64::new(&mut gradflow::rng(3)), &x);
    assert!(!check.repeatable && !check.passes(1e-6), "{check:?}");
    let check = check_network(&mut Unwritten64::new(&mut gradflow::rng(3)), &x);
    assert!(!check.passes(1e-6), "{check:?}");
    for check in [
        check_layer(
            &mut gradflow::nn::memory::zeroed::<Affine<f64, DX_ADDS>>(),
            &x,
        ),
        check_layer(
            &mut gradflow::nn::memory::zeroed::<Affine<f64, DX_UNWRITTEN>>(),
            &x,
        ),
    ] {
        assert!(!check.passes(1e-6), "{check:?}");
    }
    // The same checks pass the layer written right (above) and every built-in layer
    // (tests/gradients.rs), which they now also run twice.
    assert!(check_network(&mut Right64::new(&mut gradflow::rng(3)), &x).passes(1e-6));
}

#[test]
fn a_gradient_report_refuses_a_cache_that_forward_train_never_filled() {
    use gradflow::nn::diagnostics::GradientReport;
    let mut net = Right::new(&mut gradflow::rng(1));
    let cache = RightCache::<2>::zeroed();
    let grads = RightGrads::zeroed();
    let message = panic_message(|| {
        let _ = GradientReport::capture::<f32, _, 2>(0, &mut net, &cache, &grads);
    });
    assert!(
        message.contains("needs a cache that forward_train"),
        "{message}"
    );
}

/// `y = scale * w * x` over 2 features: a tensor `w` and settings `scale` and `gain`, with
/// the mistake `S` names.
#[derive(Clone, Debug, bytemuck::Zeroable)]
struct Scaled<const S: u8> {
    w: [f32; 2],
    scale: f32,
    gain: f32,
}

/// `visit_settings_mut` left at its default (visiting nothing).
const SETTINGS_NO_MUT: u8 = 1;
/// Both settings visited under one name.
const SETTINGS_ONE_NAME: u8 = 2;

impl<const S: u8> Scaled<S> {
    fn names() -> [&'static str; 2] {
        if S == SETTINGS_ONE_NAME {
            ["s", "s"]
        } else {
            ["scale", "gain"]
        }
    }
}

impl<const S: u8> Forward<f32> for Scaled<S> {
    type Input = [f32; 2];
    type Output = [f32; 2];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "scaled";
    const PARAM_COUNT: usize = 2;

    fn init(&mut self, _: &mut dyn RngCore) {
        (self.w, self.scale, self.gain) = ([1.0, 0.5], 1.0, 1.0);
    }

    fn forward<const B: usize>(&self, x: &[[f32; 2]; B], y: &mut [[f32; 2]; B]) {
        for (xb, yb) in x.iter().zip(y) {
            for i in 0..2 {
                yb[i] = self.scale * self.gain * self.w[i] * xb[i];
            }
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[[f32; 2]; B],
        y: &mut [[f32; 2]; B],
        _: &mut (),
    ) {
        self.forward(x, y);
    }

    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, f32>)) {
        let (kind, shape, data) = (TensorKind::Frozen, &[2][..], &self.w);
        f(Tensor {
            layer: "",
            name: "w",
            kind,
            shape,
            data,
        });
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, f32>)) {
        let (kind, shape, data) = (TensorKind::Frozen, &[2][..], &mut self.w);
        f(TensorMut {
            layer: "",
            name: "w",
            kind,
            shape,
            data,
        });
    }

    fn visit_settings(&self, f: &mut dyn FnMut(Setting<f32>)) {
        for (name, value) in Self::names().into_iter().zip([self.scale, self.gain]) {
            let (admits, requirement): (fn(f64) -> bool, _) = (|v| v > 0.0, "it must be positive");
            f(Setting {
                layer: "",
                name,
                value,
                admits,
                requirement,
            });
        }
    }

    fn visit_settings_mut(&mut self, f: &mut dyn FnMut(SettingMut<'_, f32>)) {
        if S == SETTINGS_NO_MUT {
            return;
        }
        for (name, value) in Self::names()
            .into_iter()
            .zip([&mut self.scale, &mut self.gain])
        {
            let (admits, requirement): (fn(f64) -> bool, _) = (|v| v > 0.0, "it must be positive");
            f(SettingMut {
                layer: "",
                name,
                value,
                admits,
                requirement,
            });
        }
    }
}

network! { struct SettingsNoMut<f32> { input 2, layer Scaled<1> (2 -> 2), dense 2 [batchnorm] } }
network! { struct SettingsOneName<f32> { input 2, layer Scaled<2> (2 -> 2), dense 2 } }

/// Loading wrote settings by position: the layer's values went into the batchnorm after it
/// (a momentum of 3, past its range check).
#[test]
fn settings_a_layer_visits_only_to_read_are_refused_by_loading() {
    let mut a = SettingsNoMut::new(&mut gradflow::rng(1));
    (a.layer_0.scale, a.layer_0.gain) = (2.0, 3.0);
    let bytes = weights::to_bytes(&a).unwrap();
    let mut b = SettingsNoMut::new(&mut gradflow::rng(2));
    let err = weights::from_bytes(&mut b, &bytes).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Mapping { name, problem }
            if name == "layer_0.scale" && problem.contains("visit_settings_mut does not visit")),
        "{err}"
    );
    assert_eq!((b.batchnorm_1.eps, b.batchnorm_1.momentum), (1e-5, 0.1));
    assert_eq!((b.layer_0.scale, b.layer_0.gain), (1.0, 1.0));
}

#[test]
fn two_settings_of_one_name_are_refused_both_ways() {
    let mut net = SettingsOneName::new(&mut gradflow::rng(1));
    let is_clash = |err: &WeightsError| {
        matches!(err, WeightsError::Mapping { name, problem }
            if name == "layer_0.s" && problem.contains("name of another setting"))
    };
    let err = weights::to_bytes(&net).unwrap_err();
    assert!(is_clash(&err), "{err}");
    // A file with one `layer_0.s` would have set both: refused before the file is read.
    let file = weights::to_bytes(&Right::new(&mut gradflow::rng(1))).unwrap();
    let err = weights::from_bytes(&mut net, &file).unwrap_err();
    assert!(is_clash(&err), "{err}");
}
