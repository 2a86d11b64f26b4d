//! PyTorch and Keras interop against reference fixtures made by
//! `tests/fixtures/interop/make_fixtures.py` (pinned versions in `requirements.txt` beside it):
//! the same MLP with batchnorm in each framework, in float64, with its weights, a batch of
//! inputs, and the framework's outputs (eval and train mode) and gradients. The fixtures are
//! committed; these tests need no Python.

use gradflow::interop::{keras, pytorch};
use gradflow::prelude::*;
use gradflow::weights::WeightsError;
use safetensors::SafeTensors;

network! {
    /// Linear 4 -> 8, BatchNorm, tanh, Linear 8 -> 3: the fixtures' model.
    pub struct Mlp<f64> {
        input 4,
        dense 8 [batchnorm, tanh],
        dense 3,
    }
}

const B: usize = 6;
const TOL: f64 = 1e-5;
const TORCH_NAMES: &[(&str, &str)] = &[("dense_0", "0"), ("batchnorm_0", "1"), ("dense_1", "3")];
const KERAS_NAMES: &[(&str, &str)] = &[
    ("dense_0", "dense"),
    ("batchnorm_0", "bn"),
    ("dense_1", "out"),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/interop/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture tensor as flat f64 values, with its shape.
fn tensor(file: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f64>) {
    let view = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F64, "{name}");
    let values = view
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (view.shape().to_vec(), values)
}

fn batch<const N: usize>(file: &SafeTensors<'_>, name: &str) -> [[f64; N]; B] {
    let (shape, v) = tensor(file, name);
    assert_eq!(shape, [B, N], "{name}");
    core::array::from_fn(|b| core::array::from_fn(|n| v[b * N + n]))
}

fn assert_close(what: &str, ours: &[f64], theirs: &[f64]) {
    assert_within(what, ours, theirs, TOL);
}

fn assert_within(what: &str, ours: &[f64], theirs: &[f64], tol: f64) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let worst = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= tol, "{what}: max |difference| {worst:e} > {tol:e}");
}

fn flat<const N: usize>(rows: &[[f64; N]]) -> Vec<f64> {
    rows.iter().flatten().copied().collect()
}

/// `[rows, cols]` row-major to `[cols, rows]`.
fn transpose(v: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| v[r * cols + c]))
        .collect()
}

/// What one train-mode step gives: output, input gradient, parameter gradients.
fn train_step(
    net: &mut Mlp,
    x: &[[f64; 4]; B],
    dy: &[[f64; 3]; B],
) -> ([[f64; 3]; B], [[f64; 4]; B], MlpGrads) {
    let mut cache = MlpCache::<B>::new_boxed();
    let mut grads = MlpGrads::zeroed();
    let y = *net.forward_train(x, &mut cache);
    let mut dx = [[0.0; 4]; B];
    net.backward_to_input(&mut cache, dy, &mut dx, &mut grads);
    (y, dx, grads)
}

#[test]
fn pytorch_outputs_and_gradients_are_reproduced() {
    let mut net = Mlp::new(&mut gradflow::rng(0));
    pytorch::import(&mut net, &fixture("torch_weights"), TORCH_NAMES).unwrap();
    net.batchnorm_0.momentum = pytorch::momentum(0.1);
    let io_bytes = fixture("torch_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let x = batch::<4>(&io, "input");
    let dy = batch::<3>(&io, "dy");

    // Eval mode: the running statistics.
    let y: [[f64; 3]; B] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(&io, "eval.output").1);

    // Train mode: batch statistics, gradients of sum(y * dy), running statistics updated.
    let (y, dx, grads) = train_step(&mut net, &x, &dy);
    assert_close("train output", &flat(&y), &tensor(&io, "train.output").1);
    assert_close(
        "input gradient",
        &flat(&dx),
        &tensor(&io, "train.input_grad").1,
    );
    // PyTorch's Linear weight gradient is [out, in]: transpose it to gradflow's [in, out].
    let g = |name: &str| tensor(&io, &format!("train.grad.{name}")).1;
    assert_close(
        "0.weight grad",
        &flat(&grads.dense_0.weight),
        &transpose(&g("0.weight"), 8, 4),
    );
    assert_close("0.bias grad", &grads.dense_0.bias, &g("0.bias"));
    assert_close(
        "1.weight grad (gamma)",
        &grads.batchnorm_0.gamma,
        &g("1.weight"),
    );
    assert_close("1.bias grad (beta)", &grads.batchnorm_0.beta, &g("1.bias"));
    assert_close(
        "3.weight grad",
        &flat(&grads.dense_1.weight),
        &transpose(&g("3.weight"), 3, 8),
    );
    assert_close("3.bias grad", &grads.dense_1.bias, &g("3.bias"));
    // PyTorch's running variance is unbiased, as gradflow's.
    assert_close(
        "running_mean",
        &net.batchnorm_0.running_mean,
        &tensor(&io, "train.1.running_mean").1,
    );
    assert_close(
        "running_var",
        &net.batchnorm_0.running_var,
        &tensor(&io, "train.1.running_var").1,
    );
}

#[test]
fn keras_outputs_and_gradients_are_reproduced() {
    let mut net = Mlp::new(&mut gradflow::rng(0));
    keras::import(&mut net, &fixture("keras_weights"), KERAS_NAMES).unwrap();
    // The fixture's BatchNormalization(momentum=0.9, epsilon=1e-3).
    net.batchnorm_0.momentum = keras::momentum(0.9);
    net.batchnorm_0.eps = keras::DEFAULT_EPSILON;
    let running_var_before = net.batchnorm_0.running_var;
    let io_bytes = fixture("keras_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let x = batch::<4>(&io, "input");
    let dy = batch::<3>(&io, "dy");

    let y: [[f64; 3]; B] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(&io, "eval.output").1);

    let (y, dx, grads) = train_step(&mut net, &x, &dy);
    assert_close("train output", &flat(&y), &tensor(&io, "train.output").1);
    assert_close(
        "input gradient",
        &flat(&dx),
        &tensor(&io, "train.input_grad").1,
    );
    // Keras' kernel is [in, out], as gradflow's weight: no transpose.
    let g = |name: &str| tensor(&io, &format!("train.grad.{name}")).1;
    assert_close(
        "dense/kernel grad",
        &flat(&grads.dense_0.weight),
        &g("dense/kernel"),
    );
    assert_close("dense/bias grad", &grads.dense_0.bias, &g("dense/bias"));
    assert_close("bn/gamma grad", &grads.batchnorm_0.gamma, &g("bn/gamma"));
    assert_close("bn/beta grad", &grads.batchnorm_0.beta, &g("bn/beta"));
    assert_close(
        "out/kernel grad",
        &flat(&grads.dense_1.weight),
        &g("out/kernel"),
    );
    assert_close("out/bias grad", &grads.dense_1.bias, &g("out/bias"));
    assert_close(
        "moving_mean",
        &net.batchnorm_0.running_mean,
        &tensor(&io, "train.bn/moving_mean").1,
    );

    // Keras updates its moving variance with the biased batch variance, gradflow (like
    // PyTorch) with the unbiased one: new = (1 - m) old + m var, so the two differ by
    // m var (B / (B - 1) - 1) = m var / (B - 1).
    let m = keras::momentum(0.9);
    let theirs = tensor(&io, "train.bn/moving_variance").1;
    let unbiased: Vec<f64> = theirs
        .iter()
        .zip(running_var_before)
        .map(|(&new, old)| {
            let var = (new - (1.0 - m) * old) / m;
            (1.0 - m) * old + m * var * B as f64 / (B as f64 - 1.0)
        })
        .collect();
    assert_close(
        "moving_variance (unbiased)",
        &net.batchnorm_0.running_var,
        &unbiased,
    );
    assert!(
        net.batchnorm_0
            .running_var
            .iter()
            .zip(&theirs)
            .any(|(a, b)| (a - b).abs() > 1e-3),
        "the biased and unbiased updates should differ on this batch"
    );
}

#[test]
fn export_then_import_round_trips_in_each_framework_layout() {
    let net = Mlp::new(&mut gradflow::rng(3));
    for (framework, bytes, names) in [
        (
            "pytorch",
            pytorch::export(&net, TORCH_NAMES).unwrap(),
            TORCH_NAMES,
        ),
        (
            "keras",
            keras::export(&net, KERAS_NAMES).unwrap(),
            KERAS_NAMES,
        ),
    ] {
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut names_in_file = file.names();
        names_in_file.sort_unstable();
        let reference = fixture(&format!(
            "{}_weights",
            if framework == "pytorch" {
                "torch"
            } else {
                "keras"
            }
        ));
        let reference = SafeTensors::deserialize(&reference).unwrap();
        let mut reference_names = reference.names();
        reference_names.sort_unstable();
        // The same names, dtypes and shapes as the framework's own file.
        assert_eq!(names_in_file, reference_names, "{framework}");
        for name in &names_in_file {
            let (ours, theirs) = (file.tensor(name).unwrap(), reference.tensor(name).unwrap());
            assert_eq!(ours.shape(), theirs.shape(), "{framework} {name}");
            assert_eq!(ours.dtype(), theirs.dtype(), "{framework} {name}");
        }
        let mut back = Mlp::new(&mut gradflow::rng(4));
        if framework == "pytorch" {
            pytorch::import(&mut back, &bytes, names).unwrap();
            let w = tensor(&file, "0.weight").1;
            assert_eq!(w, transpose(&flat(&net.dense_0.weight), 4, 8));
        } else {
            keras::import(&mut back, &bytes, names).unwrap();
        }
        assert_eq!(back.dense_0.weight, net.dense_0.weight, "{framework}");
        assert_eq!(back.dense_1.bias, net.dense_1.bias, "{framework}");
        assert_eq!(
            back.batchnorm_0.running_var, net.batchnorm_0.running_var,
            "{framework}"
        );
    }
}

/// A file given to the wrong loader is named by its `format` metadata, with the loader that
/// reads it; a file without one (or of the loader's own format) keeps the plain error.
#[test]
fn a_file_given_to_the_wrong_loader_says_which_loader_reads_it() {
    let net = Mlp::new(&mut gradflow::rng(3));
    let mut other = Mlp::new(&mut gradflow::rng(4));
    let before = gradflow::weights::to_bytes(&other).unwrap();
    let torch = pytorch::export(&net, TORCH_NAMES).unwrap();
    let keras_file = keras::export(&net, KERAS_NAMES).unwrap();
    let ours = gradflow::weights::to_bytes(&net).unwrap();
    let cases = [
        (
            gradflow::weights::from_bytes(&mut other, &torch).unwrap_err(),
            "dense_0.weight",
            "`interop::pytorch::import`",
        ),
        (
            gradflow::weights::from_bytes(&mut other, &keras_file).unwrap_err(),
            "dense_0.weight",
            "`interop::keras::import`",
        ),
        (
            pytorch::import(&mut other, &ours, TORCH_NAMES).unwrap_err(),
            "0.weight",
            "`weights::load`",
        ),
        (
            keras::import(&mut other, &torch, KERAS_NAMES).unwrap_err(),
            "dense/kernel",
            "`interop::pytorch::import`",
        ),
    ];
    for (err, missing, loader) in cases {
        let text = err.to_string();
        assert!(
            matches!(&err, WeightsError::OtherFormat { name, .. } if name == missing),
            "{text}"
        );
        assert!(text.contains(loader), "{text}");
    }
    assert_eq!(gradflow::weights::to_bytes(&other).unwrap(), before);
    // Without the metadata, the plain error.
    let file = SafeTensors::deserialize(&torch).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = file.tensors();
    let bare = safetensors::serialize(tensors, None).unwrap();
    let err = gradflow::weights::from_bytes(&mut other, &bare).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Missing { name } if name == "dense_0.weight"),
        "{err}"
    );
}

#[test]
fn interop_errors_name_the_tensor_and_change_nothing() {
    let mut net = Mlp::new(&mut gradflow::rng(5));
    let before = gradflow::weights::to_bytes(&net).unwrap();
    // A setting no loader accepts is refused by the exports as by `weights::to_bytes`, though
    // the exported files hold no settings.
    let mut broken = Mlp::new(&mut gradflow::rng(5));
    broken.batchnorm_0.momentum = 1.5;
    for err in [
        pytorch::export(&broken, TORCH_NAMES).unwrap_err(),
        keras::export(&broken, KERAS_NAMES).unwrap_err(),
        gradflow::weights::to_bytes(&broken).unwrap_err(),
    ] {
        assert!(
            matches!(&err, WeightsError::OutOfDomain { name, .. } if name == "batchnorm_0.momentum"),
            "{err}"
        );
    }
    broken.batchnorm_0.momentum = f64::NAN;
    for err in [
        pytorch::export(&broken, TORCH_NAMES).unwrap_err(),
        gradflow::weights::to_bytes(&broken).unwrap_err(),
    ] {
        assert!(
            matches!(&err, WeightsError::NonFinite { name, .. } if name == "batchnorm_0.momentum"),
            "{err}"
        );
    }
    // Keras weights read as PyTorch's: every name differs.
    let err = pytorch::import(&mut net, &fixture("keras_weights"), TORCH_NAMES).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Missing { name } if name == "0.weight"),
        "{err}"
    );
    // A mapping that leaves a layer out.
    let err = keras::import(&mut net, &fixture("keras_weights"), &KERAS_NAMES[..2]).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Mapping { name, .. } if name == "dense_1.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("`dense_1`"), "{err}");
    // A Keras layer name holding the path separator, or empty.
    for (bad, says) in [
        ("blocks/0", "which holds a `/`"),
        ("", "which is empty: its variables would be named `/kernel`"),
    ] {
        let names = [
            ("dense_0", "dense"),
            ("batchnorm_0", bad),
            ("dense_1", "out"),
        ];
        for err in [
            keras::export(&net, &names).unwrap_err(),
            keras::import(&mut net, &fixture("keras_weights"), &names).unwrap_err(),
        ] {
            assert!(
                matches!(&err, WeightsError::Mapping { name, .. } if name == "batchnorm_0"),
                "{err}"
            );
            assert!(err.to_string().contains(says), "{err}");
        }
    }
    // A network that loading would refuse is not exported: a negative variance, a NaN.
    let mut diverged = Mlp::new(&mut gradflow::rng(7));
    diverged.batchnorm_0.running_var[0] = -1.0;
    let err = pytorch::export(&diverged, TORCH_NAMES).unwrap_err();
    assert!(
        matches!(&err, WeightsError::OutOfDomain { name, index: 0, .. } if name == "batchnorm_0.running_var"),
        "{err}"
    );
    let mut diverged = Mlp::new(&mut gradflow::rng(7));
    diverged.dense_1.bias[1] = f64::NAN;
    for err in [
        pytorch::export(&diverged, TORCH_NAMES).unwrap_err(),
        keras::export(&diverged, KERAS_NAMES).unwrap_err(),
    ] {
        assert!(
            matches!(&err, WeightsError::NonFinite { name, index: 1, .. } if name == "dense_1.bias"),
            "{err}"
        );
    }
    // PyTorch's file with its weight not transposed has the wrong shape.
    let mut flipped = Mlp::new(&mut gradflow::rng(6));
    let wrong = keras::export(&flipped, KERAS_NAMES).unwrap();
    let err = keras::import(
        &mut flipped,
        &wrong,
        &[
            ("dense_0", "out"),
            ("batchnorm_0", "bn"),
            ("dense_1", "dense"),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(&err, WeightsError::Shape { name, .. } if name == "out/kernel"),
        "{err}"
    );
    // Both shapes in the error are PyTorch's layout, `[out, in]`: under `3.weight`, the name
    // now mapped to dense_0, the file holds dense_1's [3, 8] where dense_0's [8, 4] belongs.
    let exported = pytorch::export(&flipped, TORCH_NAMES).unwrap();
    let swapped = [("dense_0", "3"), ("batchnorm_0", "1"), ("dense_1", "0")];
    let err = pytorch::import(&mut flipped, &exported, &swapped).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `3.weight` has shape [3, 8] in the file, but this network needs [8, 4] there"
    );
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
    // Two layers exported under one name: refused, naming both (not a panic in the encoder).
    // Also two layers whose tensors would not collide (a dense and a batchnorm), since no one
    // framework layer holds both.
    for err in [
        keras::export(
            &net,
            &[("dense_0", "d"), ("batchnorm_0", "d"), ("dense_1", "out")],
        ),
        pytorch::export(
            &net,
            &[("dense_0", "0"), ("batchnorm_0", "1"), ("dense_1", "0")],
        ),
        keras::export(
            &net,
            &[("dense_0", "d"), ("batchnorm_0", "bn"), ("dense_1", "d")],
        ),
    ]
    .map(Result::unwrap_err)
    {
        assert!(matches!(&err, WeightsError::Mapping { .. }), "{err}");
        assert!(err.to_string().contains("`dense_0` and `"), "{err}");
        assert!(
            err.to_string()
                .contains("one framework layer cannot hold both"),
            "{err}"
        );
    }
    // A mapping entry for a layer the network does not have (a typo), or a second entry for
    // one layer: refused, not ignored.
    let typo = [
        ("dense_0", "0"),
        ("batchnorm_0", "1"),
        ("dense_1", "3"),
        ("dense_7", "9"),
    ];
    let twice = [
        ("dense_0", "0"),
        ("batchnorm_0", "1"),
        ("dense_1", "3"),
        ("dense_0", "5"),
    ];
    // A name PyTorch could not match (empty, or with an empty part between dots), which an
    // export would write as `.weight` and the like: refused both ways.
    let empty = [("dense_0", "0"), ("batchnorm_0", ""), ("dense_1", "3")];
    let empty_part = [
        ("dense_0", "0"),
        ("batchnorm_0", "1"),
        ("dense_1", "head..0"),
    ];
    let leading_dot = [("dense_0", ".0"), ("batchnorm_0", "1"), ("dense_1", "3")];
    for (names, layer, says) in [
        (
            &typo[..],
            "dense_7",
            "which this network does not have (its layers: dense_0, batchnorm_0",
        ),
        (
            &twice[..],
            "dense_0",
            "names gradflow layer `dense_0` twice",
        ),
        (
            &empty[..],
            "batchnorm_0",
            "the PyTorch name ``, which is empty: its tensors would be named `.weight`",
        ),
        (
            &empty_part[..],
            "dense_1",
            "the PyTorch name `head..0`, which has an empty part",
        ),
        (
            &leading_dot[..],
            "dense_0",
            "the PyTorch name `.0`, which has an empty part",
        ),
    ] {
        for err in [
            pytorch::export(&net, names).unwrap_err(),
            pytorch::import(&mut net, &fixture("torch_weights"), names).unwrap_err(),
        ] {
            assert!(
                matches!(&err, WeightsError::Mapping { name, .. } if name == layer),
                "{err}"
            );
            assert!(err.to_string().contains(says), "{err}");
        }
    }
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
}

// Convolutions: the fixtures' CNN and 1-D network, channels-last here, channels-first in
// PyTorch, channels-last in Keras.

network! {
    /// Conv2d 2 -> 3 (3x3 same), BatchNorm2d, tanh, global average pool, Linear 3 -> 2.
    pub struct Cnn<f64> {
        input [5, 4, 2],
        conv2d 3 k3 same [batchnorm, tanh],
        global_avg_pool,
        dense 2,
    }
}

network! {
    /// Conv1d 2 -> 3 (kernel 3 same), tanh, global average pool, Linear 3 -> 2.
    pub struct Seq<f64> {
        input [6, 2],
        conv1d 3 k3 same [tanh],
        global_avg_pool,
        dense 2,
    }
}

const CB: usize = 4;

const TORCH_CNN: &[(&str, &str)] = &[("conv2d_0", "0"), ("batchnorm_0", "1"), ("dense_2", "4")];
const TORCH_SEQ: &[(&str, &str)] = &[("conv1d_0", "0"), ("dense_2", "4")];
const KERAS_CNN: &[(&str, &str)] = &[
    ("conv2d_0", "conv"),
    ("batchnorm_0", "bn"),
    ("dense_2", "out"),
];

/// A fixture tensor of `shape`, checked.
fn shaped(file: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Vec<f64> {
    let (s, v) = tensor(file, name);
    assert_eq!(s, shape, "{name}");
    v
}

/// `[n, c, rest..]` (channels-first, `rest` flattened to `len` positions) to `[n, rest.., c]`.
fn channels_last(v: &[f64], n: usize, c: usize, len: usize) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    for b in 0..n {
        for ch in 0..c {
            for p in 0..len {
                out[(b * len + p) * c + ch] = v[(b * c + ch) * len + p];
            }
        }
    }
    out
}

/// PyTorch's `[out, in, taps]` convolution weight as gradflow's `[taps, in, out]`.
fn conv_weight_from_torch(v: &[f64], out: usize, inp: usize, taps: usize) -> Vec<f64> {
    let mut ours = vec![0.0; v.len()];
    for o in 0..out {
        for i in 0..inp {
            for t in 0..taps {
                ours[(t * inp + i) * out + o] = v[(o * inp + i) * taps + t];
            }
        }
    }
    ours
}

fn cnn_batch<const L: usize>(values: &[f64]) -> Box<[[[[f64; 2]; L]; 5]; CB]> {
    let mut x = Box::new([[[[0.0; 2]; L]; 5]; CB]);
    for (d, &v) in x
        .as_flattened_mut()
        .as_flattened_mut()
        .as_flattened_mut()
        .iter_mut()
        .zip(values)
    {
        *d = v;
    }
    x
}

/// The convolution fixtures' `dy`, `[CB, 2]`.
fn conv_dy(io: &SafeTensors<'_>) -> [[f64; 2]; CB] {
    let v = shaped(io, "dy", &[CB, 2]);
    core::array::from_fn(|b| [v[b * 2], v[b * 2 + 1]])
}

/// One train-mode step of the CNN: output, input gradient (flat, channels-last), grads.
fn cnn_train_step(
    net: &mut Cnn,
    x: &[[[[f64; 2]; 4]; 5]; CB],
    dy: &[[f64; 2]; CB],
) -> ([[f64; 2]; CB], Vec<f64>, CnnGrads) {
    let mut cache = CnnCache::<CB>::new_boxed();
    let mut grads = CnnGrads::zeroed();
    let y = *net.forward_train(x, &mut cache);
    let mut dx = Box::new([[[[0.0; 2]; 4]; 5]; CB]);
    net.backward_to_input(&mut cache, dy, &mut dx, &mut grads);
    let dx = dx.as_flattened().as_flattened().as_flattened().to_vec();
    (y, dx, grads)
}

#[test]
fn pytorch_convolutions_and_batchnorm2d_are_reproduced() {
    let mut net = Cnn::new(&mut gradflow::rng(0));
    pytorch::import(&mut net, &fixture("torch_cnn_weights"), TORCH_CNN).unwrap();
    let io_bytes = fixture("torch_cnn_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let x = cnn_batch::<4>(&channels_last(
        &shaped(&io, "input", &[CB, 2, 5, 4]),
        CB,
        2,
        20,
    ));
    let dy = conv_dy(&io);

    let y: [[f64; 2]; CB] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(&io, "eval.output").1);

    let (y, dx, grads) = cnn_train_step(&mut net, &x, &dy);
    assert_close("train output", &flat(&y), &tensor(&io, "train.output").1);
    let theirs = shaped(&io, "train.input_grad", &[CB, 2, 5, 4]);
    assert_close("input gradient", &dx, &channels_last(&theirs, CB, 2, 20));
    let g = |name: &str| tensor(&io, &format!("train.grad.{name}")).1;
    assert_close(
        "conv weight grad",
        grads
            .conv2d_0
            .weight
            .as_flattened()
            .as_flattened()
            .as_flattened(),
        &conv_weight_from_torch(&g("0.weight"), 3, 2, 9),
    );
    assert_close("conv bias grad", &grads.conv2d_0.bias, &g("0.bias"));
    assert_close("bn gamma grad", &grads.batchnorm_0.gamma, &g("1.weight"));
    assert_close("bn beta grad", &grads.batchnorm_0.beta, &g("1.bias"));
    assert_close(
        "head weight grad",
        &flat(&grads.dense_2.weight),
        &transpose(&g("4.weight"), 2, 3),
    );
    assert_close("head bias grad", &grads.dense_2.bias, &g("4.bias"));
    let bn = &net.batchnorm_0;
    assert_close(
        "running mean",
        &bn.running_mean,
        &tensor(&io, "train.1.running_mean").1,
    );
    assert_close(
        "running var",
        &bn.running_var,
        &tensor(&io, "train.1.running_var").1,
    );

    // Exported again, the weights are PyTorch's own file, tensor for tensor.
    let out = pytorch::export(&*net_with_torch_weights(), TORCH_CNN).unwrap();
    let (ours, theirs) = (
        SafeTensors::deserialize(&out).unwrap(),
        fixture("torch_cnn_weights"),
    );
    let theirs = SafeTensors::deserialize(&theirs).unwrap();
    for name in [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "4.weight",
        "4.bias",
    ] {
        let (a, b) = (tensor(&ours, name), tensor(&theirs, name));
        assert_eq!(a, b, "{name}");
    }
}

fn net_with_torch_weights() -> Box<Cnn> {
    let mut net = Cnn::new_boxed(&mut gradflow::rng(5));
    pytorch::import(&mut *net, &fixture("torch_cnn_weights"), TORCH_CNN).unwrap();
    net
}

#[test]
fn pytorch_conv1d_is_reproduced() {
    let mut net = Seq::new(&mut gradflow::rng(0));
    pytorch::import(&mut net, &fixture("torch_seq_weights"), TORCH_SEQ).unwrap();
    let io_bytes = fixture("torch_cnn_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let xs = channels_last(&shaped(&io, "seq.input", &[CB, 2, 6]), CB, 2, 6);
    let x: [[[f64; 2]; 6]; CB] = core::array::from_fn(|b| {
        core::array::from_fn(|l| [xs[(b * 6 + l) * 2], xs[(b * 6 + l) * 2 + 1]])
    });
    let dy = conv_dy(&io);

    let y: [[f64; 2]; CB] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(&io, "seq.eval.output").1);
    let mut cache = SeqCache::<CB>::new_boxed();
    let mut grads = SeqGrads::zeroed();
    let y = *net.forward_train(&x, &mut cache);
    let mut dx = [[[0.0; 2]; 6]; CB];
    net.backward_to_input(&mut cache, &dy, &mut dx, &mut grads);
    assert_close(
        "train output",
        &flat(&y),
        &tensor(&io, "seq.train.output").1,
    );
    let theirs = shaped(&io, "seq.train.input_grad", &[CB, 2, 6]);
    assert_close(
        "input gradient",
        dx.as_flattened().as_flattened(),
        &channels_last(&theirs, CB, 2, 6),
    );
    let g = |name: &str| tensor(&io, &format!("seq.train.grad.{name}")).1;
    assert_close(
        "conv1d weight grad",
        grads.conv1d_0.weight.as_flattened().as_flattened(),
        &conv_weight_from_torch(&g("0.weight"), 3, 2, 3),
    );
    assert_close("conv1d bias grad", &grads.conv1d_0.bias, &g("0.bias"));
}

#[test]
fn keras_conv2d_and_batchnorm_are_reproduced() {
    let mut net = Cnn::new(&mut gradflow::rng(0));
    keras::import(&mut net, &fixture("keras_cnn_weights"), KERAS_CNN).unwrap();
    net.batchnorm_0.eps = keras::DEFAULT_EPSILON;
    net.batchnorm_0.momentum = keras::momentum(0.9);
    let io_bytes = fixture("keras_cnn_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let x = cnn_batch::<4>(&shaped(&io, "input", &[CB, 5, 4, 2]));
    let dy = conv_dy(&io);

    let y: [[f64; 2]; CB] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(&io, "eval.output").1);
    let (y, dx, grads) = cnn_train_step(&mut net, &x, &dy);
    assert_close("train output", &flat(&y), &tensor(&io, "train.output").1);
    assert_close("input gradient", &dx, &tensor(&io, "train.input_grad").1);
    let g = |name: &str| tensor(&io, &format!("train.grad.{name}")).1;
    assert_close(
        "conv kernel grad",
        grads
            .conv2d_0
            .weight
            .as_flattened()
            .as_flattened()
            .as_flattened(),
        &g("conv/kernel"),
    );
    assert_close("conv bias grad", &grads.conv2d_0.bias, &g("conv/bias"));
    assert_close("bn gamma grad", &grads.batchnorm_0.gamma, &g("bn/gamma"));
    assert_close("bn beta grad", &grads.batchnorm_0.beta, &g("bn/beta"));
    assert_close(
        "head kernel grad",
        &flat(&grads.dense_2.weight),
        &g("out/kernel"),
    );
}

// Standardization: the fixtures' `Standardize` module (PyTorch, buffers `mean` and `std`) and
// adapted `Normalization` (Keras), in front of Linear/Dense 3 -> 2 and tanh, fitted on
// features on scales 500, 0.01 and a constant.

network! {
    /// Standardize 3, Linear 3 -> 2, tanh: the standardization fixtures' model.
    pub struct Std<f64> {
        input 3,
        standardize,
        dense 2 [tanh],
    }
}

const TORCH_STD: &[(&str, &str)] = &[("standardize_0", "0"), ("dense_1", "1")];
const KERAS_STD: &[(&str, &str)] = &[("standardize_0", "norm"), ("dense_1", "out")];

/// The fixture's eval output, train output, input gradient and dense gradients (their
/// weight gradient as `[in, out]`), reproduced by `net`.
fn assert_reproduces_std(net: &mut Std, io: &SafeTensors<'_>, transposed_weight: bool) {
    let x = batch::<3>(io, "input");
    let dy = batch::<2>(io, "dy");
    let y: [[f64; 2]; B] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(io, "eval.output").1);
    let mut cache = StdCache::<B>::zeroed();
    let mut grads = StdGrads::zeroed();
    let y = *net.forward_train(&x, &mut cache);
    let mut dx = [[0.0; 3]; B];
    net.backward_to_input(&mut cache, &dy, &mut dx, &mut grads);
    assert_close("train output", &flat(&y), &tensor(io, "train.output").1);
    assert_close(
        "input gradient",
        &flat(&dx),
        &tensor(io, "train.input_grad").1,
    );
    let (weight, bias) = if transposed_weight {
        ("train.grad.1.weight", "train.grad.1.bias")
    } else {
        ("train.grad.out/kernel", "train.grad.out/bias")
    };
    let mut weight = tensor(io, weight).1;
    if transposed_weight {
        weight = transpose(&weight, 2, 3);
    }
    assert_close("dense weight grad", &flat(&grads.dense_1.weight), &weight);
    assert_close("dense bias grad", &grads.dense_1.bias, &tensor(io, bias).1);
}

/// The fit data of the standardization fixtures.
fn std_fit_data(io: &SafeTensors<'_>) -> Vec<[f64; 3]> {
    let (shape, v) = tensor(io, "fit");
    assert_eq!(shape, [20, 3]);
    v.chunks_exact(3).map(|r| [r[0], r[1], r[2]]).collect()
}

#[test]
fn pytorch_standardize_is_reproduced_and_fits_as_numpy() {
    let mut net = Std::new(&mut gradflow::rng(0));
    pytorch::import(&mut net, &fixture("torch_std_weights"), TORCH_STD).unwrap();
    let io_bytes = fixture("torch_std_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    assert_reproduces_std(&mut net, &io, true);
    // `Standardize::fit` finds numpy's mean and population standard deviation, and 1 for the
    // constant feature, as the fixture's buffers hold.
    let mut fitted = net.standardize_0.clone();
    fitted.fit(&std_fit_data(&io));
    assert_close("fitted mean", &fitted.mean, &net.standardize_0.mean);
    assert_close("fitted std", &fitted.std, &net.standardize_0.std);
    assert_eq!(net.standardize_0.std[2], 1.0);
    // Exported again: the same tensors as the file PyTorch wrote.
    let bytes = pytorch::export(&net, TORCH_STD).unwrap();
    let (ours, theirs) = (fixture("torch_std_weights"), bytes);
    let (ours, theirs) = (
        SafeTensors::deserialize(&ours).unwrap(),
        SafeTensors::deserialize(&theirs).unwrap(),
    );
    let mut names = ours.names();
    names.sort_unstable();
    let mut exported = theirs.names();
    exported.sort_unstable();
    assert_eq!(names, exported);
    for name in names {
        assert_eq!(tensor(&ours, name), tensor(&theirs, name), "{name}");
    }
}

#[test]
fn keras_normalization_is_reproduced_with_its_epsilon() {
    let mut net = Std::new(&mut gradflow::rng(0));
    keras::import(&mut net, &fixture("keras_std_weights"), KERAS_STD).unwrap();
    let io_bytes = fixture("keras_std_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    // Keras' variance of the constant feature is 0, and it divides by 1e-7 there: so does the
    // imported layer, and its input gradient for that feature is in the millions, as Keras'.
    assert_eq!(net.standardize_0.std[2], keras::NORMALIZATION_EPSILON);
    assert!(tensor(&io, "train.input_grad").1[2].abs() > 1e5);
    assert_reproduces_std(&mut net, &io, false);
    // Keras adapts to the population variance: the square of what `fit` finds.
    let mut fitted = net.standardize_0.clone();
    fitted.fit(&std_fit_data(&io));
    assert_close("fitted mean", &fitted.mean, &net.standardize_0.mean);
    assert_close("fitted std", &fitted.std[..2], &net.standardize_0.std[..2]);

    // Export writes the variance and a zero `count`; importing it gives the same layer back.
    let mut fitted_net = Std::new(&mut gradflow::rng(1));
    fitted_net.standardize_0 = fitted;
    let bytes = keras::export(&fitted_net, KERAS_STD).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let reference_bytes = fixture("keras_std_weights");
    let reference = SafeTensors::deserialize(&reference_bytes).unwrap();
    let (mut names, mut reference_names) = (file.names(), reference.names());
    names.sort_unstable();
    reference_names.sort_unstable();
    assert_eq!(names, reference_names);
    let variance = tensor(&file, "norm/variance").1;
    let std = &fitted_net.standardize_0.std;
    assert_eq!(variance, [std[0] * std[0], std[1] * std[1], 1.0]);
    let count = file.tensor("norm/count").unwrap();
    assert_eq!(
        (count.dtype(), count.shape(), count.data()),
        (safetensors::Dtype::I64, &[][..], &[0u8; 8][..])
    );
    let mut back = Std::new(&mut gradflow::rng(2));
    keras::import(&mut back, &bytes, KERAS_STD).unwrap();
    assert_eq!(back.standardize_0, fitted_net.standardize_0);
    assert_eq!(back.dense_1.weight, fitted_net.dense_1.weight);
}

#[test]
fn standardize_interop_refuses_what_the_framework_would_compute_differently() {
    let mut net = Std::new(&mut gradflow::rng(3));
    // A std below Keras' 1e-7 floor (gradflow accepts down to MIN_STD, 1.2e-38).
    net.standardize_0.std = [1.0, 1e-9, 2.0];
    let err = keras::export(&net, KERAS_STD).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Mapping { name, .. } if name == "standardize_0.std"),
        "{err}"
    );
    assert!(err.to_string().contains("below the 1e-7"), "{err}");
    // PyTorch divides by whatever `std` holds: exported as is.
    let bytes = pytorch::export(&net, TORCH_STD).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(tensor(&file, "0.std").1, [1.0, 1e-9, 2.0]);

    // A negative Keras variance, or a PyTorch std of 0, is refused on import, naming the
    // tensor, and the network is unchanged.
    let before = gradflow::weights::to_bytes(&net).unwrap();
    let mut good = Std::new(&mut gradflow::rng(4));
    good.standardize_0.std = [1.0, 2.0, 3.0];
    let mut keras_file = keras::export(&good, KERAS_STD).unwrap();
    let mut torch_file = pytorch::export(&good, TORCH_STD).unwrap();
    for (file, name, value) in [
        (&mut keras_file, "norm/variance", -4.0f64),
        (&mut torch_file, "0.std", 0.0),
    ] {
        let header = SafeTensors::deserialize(file).unwrap();
        let view = header.tensor(name).unwrap();
        let data = view.data();
        let at = data.as_ptr() as usize - file.as_ptr() as usize;
        drop(header);
        file[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
    }
    let err = keras::import(&mut net, &keras_file, KERAS_STD).unwrap_err();
    assert!(
        matches!(&err, WeightsError::OutOfDomain { name, index: 1, .. } if name == "norm/variance"),
        "{err}"
    );
    let err = pytorch::import(&mut net, &torch_file, TORCH_STD).unwrap_err();
    assert!(
        matches!(&err, WeightsError::OutOfDomain { name, index: 1, .. } if name == "0.std"),
        "{err}"
    );
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
}

// A convolution flattened into batchnorm and a dense layer: PyTorch flattens its [c, h, w]
// maps channel-first, gradflow its [h, w, c] maps position-first, and the PyTorch mapping
// reorders the features of the layers that index them.

network! {
    /// Conv2d 2 -> 3 (3x3 same), tanh, Flatten, BatchNorm1d(36), Linear 36 -> 2.
    pub struct Flat<f64> {
        input [4, 3, 2],
        conv2d 3 k3 same [tanh],
        flatten,
        batchnorm,
        dense 2,
    }
}

const TORCH_FLAT: &[(&str, &str)] = &[("conv2d_0", "0"), ("batchnorm_2", "3"), ("dense_3", "4")];

/// PyTorch's index of gradflow's flattened feature `o` (12 positions of 3 channels).
fn torch_feature(o: usize) -> usize {
    (o % 3) * 12 + o / 3
}

/// `values` indexed by PyTorch's flattened features (rows of `row`), in gradflow's order.
fn from_torch_features(values: &[f64], row: usize) -> Vec<f64> {
    (0..36)
        .flat_map(|o| values[torch_feature(o) * row..][..row].iter().copied())
        .collect()
}

#[test]
fn pytorch_flatten_order_is_reproduced() {
    let mut net = Flat::new(&mut gradflow::rng(0));
    pytorch::import(&mut net, &fixture("torch_flat_weights"), TORCH_FLAT).unwrap();
    let io_bytes = fixture("torch_flat_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let x = images::<4, 3>(&channels_last(
        &shaped(&io, "input", &[B, 2, 4, 3]),
        B,
        2,
        12,
    ));
    let dy = batch::<2>(&io, "dy");

    let y: [[f64; 2]; B] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(&io, "eval.output").1);

    let mut cache = FlatCache::<B>::new_boxed();
    let mut grads = FlatGrads::zeroed();
    let y = *net.forward_train(&x, &mut cache);
    let mut dx = Box::new([[[[0.0; 2]; 3]; 4]; B]);
    net.backward_to_input(&mut cache, &dy, &mut dx, &mut grads);
    assert_close("train output", &flat(&y), &tensor(&io, "train.output").1);
    assert_close(
        "input gradient",
        dx.as_flattened().as_flattened().as_flattened(),
        &channels_last(&tensor(&io, "train.input_grad").1, B, 2, 12),
    );
    let g = |name: &str| tensor(&io, &format!("train.grad.{name}")).1;
    assert_close(
        "conv weight grad",
        &flat(grads.conv2d_0.weight.as_flattened().as_flattened()),
        &conv_weight_from_torch(&g("0.weight"), 3, 2, 9),
    );
    assert_close(
        "batchnorm gamma grad",
        &grads.batchnorm_2.gamma,
        &from_torch_features(&g("3.weight"), 1),
    );
    // Linear's weight gradient is [out, in]: [in, out] with `in` in PyTorch's order.
    assert_close(
        "dense weight grad",
        &flat(&grads.dense_3.weight),
        &from_torch_features(&transpose(&g("4.weight"), 2, 36), 2),
    );
    assert_close("dense bias grad", &grads.dense_3.bias, &g("4.bias"));
    for (ours, theirs) in [
        (&net.batchnorm_2.running_mean, "train.3.running_mean"),
        (&net.batchnorm_2.running_var, "train.3.running_var"),
    ] {
        assert_close(
            theirs,
            ours,
            &from_torch_features(&tensor(&io, theirs).1, 1),
        );
    }

    // Exported again (before the step changed the running statistics): PyTorch's own file.
    let mut fresh = Flat::new(&mut gradflow::rng(0));
    pytorch::import(&mut fresh, &fixture("torch_flat_weights"), TORCH_FLAT).unwrap();
    let bytes = pytorch::export(&fresh, TORCH_FLAT).unwrap();
    let exported = SafeTensors::deserialize(&bytes).unwrap();
    let reference = fixture("torch_flat_weights");
    let reference = SafeTensors::deserialize(&reference).unwrap();
    for name in reference.names() {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        assert_eq!(tensor(&exported, name), tensor(&reference, name), "{name}");
    }
    // Keras flattens channels-last maps as gradflow does: no reordering.
    let keras_file = keras::export(
        &fresh,
        &[("conv2d_0", "c"), ("batchnorm_2", "b"), ("dense_3", "d")],
    )
    .unwrap();
    let keras_file = SafeTensors::deserialize(&keras_file).unwrap();
    assert_eq!(
        tensor(&keras_file, "d/kernel").1,
        flat(&fresh.dense_3.weight)
    );
}

network! {
    /// A residual block that takes the flattened features itself.
    pub struct FlatResidual<f32> {
        input [2, 2, 3],
        flatten,
        residual { dense 12 [relu] },
        dense 2,
    }
}

network! {
    /// A residual block after the first dense layer behind `flatten`, of the same width.
    pub struct FlatThenResidual<f64> {
        input [2, 2, 3],
        flatten,
        dense 12 [relu],
        residual { dense 12 [relu] },
        dense 2,
    }
}

/// A residual block that reads the first dense layer's outputs (not the flattened
/// features), even of the flattened width, exports; the first dense layer's weight is
/// reordered, the residual body's is not.
#[test]
fn pytorch_mapping_accepts_a_residual_block_after_the_first_dense() {
    let net = FlatThenResidual::new(&mut gradflow::rng(0));
    let names = [("dense_1", "fc"), ("dense_2", "block"), ("dense_4", "head")];
    let bytes = pytorch::export(&net, &names).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let fc = tensor(&file, "fc.weight").1;
    // Torch feature c * 4 + s is gradflow's s * 3 + c (4 positions of 3 channels).
    assert_eq!(fc[5 * 12 + (2 * 4 + 1)], net.dense_1.weight[3 + 2][5]);
    let block = tensor(&file, "block.weight").1;
    assert_eq!(block, transpose(&flat(&net.dense_2.weight), 12, 12));
    let mut back = FlatThenResidual::new(&mut gradflow::rng(1));
    pytorch::import(&mut back, &bytes, &names).unwrap();
    assert_eq!(back.dense_1, net.dense_1);
    assert_eq!(back.dense_2, net.dense_2);
}

#[test]
fn pytorch_mapping_refuses_a_residual_block_on_flattened_features() {
    let net = FlatResidual::new(&mut gradflow::rng(0));
    let names = [("dense_1", "1"), ("dense_3", "3")];
    let err = pytorch::export(&net, &names).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Mapping { name, .. } if name == "residual_2"),
        "{err}"
    );
    assert!(err.to_string().contains("channel-first"), "{err}");
    // Keras orders the features as gradflow does.
    keras::export(&net, &names).unwrap();
}

network! {
    /// Residual blocks with projections: a 1x1 strided convolution, then a dense one.
    pub struct Projected<f32> {
        input [4, 4, 2],
        residual(project) { conv2d 5 k3 s2 same [relu] },
        global_avg_pool,
        residual(project) { dense 6 [relu] },
        dense 2,
    }
}

network! {
    /// A residual block with a 1-wide conv1d projection.
    pub struct ProjectedSeq<f32> {
        input [6, 2],
        residual(project) { conv1d 5 k3 same [relu] },
        global_avg_pool,
        dense 2,
    }
}

/// A safetensors tensor of f32 values.
fn f32_tensor(file: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let view = file.tensor(name).unwrap();
    let values = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (view.shape().to_vec(), values)
}

#[test]
fn residual_projections_map_as_linear_and_1x1_convolutions() {
    let net = Projected::new(&mut gradflow::rng(8));
    let names = [
        ("conv2d_0", "body1.conv"),
        ("residual_1", "block1.skip"),
        ("dense_3", "block2.fc"),
        ("residual_4", "block2.skip"),
        ("dense_5", "head"),
    ];
    let bytes = pytorch::export(&net, &names).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    // Conv2d(2, 5, 1, stride=2).weight is [5, 2, 1, 1]; Linear(5, 6).weight is [6, 5].
    let (shape, conv) = f32_tensor(&file, "block1.skip.weight");
    assert_eq!(shape, [5, 2, 1, 1]);
    assert_eq!(conv[3 * 2 + 1], net.residual_1.weight[0][0][1][3]);
    let (shape, linear) = f32_tensor(&file, "block2.skip.weight");
    assert_eq!(shape, [6, 5]);
    assert_eq!(linear[4 * 5 + 2], net.residual_4.weight[2][4]);
    assert_eq!(f32_tensor(&file, "block2.skip.bias").1, net.residual_4.bias);
    for (framework, bytes) in [
        ("pytorch", bytes),
        ("keras", keras::export(&net, &names).unwrap()),
    ] {
        let mut back = Projected::new(&mut gradflow::rng(9));
        if framework == "pytorch" {
            pytorch::import(&mut back, &bytes, &names).unwrap();
        } else {
            keras::import(&mut back, &bytes, &names).unwrap();
        }
        assert_eq!(back.residual_1, net.residual_1, "{framework}");
        assert_eq!(back.residual_4, net.residual_4, "{framework}");
    }

    let seq = ProjectedSeq::new(&mut gradflow::rng(10));
    let names = [
        ("conv1d_0", "conv"),
        ("residual_1", "skip"),
        ("dense_3", "fc"),
    ];
    let bytes = pytorch::export(&seq, &names).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, conv) = f32_tensor(&file, "skip.weight");
    assert_eq!(shape, [5, 2, 1]);
    assert_eq!(conv[4 * 2 + 1], seq.residual_1.weight[0][1][4]);
    let mut back = ProjectedSeq::new(&mut gradflow::rng(11));
    pytorch::import(&mut back, &bytes, &names).unwrap();
    assert_eq!(back.residual_1, seq.residual_1);
}

#[test]
fn import_refuses_two_layers_mapped_to_one_module() {
    network! {
        pub struct Two<f32> {
            input 4,
            dense 4 [relu],
            dense 4,
        }
    }
    let source = Two::new(&mut gradflow::rng(1));
    let file = pytorch::export(&source, &[("dense_0", "a"), ("dense_1", "b")]).unwrap();
    let mut net = Two::new(&mut gradflow::rng(2));
    let before = gradflow::weights::to_bytes(&net).unwrap();
    for err in [
        pytorch::import(&mut net, &file, &[("dense_0", "a"), ("dense_1", "a")]),
        keras::import(&mut net, &file, &[("dense_0", "a"), ("dense_1", "a")]),
    ]
    .map(Result::unwrap_err)
    {
        assert!(
            matches!(&err, WeightsError::Mapping { name, .. } if name == "dense_1"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("gradflow layers `dense_0` and `dense_1` one"),
            "{err}"
        );
    }
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
}

// Keras' `padding="same"` with stride 2 on even sizes pads 0 before and 1 after; gradflow's
// `same` pads `K / 2` on both sides, as PyTorch's `padding=K//2`. The Keras model that computes
// what gradflow does has `ZeroPadding2D(1)` and `padding="valid"` (README, "PyTorch and Keras").

network! {
    /// Conv2d 2 -> 3, 3x3, stride 2, `same`, on 6x4 images, tanh, flatten, dense 18 -> 2.
    pub struct Strided<f64> {
        input [6, 4, 2],
        conv2d 3 k3 s2 same [tanh],
        flatten,
        dense 2,
    }
}

#[test]
fn a_strided_same_convolution_is_keras_zero_padding_then_valid() {
    let mut net = Strided::new(&mut gradflow::rng(0));
    let mapping = &[("conv2d_0", "conv"), ("dense_2", "out")];
    keras::import(&mut net, &fixture("keras_strided_weights"), mapping).unwrap();
    let io_bytes = fixture("keras_strided_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let mut x = [[[[0.0; 2]; 4]; 6]; CB];
    let input = shaped(&io, "input", &[CB, 6, 4, 2]);
    x.as_flattened_mut()
        .as_flattened_mut()
        .as_flattened_mut()
        .copy_from_slice(&input);
    let dy = conv_dy(&io);

    let y: [[f64; 2]; CB] = net.forward(&x);
    assert_close("eval output", &flat(&y), &tensor(&io, "eval.output").1);
    let same = tensor(&io, "same.eval.output").1;
    let apart = flat(&y)
        .iter()
        .zip(&same)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        apart > 0.1,
        "Keras' padding=\"same\" differs by only {apart}"
    );

    let mut cache = StridedCache::<CB>::zeroed();
    let mut grads = StridedGrads::zeroed();
    let y = *net.forward_train(&x, &mut cache);
    let mut dx = [[[[0.0; 2]; 4]; 6]; CB];
    net.backward_to_input(&mut cache, &dy, &mut dx, &mut grads);
    assert_close("train output", &flat(&y), &tensor(&io, "train.output").1);
    let dx = dx.as_flattened().as_flattened().as_flattened();
    assert_close("input gradient", dx, &tensor(&io, "train.input_grad").1);
    let g = |name: &str| tensor(&io, &format!("train.grad.{name}")).1;
    let kernel = grads
        .conv2d_0
        .weight
        .as_flattened()
        .as_flattened()
        .as_flattened();
    assert_close("conv kernel grad", kernel, &g("conv/kernel"));
    assert_close("conv bias grad", &grads.conv2d_0.bias, &g("conv/bias"));
    assert_close(
        "head kernel grad",
        &flat(&grads.dense_2.weight),
        &g("out/kernel"),
    );
    assert_close("head bias grad", &grads.dense_2.bias, &g("out/bias"));
}

/// Declares a fixture's network twice: in f64, compared with PyTorch's float64 results almost
/// exactly, and in f32 (`<name>32`), which runs gradflow's f32 kernels and is compared within
/// what float32 keeps.
macro_rules! fixture_network {
    ($(#[$attr:meta])* $name:ident, $name32:ident { $($body:tt)* }) => {
        network! { $(#[$attr])* pub struct $name<f64> { $($body)* } }
        network! { $(#[$attr])* pub struct $name32<f32> { $($body)* } }
    };
}

fixture_network! {
    /// The residual MLP of `residual()` in make_fixtures.py: an identity block with batchnorm
    /// and a projection block, trained on softmax cross-entropy.
    ResMlp, ResMlp32 {
        input 4,
        dense 6 [relu],
        residual { dense 6 [batchnorm, relu], dense 6 [batchnorm] } relu,
        residual(project) { dense 5 [sigmoid], dense 5 } tanh,
        dense 3,
    }
}

fixture_network! {
    /// The residual CNN of `residual()` in make_fixtures.py, trained on mean squared error.
    ResCnn, ResCnn32 {
        input [6, 6, 2],
        conv2d 4 k3 same [relu],
        maxpool 2,
        residual { conv2d 4 k3 same [batchnorm, relu], conv2d 4 k3 same [batchnorm] } relu,
        residual(project) { conv2d 5 k3 same [sigmoid], conv2d 5 k3 same } tanh,
        global_avg_pool,
        dense 2,
    }
}

const TORCH_RES_MLP: &[(&str, &str)] = &[
    ("dense_0", "0"),
    ("dense_1", "2.f1"),
    ("batchnorm_1", "2.bn1"),
    ("dense_2", "2.f2"),
    ("batchnorm_2", "2.bn2"),
    ("dense_4", "3.f1"),
    ("dense_5", "3.f2"),
    ("residual_6", "3.proj"),
    ("dense_7", "4"),
];

const TORCH_RES_CNN: &[(&str, &str)] = &[
    ("conv2d_0", "cnn.0"),
    ("conv2d_2", "cnn.3.f1"),
    ("batchnorm_2", "cnn.3.bn1"),
    ("conv2d_3", "cnn.3.f2"),
    ("batchnorm_3", "cnn.3.bn2"),
    ("conv2d_5", "cnn.4.f1"),
    ("conv2d_6", "cnn.4.f2"),
    ("residual_7", "cnn.4.proj"),
    ("dense_9", "cnn.7"),
];

/// A batch of `B` two-channel `H x W` images from channels-last values.
fn images<const H: usize, const W: usize>(values: &[f64]) -> Box<[[[[f64; 2]; W]; H]; B]> {
    let mut x = Box::new([[[[0.0; 2]; W]; H]; B]);
    x.as_flattened_mut()
        .as_flattened_mut()
        .as_flattened_mut()
        .copy_from_slice(values);
    x
}

/// Every tensor of `net`, by its PyTorch name, as `pytorch::export` writes it.
fn torch_tensors<T: Scalar, N: Network<T>>(
    net: &N,
    names: &[(&str, &str)],
) -> std::collections::BTreeMap<String, Vec<f64>> {
    let bytes = pytorch::export(net, names).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.names()
        .into_iter()
        .filter(|name| !name.ends_with("num_batches_tracked"))
        .map(|name| {
            let view = file.tensor(name).unwrap();
            let values = match view.dtype() {
                safetensors::Dtype::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(view.data())
                    .into_iter()
                    .map(f64::from)
                    .collect(),
                _ => tensor(&file, name).1,
            };
            (name.to_string(), values)
        })
        .collect()
}

/// A PyTorch float64 safetensors file with every float64 tensor rounded to float32, for an
/// f32 network to import (other tensors, `num_batches_tracked`, as they are).
fn as_f32_file(bytes: &[u8]) -> Vec<u8> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| match view.dtype() {
            safetensors::Dtype::F64 => {
                let values = tensor(&file, &name).1;
                let data = values
                    .iter()
                    .flat_map(|&v| (v as f32).to_le_bytes())
                    .collect();
                (name, safetensors::Dtype::F32, view.shape().to_vec(), data)
            }
            dtype => (name, dtype, view.shape().to_vec(), view.data().to_vec()),
        })
        .collect();
    let views = tensors.iter().map(|(name, dtype, shape, data)| {
        let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap();
        (name.as_str(), view)
    });
    safetensors::serialize(views, None).unwrap()
}

/// Checks a train-mode step against the fixture's entries under `prefix`: every parameter's
/// gradient, in PyTorch's names and layouts, and every running statistic after the step.
/// The gradients are read back through the exporter, as the difference one plain SGD step of
/// learning rate 1 makes (`w - (w - g)`), so each is compared in PyTorch's own layout.
fn assert_step_matches<T: Scalar, N>(
    net: &mut N,
    grads: &N::Grads,
    names: &[(&str, &str)],
    io: &SafeTensors<'_>,
    prefix: &str,
    tol: f64,
) where
    N: TrainableNetwork<T>,
{
    let before = torch_tensors(net, names);
    let mut sgd = Sgd::new(SgdConfig::new(1.0)).unwrap();
    assert!(sgd.step(net, grads).applied);
    let after = torch_tensors(net, names);
    let mut compared = 0;
    for key in io.names() {
        // The fixture names a tensor as the model's `named_parameters` do, without `prefix`.
        if let Some(param) = key.strip_prefix(&format!("{prefix}train.grad.")) {
            let param = &format!("{prefix}{param}");
            let ours: Vec<f64> = before[param]
                .iter()
                .zip(&after[param])
                .map(|(w, v)| w - v)
                .collect();
            assert_within(key, &ours, &tensor(io, key).1, tol);
            compared += 1;
        } else if key.starts_with(&format!("{prefix}train.")) && key.contains("running") {
            let param = &format!("{prefix}{}", &key[prefix.len() + "train.".len()..]);
            assert_within(key, &before[param], &tensor(io, key).1, tol);
            compared += 1;
        }
    }
    // Every tensor the export names (weights, biases, gamma, beta, running statistics).
    assert_eq!(compared, before.len(), "{prefix}: {:?}", before.keys());
}

fixture_network! {
    /// The activations network of `strided()` in make_fixtures.py.
    ActMlp, ActMlp32 {
        input 5,
        dense 7 [gelu],
        dense 7 [leaky_relu],
        dense 4 [sigmoid],
        dense 3,
    }
}

fixture_network! {
    /// The strided 2-D network of `strided()` in make_fixtures.py.
    ActCnn, ActCnn32 {
        input [9, 9, 2],
        conv2d 3 k3 s2 valid [gelu],
        avgpool k3 s1,
        global_avg_pool,
        dense 2,
    }
}

fixture_network! {
    /// The strided 1-D network of `strided()` in make_fixtures.py.
    ActSeq, ActSeq32 {
        input [9, 2],
        conv1d 3 k3 s2 valid [leaky_relu],
        avgpool 2,
        tanh,
        global_avg_pool,
        dense 2,
    }
}

const TORCH_ACT_MLP: &[(&str, &str)] = &[
    ("dense_0", "0"),
    ("dense_1", "2"),
    ("dense_2", "4"),
    ("dense_3", "6"),
];
const TORCH_ACT_CNN: &[(&str, &str)] = &[("conv2d_0", "cnn.0"), ("dense_3", "cnn.5")];
const TORCH_ACT_SEQ: &[(&str, &str)] = &[("conv1d_0", "seq.0"), ("dense_4", "seq.6")];

/// Float64 against float64, with only the order of the sums differing: differences are about
/// 1e-16. (1e-5 let the tanh approximation of GELU pass for the exact one in the MLP.)
const STEP_TOL: f64 = 1e-10;

/// The loss a fixture's step trained on.
#[derive(Clone, Copy)]
enum Loss {
    /// Softmax cross-entropy (mean) against `<prefix>labels`.
    CrossEntropy,
    /// Mean squared error (mean) against `<prefix>targets`.
    Mse,
}

/// Reproduces one PyTorch step of a fixture's entries under `prefix`: the eval-mode output,
/// the train-mode output, the loss, the input gradient (PyTorch's input and its gradient moved
/// channels-last) and, through [`assert_step_matches`], every gradient and running statistic.
fn assert_loss_step<T, N, const O: usize>(
    mut net: N,
    names: &[(&str, &str)],
    io: &SafeTensors<'_>,
    prefix: &str,
    loss: Loss,
    tol: f64,
) where
    T: Scalar + bytemuck::Pod,
    N: TrainableNetwork<T, Output = [T; O]>,
    N::Input: bytemuck::Pod,
{
    let to_f64 = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
    let channels_last_entry = |name: &str| {
        let (shape, v) = tensor(io, &format!("{prefix}{name}"));
        let (c, len) = match shape[..] {
            [_, n] => (1, n),
            [_, c, ..] => (c, shape[2..].iter().product()),
            _ => panic!("{name}: shape {shape:?}"),
        };
        channels_last(&v, B, c, len)
    };
    let x: Vec<T> = channels_last_entry("input")
        .into_iter()
        .map(T::from_f64)
        .collect();
    let x: Box<[N::Input; B]> = bytemuck::cast_slice(&x)
        .to_vec()
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("{prefix}input: not a batch of {B}"));
    let expected = |name: &str| tensor(io, &format!("{prefix}{name}")).1;

    let mut y = [[T::ZERO; O]; B];
    net.forward_into(&x, &mut y);
    assert_within(
        &format!("{prefix}eval output"),
        &to_f64(y.as_flattened()),
        &expected("eval.output"),
        tol,
    );

    let mut cache = bytemuck::allocation::zeroed_box::<N::Cache<B>>();
    let mut grads: N::Grads = bytemuck::Zeroable::zeroed();
    let y = *net.forward_train(&x, &mut cache);
    assert_within(
        &format!("{prefix}train output"),
        &to_f64(y.as_flattened()),
        &expected("train.output"),
        tol,
    );
    let mut dy = [[T::ZERO; O]; B];
    let value = match loss {
        Loss::CrossEntropy => {
            let v = expected("labels");
            let labels: [usize; B] = core::array::from_fn(|b| v[b] as usize);
            gradflow::nn::loss::softmax_cross_entropy(&y, &labels, &mut dy).unwrap()
        }
        Loss::Mse => {
            let v = expected("targets");
            let targets: [[T; O]; B] =
                core::array::from_fn(|b| core::array::from_fn(|o| T::from_f64(v[b * O + o])));
            gradflow::nn::loss::mse(&y, &targets, &mut dy)
        }
    };
    assert_within(
        &format!("{prefix}loss"),
        &[value.to_f64()],
        &expected("train.loss"),
        tol,
    );
    let mut dx = bytemuck::allocation::zeroed_box::<[N::Input; B]>();
    net.backward_into(&mut cache, &dy, Some(&mut dx), &mut grads);
    assert_within(
        &format!("{prefix}input gradient"),
        &to_f64(bytemuck::cast_slice(&dx[..])),
        &channels_last_entry("train.input_grad"),
        tol,
    );
    assert_step_matches(&mut net, &grads, names, io, prefix, tol);
}

/// One network's PyTorch step: its weights file, the file of its inputs and results, the
/// mapping, the prefix of its entries and the loss it trained on.
struct Fixture {
    weights: &'static str,
    io: &'static str,
    names: &'static [(&'static str, &'static str)],
    prefix: &'static str,
    loss: Loss,
}

const RES_MLP: Fixture = Fixture {
    weights: "torch_res_weights",
    io: "torch_res_io",
    names: TORCH_RES_MLP,
    prefix: "",
    loss: Loss::CrossEntropy,
};
const RES_CNN: Fixture = Fixture {
    weights: "torch_res_cnn_weights",
    io: "torch_res_io",
    names: TORCH_RES_CNN,
    prefix: "cnn.",
    loss: Loss::Mse,
};
const ACT_MLP: Fixture = Fixture {
    weights: "torch_act_weights",
    io: "torch_act_io",
    names: TORCH_ACT_MLP,
    prefix: "",
    loss: Loss::CrossEntropy,
};
const ACT_CNN: Fixture = Fixture {
    weights: "torch_act_cnn_weights",
    io: "torch_act_io",
    names: TORCH_ACT_CNN,
    prefix: "cnn.",
    loss: Loss::Mse,
};
const ACT_SEQ: Fixture = Fixture {
    weights: "torch_act_seq_weights",
    io: "torch_act_io",
    names: TORCH_ACT_SEQ,
    prefix: "seq.",
    loss: Loss::Mse,
};

/// Imports the fixture's weights into `net` (rounded to f32 for an f32 network) and checks
/// its step with [`assert_loss_step`].
fn assert_reproduces<T, N, const O: usize>(mut net: N, f: &Fixture, tol: f64)
where
    T: Scalar + bytemuck::Pod,
    N: TrainableNetwork<T, Output = [T; O]>,
    N::Input: bytemuck::Pod,
{
    let mut weights = fixture(f.weights);
    if core::mem::size_of::<T>() == 4 {
        weights = as_f32_file(&weights);
    }
    pytorch::import(&mut net, &weights, f.names).unwrap();
    let io_bytes = fixture(f.io);
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    assert_loss_step(net, f.names, &io, f.prefix, f.loss, tol);
}

#[test]
fn pytorch_residual_mlp_loss_and_gradients_are_reproduced() {
    assert_reproduces(ResMlp::new(&mut gradflow::rng(0)), &RES_MLP, STEP_TOL);
}

#[test]
fn pytorch_residual_cnn_with_max_pooling_is_reproduced() {
    assert_reproduces(ResCnn::new(&mut gradflow::rng(0)), &RES_CNN, STEP_TOL);
}

#[test]
fn pytorch_gelu_leaky_relu_and_sigmoid_are_reproduced() {
    assert_reproduces(ActMlp::new(&mut gradflow::rng(0)), &ACT_MLP, STEP_TOL);
}

#[test]
fn pytorch_strided_valid_conv2d_and_average_pooling_are_reproduced() {
    assert_reproduces(ActCnn::new(&mut gradflow::rng(0)), &ACT_CNN, STEP_TOL);
}

#[test]
fn pytorch_strided_valid_conv1d_and_average_pooling_are_reproduced() {
    assert_reproduces(ActSeq::new(&mut gradflow::rng(0)), &ACT_SEQ, STEP_TOL);
}

/// Steps of the training fixture (`training()` in make_fixtures.py).
const STEPS: usize = 4;

/// Runs the training fixture's four steps on the residual MLP with `opt` and compares each
/// step's gradient norm and the network after them (every weight, bias, gamma, beta and
/// running statistic) with PyTorch's `<name>.` entries. Float64 on both sides: only the
/// order of the sums differs, so the tolerance is 1e-9, where a misplaced `eps` or a decay
/// applied before clipping rather than after would show.
fn assert_training_matches<O: Optimizer<f64, ResMlp>>(
    mut opt: O,
    io: &SafeTensors<'_>,
    name: &str,
) {
    let mut net = ResMlp::new(&mut gradflow::rng(0));
    pytorch::import(&mut net, &fixture("torch_res_weights"), TORCH_RES_MLP).unwrap();
    let xs = shaped(io, "inputs", &[STEPS, B, 4]);
    let labels = shaped(io, "labels", &[STEPS, B]);
    let norms = shaped(io, &format!("{name}.norms"), &[STEPS]);
    let mut cache = ResMlpCache::<B>::new_boxed();
    for step in 0..STEPS {
        let x: [[f64; 4]; B] =
            core::array::from_fn(|b| core::array::from_fn(|f| xs[(step * B + b) * 4 + f]));
        let y: [usize; B] = core::array::from_fn(|b| labels[step * B + b] as usize);
        let out = *net.forward_train(&x, &mut cache);
        let mut dy = [[0.0; 3]; B];
        gradflow::nn::loss::softmax_cross_entropy(&out, &y, &mut dy).unwrap();
        let mut grads = ResMlpGrads::zeroed();
        net.backward(&mut cache, &dy, &mut grads);
        let outcome = opt.step(&mut net, &grads);
        assert!(outcome.applied, "{name} step {step}: {outcome:?}");
        assert_within(
            &format!("{name} step {step} norm"),
            &[outcome.grad_norm],
            &[norms[step]],
            1e-9,
        );
    }
    let ours = torch_tensors(&net, TORCH_RES_MLP);
    for (key, value) in &ours {
        assert_within(
            &format!("{name}.{key}"),
            value,
            &tensor(io, &format!("{name}.{key}")).1,
            1e-9,
        );
    }
    let theirs = io
        .names()
        .into_iter()
        .filter(|k| k.starts_with(&format!("{name}.")));
    assert_eq!(
        theirs.count(),
        ours.len() + 1,
        "{name}: every tensor and the norms"
    );
}

#[test]
fn four_pytorch_training_steps_with_sgd_and_adam_are_reproduced() {
    let io_bytes = fixture("torch_train_io");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let sgd = SgdConfig::new(0.1)
        .momentum(0.9)
        .nesterov(true)
        .weight_decay(1e-3)
        .clip_grad_norm(0.72);
    assert_training_matches(Sgd::new(sgd).unwrap(), &io, "sgd");
    let adam = AdamConfig::new(0.01)
        .betas(0.8, 0.99)
        .eps(1e-3)
        .weight_decay(1e-2)
        .clip_grad_norm(0.5);
    assert_training_matches(Adam::new(adam).unwrap(), &io, "adam");
}

fixture_network! {
    /// The CNN of `wide()` in make_fixtures.py: 16 and 32 channels, shapes that gradflow's f32
    /// convolution kernels take, and a strided `same` convolution with a strided projection.
    Wide, Wide32 {
        input [8, 8, 3],
        conv2d 16 k3 same [batchnorm, relu],
        residual { conv2d 16 k3 same [batchnorm, relu], conv2d 16 k3 same [batchnorm] } relu,
        conv2d 16 k3 s2 valid [relu],
        residual(project) { conv2d 32 k3 s2 same [sigmoid], conv2d 32 k3 same } tanh,
        global_avg_pool,
        dense 10,
    }
}

const TORCH_WIDE: &[(&str, &str)] = &[
    ("conv2d_0", "0"),
    ("batchnorm_0", "1"),
    ("conv2d_1", "3.f1"),
    ("batchnorm_1", "3.bn1"),
    ("conv2d_2", "3.f2"),
    ("batchnorm_2", "3.bn2"),
    ("conv2d_4", "4"),
    ("conv2d_5", "6.f1"),
    ("conv2d_6", "6.f2"),
    ("residual_7", "6.proj"),
    ("dense_9", "9"),
];

/// f32 networks against PyTorch's float64 results: weights and inputs rounded to f32, and
/// every sum taken in f32. The largest difference measured over all six networks is 1.7e-7
/// (a loss); a wrong kernel is off by the size of the values themselves (1e-3 to 1), and the
/// tanh approximation of GELU by 1e-5.
const F32_TOL: f64 = 2e-6;

#[test]
fn pytorch_wide_cnn_is_reproduced_in_f64_and_by_the_f32_kernels() {
    let wide = Fixture {
        weights: "torch_wide_weights",
        io: "torch_wide_io",
        names: TORCH_WIDE,
        prefix: "",
        loss: Loss::CrossEntropy,
    };
    assert_reproduces(Wide::new(&mut gradflow::rng(0)), &wide, STEP_TOL);
    assert_reproduces(Wide32::new(&mut gradflow::rng(0)), &wide, F32_TOL);
}

#[test]
fn f32_networks_reproduce_pytorch_within_float32_rounding() {
    assert_reproduces(ResMlp32::new(&mut gradflow::rng(0)), &RES_MLP, F32_TOL);
    assert_reproduces(ResCnn32::new(&mut gradflow::rng(0)), &RES_CNN, F32_TOL);
    assert_reproduces(ActMlp32::new(&mut gradflow::rng(0)), &ACT_MLP, F32_TOL);
    assert_reproduces(ActCnn32::new(&mut gradflow::rng(0)), &ACT_CNN, F32_TOL);
    assert_reproduces(ActSeq32::new(&mut gradflow::rng(0)), &ACT_SEQ, F32_TOL);
}
