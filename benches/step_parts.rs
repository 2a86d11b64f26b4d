//! Where a training step's time goes: W2 and W3 timed part by part (forward, loss, backward,
//! zeroing the gradients, the SGD step). Run with `cargo bench --bench step_parts`.

use criterion::{criterion_group, criterion_main, Criterion};
use gradflow::prelude::*;
use std::hint::black_box;

#[allow(dead_code)] // this bench times W2 and W3 only
#[path = "common/workloads.rs"]
mod workloads;
use workloads::{DeepResidual, DeepResidualCache, DeepResidualGrads};
use workloads::{DigitsBn, DigitsBnCache, DigitsBnGrads};

macro_rules! parts {
    ($c:expr, $name:expr, $net:ident, $cache:ident, $grads:ident, $b:expr, $i:expr) => {{
        const B: usize = $b;
        let mut net = $net::new_boxed(&mut gradflow::rng(1));
        let mut rng = gradflow::rng(2);
        let mut x = gradflow::nn::memory::zeroed_box::<[[f32; $i]; B]>();
        for v in x.as_flattened_mut() {
            *v = rand::Rng::random(&mut rng);
        }
        let labels: [usize; B] = core::array::from_fn(|i| i % 10);
        let mut cache = $cache::<B>::new_boxed();
        let mut grads = $grads::new_boxed();
        let mut sgd = Sgd::new_boxed(SgdConfig::new(0.01).momentum(0.9)).unwrap();
        let mut dlogits = [[0.0f32; 10]; B];
        let mut group = $c.benchmark_group($name);
        group.bench_function("forward_train", |b| {
            b.iter(|| black_box(net.forward_train(&x, &mut cache)[0][0]))
        });
        let logits = *net.forward_train(&x, &mut cache);
        group.bench_function("loss", |b| {
            b.iter(|| black_box(softmax_cross_entropy(&logits, &labels, &mut dlogits).unwrap()))
        });
        // `black_box` lets the compiler assume each zeroing is read: without it the stores of
        // every iteration but the last are dead, and the loop timed 0.45 ns.
        group.bench_function("zero", |b| {
            b.iter(|| {
                grads.zero();
                black_box(&mut grads);
            })
        });
        group.bench_function("backward", |b| {
            b.iter(|| net.backward(&mut cache, &dlogits, &mut grads))
        });
        grads.zero();
        net.backward(&mut cache, &dlogits, &mut grads);
        group.bench_function("sgd", |b| {
            b.iter(|| black_box(sgd.step(&mut *net, &grads).applied))
        });
        group.finish();
    }};
}

fn w2(c: &mut Criterion) {
    parts!(
        c,
        "W2 parts",
        DigitsBn,
        DigitsBnCache,
        DigitsBnGrads,
        32,
        64
    );
}

fn w3(c: &mut Criterion) {
    parts!(
        c,
        "W3 parts",
        DeepResidual,
        DeepResidualCache,
        DeepResidualGrads,
        64,
        64
    );
}

criterion_group!(step_parts, w2, w3);
criterion_main!(step_parts);
