//! Residual blocks, batchnorm and standardize in generated networks: finite-difference
//! gradient checks (f64, relative error below 1e-6) of every way a block can be wired, the
//! inference/training difference of batchnorm, and the activations visitor.

mod common;

use common::batch;
use gradflow::nn::gradcheck::check_network;
use gradflow::nn::{Activations, Network, TrainableNetwork};
use gradflow::prelude::*;

network! {
    /// An identity skip around two layers, with a trailing activation.
    struct Identity<f64> {
        input 4,
        dense 5 [he_init, tanh],
        residual {
            dense 5 [he_init, relu],
            dense 5 [he_init],
        } relu,
        dense 3,
    }
}

network! {
    /// A learned projection from width 4 to 6, after the network input.
    struct Projected<f64> {
        input 4,
        residual(project) {
            dense 6 [he_init, tanh],
            dense 6 [he_init],
        } tanh,
        dense 2,
    }
}

network! {
    /// A block inside a block, both starting at the same layer, and one ending the body.
    struct Nested<f64> {
        input 3,
        dense 4 [tanh],
        residual {
            residual { dense 4 [tanh] } sigmoid,
            dense 4 [gelu],
            residual(project) { dense 5 [tanh] },
            dense 4,
        } tanh,
        dense 2,
    }
}

network! {
    /// A residual block as the very first item, with a frozen layer first in its body.
    struct FirstBlock<f64> {
        input 3,
        residual {
            dense 3 [frozen, tanh],
            dense 3 [sigmoid],
        },
        residual(project) { dense 2 [gelu] },
    }
}

network! {
    /// The projection reads the network input, which its body's first (frozen) layer reads too.
    struct FirstProjected<f64> {
        input 3,
        residual(project) { dense 4 [frozen, tanh], dense 4 [tanh] } identity,
        dense 2,
    }
}

network! {
    /// The cures together: ten residual blocks of batch-normalized ReLU layers.
    struct DeepResidual<f64> {
        input 4,
        dense 6 [he_init, batchnorm, relu],
        repeat 10 residual {
            dense 6 [he_init, batchnorm, relu],
            dense 6 [he_init, batchnorm],
        } relu,
        // Keeps the output, and with it the loss's roundoff, at the scale of one: the
        // biases before a batchnorm have a gradient of exactly 0, which finite differences
        // only see as noise relative to the loss.
        batchnorm,
        dense 3,
    }
}

network! {
    /// A standardizer first, and a frozen batch-normalized layer.
    struct Standardized<f64> {
        input 3,
        standardize,
        dense 4 [tanh],
        dense 4 [batchnorm, frozen, tanh],
        batchnorm,
        dense 2,
    }
}

/// Runs the gradient check, also asserting the check saw the gradients it should.
fn assert_gradients<N, const B: usize>(net: &mut N, x: &[N::Input; B])
where
    N: TrainableNetwork<f64>,
    N::Input: bytemuck::Pod,
    N::Output: bytemuck::Pod,
{
    let report = check_network(net, x);
    assert!(report.passes(1e-6), "{report:?}");
    assert!(report.input.max_abs_analytic > 1e-3, "{report:?}");
}

#[test]
fn identity_skip_gradients_match_finite_differences() {
    let mut net = Identity::new(&mut gradflow::rng(1));
    assert_gradients(&mut net, &batch::<3, 4>(10));
}

#[test]
fn projected_skip_gradients_match_finite_differences() {
    let mut net = Projected::new(&mut gradflow::rng(2));
    assert_gradients(&mut net, &batch::<4, 4>(20));
    // The projection is a trainable dense layer of its own, initialized.
    assert!(net.residual_2.weight.iter().flatten().any(|w| *w != 0.0));
    assert_eq!(ProjectedGrads::zeroed().residual_2.weight.len(), 4);
}

#[test]
fn nested_residual_gradients_match_finite_differences() {
    let mut net = Nested::new(&mut gradflow::rng(3));
    assert_gradients(&mut net, &batch::<3, 3>(30));
}

#[test]
fn a_block_as_the_first_item_gets_its_input_gradient_right() {
    let mut net = FirstBlock::new(&mut gradflow::rng(4));
    assert_gradients(&mut net, &batch::<3, 3>(40));
    let mut net = FirstProjected::new(&mut gradflow::rng(5));
    assert_gradients(&mut net, &batch::<3, 3>(50));
}

#[test]
fn without_an_input_gradient_the_projection_still_learns() {
    let mut net = FirstProjected::new(&mut gradflow::rng(6));
    let x = batch::<3, 3>(60);
    let dy = batch::<3, 2>(61);
    let mut cache = FirstProjectedCache::<3>::zeroed();
    let (mut with, mut without) = (FirstProjectedGrads::zeroed(), FirstProjectedGrads::zeroed());
    net.forward_train(&x, &mut cache);
    let mut dx = [[0.0; 3]; 3];
    net.backward_to_input(&mut cache, &dy, &mut dx, &mut with);
    net.backward(&mut cache, &dy, &mut without);
    assert!(without
        .residual_2
        .weight
        .iter()
        .flatten()
        .any(|g| *g != 0.0));
    assert_eq!(with.residual_2.weight, without.residual_2.weight);
    assert_eq!(with.dense_1.weight, without.dense_1.weight);
}

#[test]
fn ten_batch_normalized_residual_blocks_have_exact_gradients() {
    // Biases before a batchnorm have a gradient of exactly 0, which finite differences see
    // as roundoff of the loss; a batch of 8 keeps batch variances, and that roundoff, sane.
    let mut net = DeepResidual::new(&mut gradflow::rng(7));
    assert_gradients(&mut net, &batch::<8, 4>(70));
    assert_eq!(
        DeepResidual::LAYERS
            .iter()
            .filter(|l| l.kind == "residual")
            .count(),
        10
    );
    // 22 batchnorms (one per hidden dense layer, one before the last), each with trainable
    // gamma and beta and untrained running statistics.
    let dense = |i: usize, o: usize| i * o + o;
    let params = dense(4, 6) + 20 * dense(6, 6) + dense(6, 3);
    assert_eq!(DeepResidual::PARAM_COUNT, params + 22 * 4 * 6);
    assert_eq!(DeepResidual::TRAINABLE_PARAM_COUNT, params + 22 * 2 * 6);
}

#[test]
fn standardize_and_frozen_batchnorm_gradients() {
    let mut net = Standardized::new(&mut gradflow::rng(8));
    net.standardize_0
        .fit(&[[1.0, 100.0, -3.0], [3.0, 300.0, -1.0], [2.0, 500.0, -2.5]]);
    net.batchnorm_2.gamma = [1.5, 0.5, 2.0, -1.0];
    net.batchnorm_2.beta = [0.1, -0.2, 0.3, 0.0];
    let x = [
        [1.5, 250.0, -2.0],
        [2.5, 120.0, -1.2],
        [0.5, 480.0, -2.9],
        [2.0, 300.0, -1.5],
    ];
    assert_gradients(&mut net, &x);
    // The frozen batchnorm and the standardizer have no gradients; the last batchnorm has
    // (the struct padded to its alignment, a cache line on x86_64 and aarch64).
    let grads = StandardizedGrads::zeroed();
    let size = |n: usize| {
        (n * core::mem::size_of::<f64>()).next_multiple_of(core::mem::align_of_val(&grads))
    };
    assert_eq!(
        core::mem::size_of_val(&grads),
        size((3 * 4 + 4) + (4 * 2 + 2) + 2 * 4)
    );
    assert_eq!(grads.batchnorm_3.gamma.len(), 4);
    let mut names = Vec::new();
    net.visit_params(&grads, [], &mut |p| {
        names.push(format!("{}.{}", p.layer, p.name))
    });
    assert_eq!(
        names,
        [
            "dense_1.weight",
            "dense_1.bias",
            "batchnorm_3.gamma",
            "batchnorm_3.beta",
            "dense_4.weight",
            "dense_4.bias"
        ]
    );
    // Frozen parameters stay put through training; the running statistics still move.
    let (gamma, mean) = (net.batchnorm_2.gamma, net.batchnorm_2.running_mean);
    let mut cache = StandardizedCache::<4>::zeroed();
    let mut grads = StandardizedGrads::zeroed();
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    net.forward_train(&x, &mut cache);
    net.backward(&mut cache, &[[1.0, -1.0]; 4], &mut grads);
    assert!(sgd.step(&mut net, &grads).applied);
    assert_eq!(net.batchnorm_2.gamma, gamma);
    assert_ne!(net.batchnorm_2.running_mean, mean);
    // `init` makes the standardizer the identity again and resets every batchnorm.
    net.init(&mut gradflow::rng(9));
    assert_eq!(net.standardize_0.std, [1.0; 3]);
    assert_eq!(net.batchnorm_2.gamma, [1.0; 4]);
    assert_eq!(net.batchnorm_2.running_var, [1.0; 4]);
}

network! {
    /// One batch-normalized unit to compute by hand.
    struct Normed<f64> {
        input 2,
        dense 1 [batchnorm],
    }
}

#[test]
fn inference_uses_running_statistics() {
    let mut net = Normed::new(&mut gradflow::rng(10));
    net.dense_0.weight = [[1.0], [2.0]];
    net.dense_0.bias = [0.5];
    net.batchnorm_0.gamma = [2.0];
    net.batchnorm_0.beta = [-1.0];
    let x = [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]];
    // The dense outputs 1.5, 2.5 and 6.5: mean 3.5, biased variance 14/3, unbiased 7.
    let mut cache = NormedCache::<3>::zeroed();
    let trained = *net.forward_train(&x, &mut cache);
    let (momentum, eps) = (0.1, 1e-5);
    let mean = momentum * 3.5;
    let var = (1.0 - momentum) + momentum * 7.0;
    assert!((net.batchnorm_0.running_mean[0] - mean).abs() < 1e-12);
    assert!((net.batchnorm_0.running_var[0] - var).abs() < 1e-12);
    let inferred = net.forward(&x);
    assert_ne!(inferred, trained);
    let hand = |z: f64| 2.0 * (z - mean) / (var + eps).sqrt() - 1.0;
    for (y, z) in inferred.iter().zip([1.5, 2.5, 6.5]) {
        assert!((y[0] - hand(z)).abs() < 1e-12, "{} vs {}", y[0], hand(z));
    }
    // Training mode normalizes with the batch's own statistics.
    let batch_hand = |z: f64| 2.0 * (z - 3.5) / (14.0f64 / 3.0 + eps).sqrt() - 1.0;
    assert!((trained[0][0] - batch_hand(1.5)).abs() < 1e-12);
}

#[test]
fn visit_activations_visits_every_layer_in_order() {
    let mut net = Nested::new(&mut gradflow::rng(11));
    let x = batch::<3, 3>(110);
    let mut cache = NestedCache::<3>::zeroed();
    net.forward_train(&x, &mut cache);
    let mut seen = Vec::new();
    Nested::visit_activations(&cache, &mut |a: Activations<'_, f64>| {
        assert_eq!(a.values.len(), 3 * a.width);
        seen.push((a.layer, a.kind, a.width));
    });
    let expected: Vec<_> = Nested::LAYERS
        .iter()
        .map(|l| (l.name, l.kind.trim_end_matches("(project)"), l.outputs))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        seen,
        [
            ("dense_0", "dense", 4),
            ("tanh_0", "tanh", 4),
            ("dense_1", "dense", 4),
            ("tanh_1", "tanh", 4),
            ("residual_2", "residual", 4),
            ("sigmoid_2", "sigmoid", 4),
            ("dense_3", "dense", 4),
            ("gelu_3", "gelu", 4),
            ("dense_4", "dense", 5),
            ("tanh_4", "tanh", 5),
            ("residual_5", "residual", 5),
            ("dense_6", "dense", 4),
            ("residual_7", "residual", 4),
            ("tanh_7", "tanh", 4),
            ("dense_8", "dense", 2),
        ]
    );
    // The trait method visits the same buffers; the values are the cache's.
    let mut count = 0;
    <Nested as TrainableNetwork<f64>>::visit_activations(&cache, &mut |a| {
        if a.layer == "dense_8" {
            assert_eq!(a.values, cache.out_dense_8.as_flattened());
        }
        count += 1;
    });
    assert_eq!(count, <Nested as Network<f64>>::LAYERS.len());

    let mut kinds = Vec::new();
    Standardized::visit_activations(&StandardizedCache::<2>::zeroed(), &mut |a| {
        kinds.push(a.kind)
    });
    assert_eq!(
        kinds,
        [
            "standardize",
            "dense",
            "tanh",
            "dense",
            "batchnorm",
            "tanh",
            "batchnorm",
            "dense"
        ]
    );
}

#[test]
fn residual_layer_table_and_forward_agree_with_a_hand_computation() {
    network! {
        struct Tiny<f64> { input 2, residual { dense 2 } relu }
    }
    let mut net = Tiny::new(&mut gradflow::rng(12));
    net.dense_0.weight = [[1.0, 0.0], [0.0, -3.0]];
    net.dense_0.bias = [0.0, 0.0];
    let x = [[1.0, 1.0], [-2.0, 0.5]];
    // relu(x + x W): [2, -2] -> [2, 0]; [-4, -1] -> [0, 0].
    assert_eq!(net.forward(&x), [[2.0, 0.0], [0.0, 0.0]]);
    let mut cache = TinyCache::<2>::zeroed();
    assert_eq!(*net.forward_train(&x, &mut cache), net.forward(&x));
    let info = Tiny::LAYERS[1];
    assert_eq!(
        (
            info.name,
            info.kind,
            info.index,
            info.inputs,
            info.outputs,
            info.frozen
        ),
        ("residual_1", "residual", 1, 2, 2, false)
    );
    assert_eq!(Tiny::LAYERS[2].name, "relu_1");
}

mod output_grads {
    use gradflow::prelude::*;

    network! {
        struct Three<f64> {
            input 3,
            dense 4 [he_init, tanh],
            dense 2,
        }
    }

    network! {
        struct One<f64> {
            input 3,
            dense 2,
        }
    }

    /// The gradient visited at `dense_0` and `tanh_0` matches the chain rule by hand.
    #[test]
    fn visit_output_grads_shows_the_back_propagated_gradients() {
        let mut net = Three::new(&mut gradflow::rng(9));
        let x = [[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]];
        let mut cache = ThreeCache::<2>::zeroed();
        let mut grads = ThreeGrads::zeroed();
        net.forward_train(&x, &mut cache);
        let dy = [[1.0, -0.5], [0.25, 2.0]];
        net.backward(&mut cache, &dy, &mut grads);
        let mut seen = Vec::new();
        Three::visit_output_grads(&cache, &mut |a| {
            seen.push((a.layer, a.kind, a.values.to_vec()))
        });
        assert_eq!(
            seen.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
            [("dense_0", "dense"), ("tanh_0", "tanh")]
        );
        for (b, dyb) in dy.iter().enumerate() {
            for j in 0..4 {
                // d/d(tanh_0 out)[j] = sum_o dy[o] W1[j][o]; d/d(dense_0 out) = that * (1 - y^2).
                let g: f64 = (0..2).map(|o| dyb[o] * net.dense_1.weight[j][o]).sum();
                let y = cache.out_tanh_0[b][j];
                assert!((seen[1].2[b * 4 + j] - g).abs() < 1e-12);
                assert!((seen[0].2[b * 4 + j] - g * (1.0 - y * y)).abs() < 1e-12);
            }
        }
        let mut count = 0;
        One::visit_output_grads(&OneCache::<2>::zeroed(), &mut |_| count += 1);
        assert_eq!(count, 0);
    }
}

/// Inference shares buffers between outputs whose lifetimes do not overlap; on networks
/// without batchnorm it must give exactly what the training forward (every output kept in the
/// cache) gives: nested blocks starting at one layer, a block first, a projection reading the
/// network input, a projection last. `forward_into` also overwrites a `y` full of NaN.
#[test]
fn inference_with_shared_buffers_equals_the_training_forward() {
    macro_rules! same {
        ($net:ident, $cache:ident, $inputs:literal) => {{
            let mut net = $net::new(&mut gradflow::rng(21));
            let x: [[f64; $inputs]; 3] = core::array::from_fn(|b| {
                core::array::from_fn(|i| ((b * $inputs + i) as f64 * 0.61).sin())
            });
            let mut cache = $cache::<3>::zeroed();
            let trained = *net.forward_train(&x, &mut cache);
            assert_eq!(net.forward(&x), trained, stringify!($net));
            let mut y = trained;
            y.as_flattened_mut().fill(f64::NAN);
            net.forward_into(&x, &mut y);
            assert_eq!(y, trained, stringify!($net));
        }};
    }
    same!(Identity, IdentityCache, 4);
    same!(Projected, ProjectedCache, 4);
    same!(Nested, NestedCache, 3);
    same!(FirstBlock, FirstBlockCache, 3);
    same!(FirstProjected, FirstProjectedCache, 3);
}
