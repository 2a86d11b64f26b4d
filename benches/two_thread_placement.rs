//! The two-thread W4 step, chunk by chunk, each chunk followed by a cache-line round trip
//! between the pool's two threads wherever they run at that moment; with the phases of the
//! step (zeroing, forward and loss, backward, SGD) timed apart. It shows that a slow
//! two-thread step and a slow round trip (two cores that share no cache) come together.
//! Needs two CPUs and `parallel`:
//!
//! ```sh
//! cargo bench --bench two_thread_placement --features parallel -- [chunks] [steps per chunk]
//! ```
//!
//! Prints one line per chunk: milliseconds per step, the round trip in ns, and the phases in
//! µs per step. Not a criterion bench: criterion would report one median over both placements.

use gradflow::prelude::*;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[allow(dead_code)] // W4's network only
#[path = "common/workloads.rs"]
mod workloads;
use workloads::{Wide, WideCache, WideGrads};

/// Round trips of a cache line between the two threads of `pool`; returns ns per round trip.
fn round_trip_ns(pool: &rayon::ThreadPool) -> u64 {
    const TRIPS: u32 = 4000;
    let ball = AtomicU32::new(0);
    let ns = AtomicU64::new(0);
    // `broadcast` runs the closure on both threads at once.
    pool.broadcast(|ctx| {
        if ctx.index() == 0 {
            let start = Instant::now();
            for _ in 0..TRIPS {
                ball.store(1, Ordering::Release);
                while ball.load(Ordering::Acquire) != 0 {
                    std::hint::spin_loop();
                }
            }
            ns.store(
                start.elapsed().as_nanos() as u64 / u64::from(TRIPS),
                Ordering::Relaxed,
            );
        } else {
            for _ in 0..TRIPS {
                while ball.load(Ordering::Acquire) != 1 {
                    std::hint::spin_loop();
                }
                ball.store(0, Ordering::Release);
            }
        }
    });
    ns.load(Ordering::Relaxed)
}

fn arg(n: usize, default: usize) -> usize {
    // `cargo bench` passes `--bench`; numbers are ours.
    let nums: Vec<usize> = std::env::args_os()
        .filter_map(|a| a.to_str()?.parse().ok())
        .collect();
    nums.get(n).copied().unwrap_or(default)
}

fn main() {
    let (chunks, steps) = (arg(0, 20), arg(1, 100).max(1));
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("two_thread_placement needs two CPUs");
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a rayon pool");
    let mut net = Wide::new_boxed(&mut gradflow::rng(1));
    let mut x = gradflow::nn::memory::zeroed_box::<[[f32; 784]; 64]>();
    let mut rng = gradflow::rng(2);
    for v in x.as_flattened_mut() {
        *v = rand::Rng::random(&mut rng);
    }
    let labels: [usize; 64] = core::array::from_fn(|i| i % 10);
    let mut cache = WideCache::<64>::new_boxed();
    let mut grads = WideGrads::new_boxed();
    let mut sgd = Sgd::new_boxed(SgdConfig::new(0.01)).expect("a valid config");
    let mut dlogits = [[0.0f32; 10]; 64];
    let mut phases = [Duration::ZERO; 4];
    let mut step = |phases: &mut [Duration; 4]| {
        let t0 = Instant::now();
        grads.zero();
        let t1 = Instant::now();
        let logits = net.forward_train(&x, &mut cache);
        let loss = softmax_cross_entropy(logits, &labels, &mut dlogits).expect("finite logits");
        let t2 = Instant::now();
        net.backward(&mut cache, &dlogits, &mut grads);
        let t3 = Instant::now();
        let outcome = sgd.step(&mut *net, &grads);
        let t4 = Instant::now();
        for (p, d) in phases.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            *p += d;
        }
        black_box((loss, outcome.applied))
    };
    for _ in 0..steps {
        pool.install(|| step(&mut phases));
    }
    println!("chunk  ms/step  round trip (ns)  zero  forward+loss  backward  sgd (µs/step)");
    for chunk in 1..=chunks {
        phases = [Duration::ZERO; 4];
        let start = Instant::now();
        for _ in 0..steps {
            pool.install(|| step(&mut phases));
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
        let [zero, fwd, bwd, sgd] = phases.map(|d| d.as_secs_f64() * 1e6 / steps as f64);
        let rt = round_trip_ns(&pool);
        println!("{chunk:5}  {ms:7.3}  {rt:15}  {zero:4.0}  {fwd:12.0}  {bwd:8.0}  {sgd:3.0}");
    }
}
