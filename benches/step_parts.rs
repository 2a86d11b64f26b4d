//! Where a training step's time goes: W2, W3 and W4 timed part by part (forward, loss,
//! backward, zeroing the gradients, the SGD step). Run with `cargo bench --bench step_parts`;
//! with `--features parallel`, W4's parts are also timed in one- and two-thread rayon pools
//! (`W4 parts/backward/2-threads`), to see which part keeps two threads from halving the step.

use criterion::{criterion_group, criterion_main, Criterion};
use gradflow::prelude::*;
use std::hint::black_box;

#[allow(dead_code)] // this bench times W2, W3 and W4 only
#[path = "common/workloads.rs"]
mod workloads;
use workloads::{DeepResidual, DeepResidualCache, DeepResidualGrads};
use workloads::{DigitsBn, DigitsBnCache, DigitsBnGrads};
use workloads::{Wide, WideCache, WideGrads};

/// Where each part runs: on the calling thread (`""`), and with `parallel`, when `threads`
/// is asked for, also in rayon pools of one and two threads (`"/1-thread"`, `"/2-threads"`).
struct Places(Vec<(&'static str, Option<Pool>)>);

#[cfg(feature = "parallel")]
type Pool = rayon::ThreadPool;
#[cfg(not(feature = "parallel"))]
type Pool = ();

impl Places {
    fn new(threads: bool) -> Self {
        let here = ("", None);
        #[cfg(feature = "parallel")]
        if threads {
            let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build();
            let (one, two) = (
                pool(1).expect("a rayon pool"),
                pool(2).expect("a rayon pool"),
            );
            return Places(vec![
                here,
                ("/1-thread", Some(one)),
                ("/2-threads", Some(two)),
            ]);
        }
        #[cfg(not(feature = "parallel"))]
        let _ = threads;
        Places(vec![here])
    }

    /// Times `part` as `name` at every place.
    fn bench(
        &self,
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        mut part: impl FnMut() + Send,
    ) {
        for (suffix, pool) in &self.0 {
            group.bench_function(format!("{name}{suffix}"), |b| match pool {
                #[cfg(feature = "parallel")]
                Some(pool) => b.iter(|| pool.install(&mut part)),
                _ => b.iter(&mut part),
            });
        }
    }
}

macro_rules! parts {
    ($c:expr, $name:expr, $net:ident, $cache:ident, $grads:ident, $b:expr, $i:expr, $sgd:expr, $threads:expr) => {{
        const B: usize = $b;
        let places = Places::new($threads);
        let mut net = $net::new_boxed(&mut gradflow::rng(1));
        let mut rng = gradflow::rng(2);
        let mut x = gradflow::nn::memory::zeroed_box::<[[f32; $i]; B]>();
        for v in x.as_flattened_mut() {
            *v = rand::Rng::random(&mut rng);
        }
        let labels: [usize; B] = core::array::from_fn(|i| i % 10);
        let mut cache = $cache::<B>::new_boxed();
        let mut grads = $grads::new_boxed();
        let mut sgd = Sgd::new_boxed($sgd).unwrap();
        let mut dlogits = [[0.0f32; 10]; B];
        let mut group = $c.benchmark_group($name);
        places.bench(&mut group, "forward_train", || {
            black_box(net.forward_train(&x, &mut cache)[0][0]);
        });
        let logits = *net.forward_train(&x, &mut cache);
        places.bench(&mut group, "loss", || {
            black_box(softmax_cross_entropy(&logits, &labels, &mut dlogits).unwrap());
        });
        // `black_box` lets the compiler assume each zeroing is read: without it the stores of
        // every iteration but the last are dead, and the loop timed 0.45 ns.
        places.bench(&mut group, "zero", || {
            grads.zero();
            black_box(&mut grads);
        });
        places.bench(&mut group, "backward", || {
            net.backward(&mut cache, &dlogits, &mut grads)
        });
        grads.zero();
        net.backward(&mut cache, &dlogits, &mut grads);
        places.bench(&mut group, "sgd", || {
            black_box(sgd.step(&mut *net, &grads).applied);
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
        64,
        SgdConfig::new(0.01).momentum(0.9),
        false
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
        64,
        SgdConfig::new(0.01).momentum(0.9),
        false
    );
}

fn w4(c: &mut Criterion) {
    parts!(
        c,
        "W4 parts",
        Wide,
        WideCache,
        WideGrads,
        64,
        784,
        SgdConfig::new(0.01),
        true
    );
}

criterion_group!(step_parts, w2, w3, w4);
criterion_main!(step_parts);
