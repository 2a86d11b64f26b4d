//! Criterion benches of the workloads in WORKLOADS.md, named after them so that figures line
//! up with the peer frameworks'. Run with `cargo bench --bench workloads`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gradflow::prelude::*;
use std::hint::black_box;

network! {
    /// W1: a tiny controller-sized MLP.
    pub struct Tiny<f32> {
        input 16,
        dense 32 [he_init, relu],
        dense 32 [he_init, relu],
        dense 4,
    }
}

network! {
    /// W4/W5: an MNIST-sized MLP.
    pub struct Wide<f32> {
        input 784,
        dense 512 [he_init, relu],
        dense 512 [he_init, relu],
        dense 10,
    }
}

/// Deterministic inputs in [0, 1).
fn inputs<const B: usize, const N: usize>(seed: u64) -> Box<[[f32; N]; B]> {
    use rand::Rng as _;
    let mut rng = gradflow::rng(seed);
    let mut x = gradflow::nn::memory::zeroed_box::<[[f32; N]; B]>();
    x.as_flattened_mut()
        .iter_mut()
        .for_each(|v| *v = rng.random());
    x
}

fn w1_tiny_infer(c: &mut Criterion) {
    let net = Tiny::new(&mut gradflow::rng(1));
    let x = inputs::<1, 16>(2);
    c.bench_function("W1 tiny-infer", |b| {
        b.iter(|| black_box(net.forward(black_box(&x))))
    });
}

fn w4_wide_train(c: &mut Criterion) {
    const B: usize = 64;
    let mut net = Wide::new_boxed(&mut gradflow::rng(1));
    let x = inputs::<B, 784>(2);
    let labels: [usize; B] = core::array::from_fn(|i| i % 10);
    let mut cache = WideCache::<B>::new_boxed();
    let mut grads = WideGrads::new_boxed();
    let mut sgd = Sgd::new(SgdConfig::new(0.01)).unwrap();
    let mut dlogits = [[0.0f32; 10]; B];
    let flops = 3 * 2 * B * (784 * 512 + 512 * 512 + 512 * 10);
    let mut group = c.benchmark_group("W4 wide-train");
    group.throughput(Throughput::Elements(flops as u64));
    group.bench_function("step", |b| {
        b.iter(|| {
            grads.zero();
            let logits = net.forward_train(&x, &mut cache);
            let loss = softmax_cross_entropy(logits, &labels, &mut dlogits).unwrap();
            net.backward(&mut cache, &dlogits, &mut grads);
            let outcome = sgd.step(&mut *net, &grads);
            black_box((loss, outcome.applied))
        })
    });
    group.finish();
}

fn w5_wide_infer_b1(c: &mut Criterion) {
    let net = Wide::new_boxed(&mut gradflow::rng(1));
    let x = inputs::<1, 784>(2);
    c.bench_function("W5 wide-infer-b1", |b| {
        b.iter(|| black_box(net.forward(black_box(&x))))
    });
}

criterion_group!(workloads, w1_tiny_infer, w4_wide_train, w5_wide_infer_b1);
criterion_main!(workloads);
