//! The baked-weights layout and the memory-accounting consts of generated networks:
//! bytes written on the host read back identically (in place, and by the `const fn` that
//! builds a `static`), the layout is `visit_tensors` order, little-endian; and
//! `INFER_SCRATCH_BYTES` and `train_scratch_bytes` agree with the generated buffers.

use gradflow::network;
use gradflow::nn::{Network, TrainableNetwork};

network! {
    /// Every kind of stored tensor: a standardizer, dense layers, batchnorm with running
    /// statistics, a residual projection.
    pub struct Cured<f32> {
        input 6,
        standardize,
        dense 16 [he_init, batchnorm, relu],
        residual { dense 16 [he_init, batchnorm] } relu,
        residual(project) { dense 8 [he_init, relu] },
        dense 3,
    }
}

network! {
    /// Convolution, batchnorm over feature maps, pooling, flattening.
    pub struct SmallCnn<f64> {
        input [6, 6, 1],
        conv2d 2 k3 same [he_init, batchnorm, relu],
        maxpool 2,
        conv2d 3 k1,
        flatten,
        dense 4,
    }
}

network! {
    /// A plain MLP: no layer keeps a training cache of its own.
    pub struct Mlp<f32> { input 5, dense 7 [he_init, relu], dense 2 }
}

/// Every stored scalar of `net`, in `visit_tensors` order.
fn scalars<T: gradflow::nn::Scalar, N: Network<T>>(net: &N) -> Vec<T> {
    let mut all = Vec::new();
    net.visit_tensors(&mut |t| all.extend_from_slice(t.data));
    all
}

fn batch<const N: usize, const B: usize>() -> [[f32; N]; B] {
    core::array::from_fn(|b| core::array::from_fn(|i| ((b * N + i) as f32 * 0.37).sin()))
}

/// A trained-looking `Cured`: random weights, and running statistics moved off their
/// initial values by a few training-mode passes.
fn trained_cured(seed: u64) -> Cured {
    let mut net = Cured::new(&mut gradflow::rng(seed));
    let mut cache = CuredCache::<4>::zeroed();
    for _ in 0..3 {
        net.forward_train(&batch::<6, 4>(), &mut cache);
    }
    net
}

#[test]
fn bytes_are_the_visited_scalars_in_little_endian() {
    let net = trained_cured(1);
    let bytes = net.to_le_bytes();
    assert_eq!(bytes.len(), Cured::PARAM_BYTES);
    let expected: Vec<u8> = scalars(&net).iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(bytes, expected);

    let mut array = [0u8; Cured::PARAM_BYTES];
    net.write_le_bytes(&mut array);
    assert_eq!(array[..], bytes[..]);
}

#[test]
fn load_and_from_le_bytes_rebuild_the_same_network() {
    let net = trained_cured(2);
    let bytes: [u8; Cured::PARAM_BYTES] = net.to_le_bytes().try_into().unwrap();
    let x = batch::<6, 5>();

    let mut loaded = Cured::new(&mut gradflow::rng(99));
    assert_ne!(scalars(&loaded), scalars(&net));
    loaded.load_le_bytes(&bytes);
    assert_eq!(scalars(&loaded), scalars(&net));
    assert_eq!(loaded.forward(&x), net.forward(&x));

    let built = Cured::from_le_bytes(&bytes);
    assert_eq!(scalars(&built), scalars(&net));
    assert_eq!(built.forward(&x), net.forward(&x));
    // State that is not stored gets its default.
    assert_eq!(built.batchnorm_1, {
        let mut bn = net.batchnorm_1.clone();
        bn.eps = 1e-5;
        bn.momentum = 0.1;
        bn
    });
}

/// A zeroed network (`const_zeroed`, the no-heap way to hold one) has batchnorm `eps` and
/// `momentum` 0: loading baked bytes into it gives them the defaults, so it computes what
/// the saved network does and its running statistics move in training. Settings a network
/// was given are kept.
#[test]
fn loading_into_a_zeroed_network_gives_its_batchnorms_the_default_settings() {
    let net = trained_cured(4);
    let bytes: [u8; Cured::PARAM_BYTES] = net.to_le_bytes().try_into().unwrap();
    let x = batch::<6, 5>();
    let mut zeroed: Box<Cured> = Box::new(gradflow::nn::memory::const_zeroed());
    assert_eq!(
        (zeroed.batchnorm_1.eps, zeroed.batchnorm_1.momentum),
        (0.0, 0.0)
    );
    zeroed.load_le_bytes(&bytes);
    assert_eq!(
        (zeroed.batchnorm_1.eps, zeroed.batchnorm_1.momentum),
        (1e-5, 0.1)
    );
    assert_eq!(zeroed.forward(&x), Cured::from_le_bytes(&bytes).forward(&x));
    let before = zeroed.batchnorm_1.running_mean;
    let mut cache = CuredCache::<5>::zeroed();
    zeroed.forward_train(&x, &mut cache);
    assert_ne!(zeroed.batchnorm_1.running_mean, before);

    let mut tuned = Cured::new(&mut gradflow::rng(5));
    tuned.batchnorm_1.eps = 1e-3;
    tuned.batchnorm_1.momentum = 0.0;
    tuned.load_le_bytes(&bytes);
    assert_eq!(
        (tuned.batchnorm_1.eps, tuned.batchnorm_1.momentum),
        (1e-3, 0.0)
    );
}

#[test]
fn from_le_bytes_rebuilds_convolutions_pooling_and_f64() {
    let mut net = SmallCnn::new(&mut gradflow::rng(3));
    let x: [[[[f64; 1]; 6]; 6]; 2] = core::array::from_fn(|b| {
        core::array::from_fn(|h| core::array::from_fn(|w| [((b * 36 + h * 6 + w) as f64).cos()]))
    });
    let mut cache = SmallCnnCache::<2>::zeroed();
    net.forward_train(&x, &mut cache);
    let bytes: [u8; SmallCnn::PARAM_BYTES] = net.to_le_bytes().try_into().unwrap();
    let built = SmallCnn::from_le_bytes(&bytes);
    assert_eq!(scalars(&built), scalars(&net));
    assert_eq!(built.forward(&x), net.forward(&x));
}

/// Bytes whose scalar `i` is `i`, made at compile time.
const fn ramp<const BYTES: usize>() -> [u8; BYTES] {
    let mut out = [0u8; BYTES];
    let mut i = 0;
    while i < BYTES / 4 {
        let le = (i as f32).to_le_bytes();
        let mut j = 0;
        while j < 4 {
            out[4 * i + j] = le[j];
            j += 1;
        }
        i += 1;
    }
    out
}

/// Built by the compiler: no code runs to make it.
static RAMP: Cured = Cured::from_le_bytes(&ramp());

#[test]
fn a_static_built_at_compile_time_follows_the_visit_order() {
    let values = scalars(&RAMP);
    assert_eq!(values.len(), Cured::PARAM_COUNT);
    assert!(values.iter().enumerate().all(|(i, &v)| v == i as f32));
}

/// Inference's buffers are shared by outputs whose lifetimes do not overlap (an output lives
/// from its layer to its last reader), so the scratch is the outputs live at once, not all of
/// them.
#[test]
fn inference_scratch_is_the_outputs_live_at_once() {
    fn every_output_but_the_last<N: Network<f32>>() -> usize {
        let layers = N::LAYERS;
        let widths: usize = layers[..layers.len() - 1].iter().map(|l| l.outputs).sum();
        widths * size_of::<f32>()
    }
    // A chain: the output being written and the one it reads, 7 floats each.
    assert_eq!(Mlp::INFER_SCRATCH_BYTES, 2 * 7 * 4);
    assert_eq!(Mlp::INFER_SCRATCH_BYTES, every_output_but_the_last::<Mlp>());
    // Inside a residual block three are live: the block's input (read again by the add),
    // the body's last output and the one being written; the widest of them has 16 floats.
    // Before sharing, all 11 outputs (142 floats) were kept.
    assert_eq!(Cured::INFER_SCRATCH_BYTES, 3 * 16 * 4);
    // At batch b every buffer holds b samples.
    assert_eq!(Mlp::infer_scratch_bytes(1), Mlp::INFER_SCRATCH_BYTES);
    assert_eq!(Mlp::infer_scratch_bytes(16), 16 * 2 * 7 * 4);
    assert_eq!(Cured::infer_scratch_bytes(3), 3 * 3 * 16 * 4);
    assert_eq!(every_output_but_the_last::<Cured>(), 142 * 4);
    // An MLP's training cache at batch 1 holds the input, every layer's output (the
    // inference buffers and the last output) and the gradient of every output but the last
    // (the inference buffers again), and its `filled` flag, padded to the struct's alignment
    // (a cache line on x86_64 and aarch64, else the f32's).
    let cache_1 = size_of::<MlpCache<1>>();
    let (input, output) = (Mlp::INPUT * 4, Mlp::OUTPUT * 4);
    let unpadded = input + 2 * Mlp::INFER_SCRATCH_BYTES + output + 1;
    assert_eq!(
        cache_1,
        unpadded.next_multiple_of(core::mem::align_of::<MlpCache<1>>())
    );
}

#[test]
fn training_scratch_is_the_size_of_the_cache() {
    fn check<T: gradflow::nn::Scalar, N: TrainableNetwork<T>, const B: usize>(
        scratch: fn(usize) -> usize,
    ) {
        assert_eq!(scratch(B), size_of::<N::Cache<B>>(), "batch {B}");
    }
    check::<_, Cured, 1>(Cured::train_scratch_bytes);
    check::<_, Cured, 3>(Cured::train_scratch_bytes);
    check::<_, Cured, 32>(Cured::train_scratch_bytes);
    check::<_, Mlp, 7>(Mlp::train_scratch_bytes);
    check::<_, Mlp, 64>(Mlp::train_scratch_bytes);
    assert_eq!(
        SmallCnn::train_scratch_bytes(16),
        size_of::<SmallCnnCache<16>>()
    );
    // f64 arrays beside max-pooling's u32 indices (an odd number per sample): the cache has
    // 4 bytes of padding at odd batches, which the count includes.
    check::<_, Pooled64, 1>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 2>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 3>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 4>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 5>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 9>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 6>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 0>(Pooled64::train_scratch_bytes);
    check::<_, Mlp, 0>(Mlp::train_scratch_bytes);
    // Around and past the 16 batches the count starts from.
    check::<_, Mlp, 15>(Mlp::train_scratch_bytes);
    check::<_, Mlp, 16>(Mlp::train_scratch_bytes);
    check::<_, Mlp, 17>(Mlp::train_scratch_bytes);
    check::<_, Pooled64, 31>(Pooled64::train_scratch_bytes);
    check::<_, Pooled64, 33>(Pooled64::train_scratch_bytes);
    check::<_, Cured, 100>(Cured::train_scratch_bytes);
    // The case this covers: the size is not affine in the batch (the padding to the
    // struct's alignment differs from batch to batch).
    let sizes = [
        size_of::<Pooled64Cache<1>>(),
        size_of::<Pooled64Cache<2>>(),
        size_of::<Pooled64Cache<3>>(),
        size_of::<Pooled64Cache<4>>(),
        size_of::<Pooled64Cache<5>>(),
        size_of::<Pooled64Cache<6>>(),
    ];
    let steps: Vec<usize> = sizes.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().any(|&d| d != steps[0]), "{sizes:?}");
}

/// A batch whose buffers would not fit in `usize` reads as `usize::MAX`: a run-time budget
/// check must not pass because the product wrapped around.
#[test]
fn scratch_sizes_too_large_for_usize_saturate() {
    let wraps = usize::MAX / Mlp::INFER_SCRATCH_BYTES + 2;
    assert!(wraps.wrapping_mul(Mlp::INFER_SCRATCH_BYTES) < 4096);
    assert_eq!(Mlp::infer_scratch_bytes(wraps), usize::MAX);
    for batch in [usize::MAX, usize::MAX - 1, usize::MAX / 8, wraps] {
        assert_eq!(Mlp::train_scratch_bytes(batch), usize::MAX, "batch {batch}");
        assert_eq!(
            Pooled64::train_scratch_bytes(batch),
            usize::MAX,
            "batch {batch}"
        );
    }
    assert_eq!(Mlp::infer_scratch_bytes(16), 16 * Mlp::INFER_SCRATCH_BYTES);
}

network! {
    /// Three max-pooling outputs (three `u32` indices) per sample beside f64 buffers.
    pub struct Pooled64<f64> {
        input [6, 1],
        maxpool 2,
        flatten,
        dense 2,
    }
}

/// The README's budget assertion compiles when the network fits.
const _: () = assert!(Cured::PARAM_BYTES <= 64 * 1024);
const _: () = assert!(Cured::train_scratch_bytes(32) <= 256 * 1024);

network! {
    /// W4's 784-512-512-10: 2.7 MB of weights.
    pub struct Wide<f32> { input 784, dense 512 [relu], dense 512 [relu], dense 10 }
}

/// A big network built at compile time: `from_le_bytes` copies whole layers, so it stays far
/// from rustc's `long_running_const_eval` limit (a loop over 670,000 scalars trips it).
static WIDE: Wide = Wide::from_le_bytes(&[0; Wide::PARAM_BYTES]);

#[test]
fn a_big_network_is_built_at_compile_time() {
    assert_eq!(scalars(&WIDE).len(), Wide::PARAM_COUNT);
    assert!(scalars(&WIDE).iter().all(|&v| v == 0.0));
}
