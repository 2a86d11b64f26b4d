//! Every whole-network function, instantiated for deep networks of both element types and
//! built with the release profile: the layout check of `weights::to_bytes`, `fit` and the
//! gradient checks once crashed rustc (SIGSEGV in LLVM's scalar evolution) on a network of
//! ten batch-normalized residual blocks, so that compiling this file is part of the test.

use gradflow::checkpoint::{self, Progress};
use gradflow::interop::{keras, pytorch};
use gradflow::nn::diagnostics::{Finding, GradientReport};
use gradflow::nn::train::{fit, Samples, TrainConfig};
use gradflow::prelude::*;
use gradflow::weights;

/// Networks from a `macro_rules!`, whose fragments (`ty`, `literal`, `expr`) reach
/// `network!` wrapped in invisible groups.
macro_rules! deep_residual {
    ($name:ident, $t:ty, $blocks:literal, $width:expr) => {
        network! {
            /// The cures together, ten or thirty blocks deep.
            pub struct $name<$t> {
                input 4,
                dense $width [he_init, batchnorm, relu],
                repeat $blocks residual {
                    dense $width [he_init, batchnorm, relu],
                    dense $width [he_init, batchnorm],
                } relu,
                batchnorm,
                dense 3,
            }
        }
    };
}

deep_residual!(Deep64, f64, 10, 6);
deep_residual!(Deep32, f32, 10, 6);
deep_residual!(Deeper32, f32, 30, 6);

network! {
    /// Forty plain sigmoid layers: the problem, unrolled.
    pub struct Plain40<f32> {
        input 4,
        repeat 40 dense 6 [sigmoid],
        dense 3,
    }
}

/// Saves and reloads `net` through every format, checkpoints it, trains it for two epochs
/// and captures a gradient report: each must work on a deep network, and leave a copy loaded
/// from it computing what it computes.
fn every_api<N>(net: &mut N, other: &mut N)
where
    N: TrainableNetwork<f32, Input = [f32; 4], Output = [f32; 3]>,
{
    gradflow::nn::check_layout(net).unwrap();
    gradflow::nn::check_trainable_layout(net).unwrap();
    let grads = gradflow::nn::memory::zeroed_box::<N::Grads>();
    gradflow::nn::check_params_layout(net, &grads).unwrap();
    let x = [[0.3f32, -0.2, 0.5, 0.1], [-0.4, 0.2, 0.0, 0.7]];
    let same = |a: &N, b: &N| {
        let (mut ya, mut yb) = ([[0.0f32; 3]; 2], [[1.0f32; 3]; 2]);
        a.forward_into(&x, &mut ya);
        b.forward_into(&x, &mut yb);
        ya == yb
    };

    weights::from_bytes(other, &weights::to_bytes(net).unwrap()).unwrap();
    assert!(same(net, other));
    let modules: Vec<(String, String)> = N::LAYERS
        .iter()
        .enumerate()
        .filter(|(_, l)| l.params > 0)
        .map(|(k, l)| (l.name.to_string(), format!("m{k}")))
        .collect();
    let names: Vec<(&str, &str)> = modules.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    let bytes = pytorch::export(net, &names).unwrap();
    pytorch::import(other, &bytes, &names).unwrap();
    assert!(same(net, other));
    keras::import(other, &keras::export(net, &names).unwrap(), &names).unwrap();
    assert!(same(net, other));

    let mut sgd = Sgd::new(SgdConfig::new(0.01).momentum(0.9)).unwrap();
    let rng = gradflow::rng(3);
    let progress = Progress { epoch: 0, step: 0 };
    let saved = checkpoint::to_bytes(net, &mut sgd, &rng, progress).unwrap();
    let mut restored_sgd = Sgd::new(SgdConfig::new(0.01).momentum(0.9)).unwrap();
    let mut restored_rng = gradflow::rng(4);
    checkpoint::from_bytes(&saved, other, &mut restored_sgd, &mut restored_rng).unwrap();
    assert!(same(net, other));

    let features: Vec<[f32; 4]> = (0..16)
        .map(|i| core::array::from_fn(|j| ((i * 4 + j) as f32 * 0.37).sin()))
        .collect();
    let labels: Vec<usize> = (0..16).map(|i| i % 3).collect();
    let samples = Samples::new(&features, &labels);
    let config = TrainConfig {
        epochs: 2,
        progress: false,
        ..Default::default()
    };
    let before = weights::to_bytes(net).unwrap();
    let history = fit::<f32, N, _, 4>(net, &mut sgd, samples, samples, &config).unwrap();
    assert_eq!((history.steps, history.refused.len()), (8, 0));
    assert_ne!(weights::to_bytes(net).unwrap(), before);

    let mut cache = gradflow::nn::memory::zeroed_box::<N::Cache<2>>();
    let mut grads = gradflow::nn::memory::zeroed_box::<N::Grads>();
    let mut dy = [[0.0f32; 3]; 2];
    let logits = net.forward_train(&x, &mut cache);
    softmax_cross_entropy(logits, &[0, 2], &mut dy).unwrap();
    net.backward_into(&mut cache, &dy, None, &mut grads);
    let report = GradientReport::capture::<f32, N, 2>(0, net, &cache, &grads);
    // One row per item of the list (a dense with its batchnorm attribute is one item).
    assert!(report.layers.len() > N::LAYERS.len() / 3, "{report:?}");
    let ratio = report.first_to_last_ratio().unwrap();
    assert!(ratio.is_finite() && ratio > 0.0, "{ratio}");
    // Two different samples: judged, not named as one input repeated.
    assert!(!report.same_samples);
    assert!(!report.verdict().findings.contains(&Finding::SameSamples));
}

#[test]
fn every_api_on_ten_f32_blocks() {
    every_api(
        &mut Deep32::new(&mut gradflow::rng(1)),
        &mut Deep32::new(&mut gradflow::rng(2)),
    );
}

#[test]
fn every_api_on_thirty_f32_blocks() {
    every_api(
        &mut *Deeper32::new_boxed(&mut gradflow::rng(1)),
        &mut *Deeper32::new_boxed(&mut gradflow::rng(2)),
    );
}

#[test]
fn every_api_on_forty_plain_sigmoid_layers() {
    every_api(
        &mut Plain40::new(&mut gradflow::rng(1)),
        &mut Plain40::new(&mut gradflow::rng(2)),
    );
}

#[test]
fn layout_checks_save_load_and_gradient_checks_on_ten_f64_blocks() {
    let mut net = Deep64::new(&mut gradflow::rng(1));
    gradflow::nn::check_layout(&net).unwrap();
    gradflow::nn::check_trainable_layout(&net).unwrap();
    gradflow::nn::check_params_layout(&mut net, &Deep64Grads::zeroed()).unwrap();
    let mut copy = Deep64::new(&mut gradflow::rng(2));
    weights::from_bytes(&mut copy, &weights::to_bytes(&net).unwrap()).unwrap();
    assert_eq!(copy.to_le_bytes(), net.to_le_bytes());
    let x = [
        [0.3, -0.2, 0.5, 0.1],
        [-0.4, 0.2, 0.0, 0.7],
        [0.1, 0.9, -0.3, 0.2],
    ];
    let check = gradflow::nn::gradcheck::check_network(&mut net, &x);
    assert!(check.layout.is_none(), "{check:?}");
    // Two trainable tensors in each of 22 dense layers (1 + 20 in the blocks + 1) and 22
    // batchnorm layers (1 + 20 + the one before the last dense).
    assert_eq!(check.params.len(), 2 * (22 + 22));
    assert!(check.passes(1e-5), "{:?}", check.worst_param());
}
