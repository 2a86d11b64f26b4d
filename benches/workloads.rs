//! Criterion benches of the workloads in WORKLOADS.md, named after them so that figures line
//! up with the peer frameworks'. Run with `cargo bench --bench workloads`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gradflow::prelude::*;
use std::hint::black_box;

#[path = "common/workloads.rs"]
mod workloads;
use workloads::{ConvResidual, ConvResidualCache, ConvResidualGrads, DeepResidual};
use workloads::{DeepResidualCache, DeepResidualGrads, DigitsBn, DigitsBnCache, DigitsBnGrads};
use workloads::{Tiny, Wide, WideCache, WideGrads};

/// Deterministic inputs in [0, 1) for a batch of `B` samples of any shape.
fn inputs<X: bytemuck::Pod, const B: usize>(seed: u64) -> Box<[X; B]> {
    use rand::Rng as _;
    let mut rng = gradflow::rng(seed);
    let mut x = gradflow::nn::memory::zeroed_box::<[X; B]>();
    for v in bytemuck::cast_slice_mut::<X, f32>(&mut x[..]) {
        *v = rng.random();
    }
    x
}

fn w1_tiny_infer(c: &mut Criterion) {
    let net = Tiny::new(&mut gradflow::rng(1));
    let x = inputs::<[f32; 16], 1>(2);
    c.bench_function("W1 tiny-infer", |b| {
        b.iter(|| black_box(net.forward(black_box(&x))))
    });
}

/// One training step of `$net` on a fixed batch, as WORKLOADS.md times it.
macro_rules! train_step_bench {
    ($c:expr, $name:expr, $net:ident, $cache:ident, $grads:ident, $b:expr, $inputs:ty, $sgd:expr, $flops:expr) => {
        train_step_bench!($c, $name, $net, $cache, $grads, $b, $inputs, $sgd, $flops, false)
    };
    ($c:expr, $name:expr, $net:ident, $cache:ident, $grads:ident, $b:expr, $inputs:ty, $sgd:expr, $flops:expr, $threads:expr) => {{
        const B: usize = $b;
        let mut net = $net::new_boxed(&mut gradflow::rng(1));
        let x = inputs::<$inputs, B>(2);
        let labels: [usize; B] = core::array::from_fn(|i| i % 10);
        let mut cache = $cache::<B>::new_boxed();
        let mut grads = $grads::new_boxed();
        let mut sgd = Sgd::new_boxed($sgd).unwrap();
        let mut dlogits = [[0.0f32; 10]; B];
        let mut group = $c.benchmark_group($name);
        if let Some(flops) = $flops {
            // Reported as elements/s: here, floating-point operations per second.
            group.throughput(Throughput::Elements(flops as u64));
        }
        let mut step = || {
            grads.zero();
            let logits = net.forward_train(&x, &mut cache);
            let loss = softmax_cross_entropy(logits, &labels, &mut dlogits).unwrap();
            net.backward(&mut cache, &dlogits, &mut grads);
            let outcome = sgd.step(&mut *net, &grads);
            black_box((loss, outcome.applied))
        };
        group.bench_function("step", |b| b.iter(&mut step));
        // With `--features parallel`: the same step on rayon pools of 1 and 2 threads.
        #[cfg(feature = "parallel")]
        if $threads {
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a rayon pool");
                group.bench_function(format!("step-{threads}-threads"), |b| {
                    b.iter(|| pool.install(&mut step))
                });
            }
        }
        #[cfg(not(feature = "parallel"))]
        let _ = $threads;
        group.finish();
    }};
}

fn w2_digits_train(c: &mut Criterion) {
    let sgd = SgdConfig::new(0.01).momentum(0.9);
    train_step_bench!(
        c,
        "W2 digits-train",
        DigitsBn,
        DigitsBnCache,
        DigitsBnGrads,
        32,
        [f32; 64],
        sgd,
        None::<usize>
    );
}

fn w3_deep_residual_train(c: &mut Criterion) {
    let sgd = SgdConfig::new(0.01).momentum(0.9);
    train_step_bench!(
        c,
        "W3 deep-residual-train",
        DeepResidual,
        DeepResidualCache,
        DeepResidualGrads,
        64,
        [f32; 64],
        sgd,
        None::<usize>
    );
}

fn w4_wide_train(c: &mut Criterion) {
    // WORKLOADS.md counts forward plus backward matrix products: 3 x 2 x B x sum(in * out).
    let flops = 3 * 2 * 64 * (784 * 512 + 512 * 512 + 512 * 10);
    let sgd = SgdConfig::new(0.01);
    train_step_bench!(
        c,
        "W4 wide-train",
        Wide,
        WideCache,
        WideGrads,
        64,
        [f32; 784],
        sgd,
        Some(flops),
        true
    );
}

fn w6_conv_train(c: &mut Criterion) {
    let sgd = SgdConfig::new(0.01).momentum(0.9);
    train_step_bench!(
        c,
        "W6 conv-train",
        ConvResidual,
        ConvResidualCache,
        ConvResidualGrads,
        32,
        [[[f32; 1]; 8]; 8],
        sgd,
        None::<usize>
    );
}

fn w7_conv_infer_b1(c: &mut Criterion) {
    let net = ConvResidual::new_boxed(&mut gradflow::rng(1));
    let x = inputs::<[[[f32; 1]; 8]; 8], 1>(2);
    c.bench_function("W7 conv-infer-b1", |b| {
        b.iter(|| black_box(net.forward(black_box(&x))))
    });
}

fn w5_wide_infer_b1(c: &mut Criterion) {
    let net = Wide::new_boxed(&mut gradflow::rng(1));
    let x = inputs::<[f32; 784], 1>(2);
    c.bench_function("W5 wide-infer-b1", |b| {
        b.iter(|| black_box(net.forward(black_box(&x))))
    });
}

criterion_group!(
    workloads,
    w1_tiny_infer,
    w2_digits_train,
    w3_deep_residual_train,
    w4_wide_train,
    w5_wide_infer_b1,
    w6_conv_train,
    w7_conv_infer_b1
);
criterion_main!(workloads);
