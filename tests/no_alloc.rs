//! No heap allocation in forward, backward or an optimizer step: a counting global allocator
//! watches one step of every workload network (WORKLOADS.md W1-W7) after set-up.

use gradflow::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations made by the current thread, passing them on to the system allocator.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the only addition is a const-initialized thread-local counter, which itself never
// allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout, as the caller's contract requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr` and `layout` come from this allocator, which forwards to `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

network! { struct W1<f32> { input 16, dense 32 [he_init, relu], dense 32 [he_init, relu], dense 4 } }
network! {
    struct W2<f32> { input 64, dense 128 [he_init, batchnorm, relu], dense 128 [he_init, batchnorm, relu], dense 10 }
}
network! {
    struct W3<f32> {
        input 64,
        dense 64 [he_init, relu],
        repeat 16 residual { dense 64 [he_init, batchnorm, relu], dense 64 [he_init, batchnorm] } relu,
        dense 10,
    }
}
network! { struct W4<f32> { input 784, dense 512 [he_init, relu], dense 512 [he_init, relu], dense 10 } }
network! {
    struct W6<f32> {
        input [8, 8, 1],
        conv2d 16 k3 same [he_init, batchnorm, relu],
        repeat 4 residual { conv2d 16 k3 same [he_init, batchnorm, relu], conv2d 16 k3 same [he_init, batchnorm] } relu,
        global_avg_pool,
        dense 10,
    }
}

/// One inference at batch 1, and one training step (forward, loss, backward, SGD with
/// momentum and Adam) at batch `B`, on buffers allocated beforehand; returns the allocations
/// of each phase.
macro_rules! phases {
    ($net:ident, $cache:ident, $grads:ident, $sample:ty, $b:expr) => {{
        const B: usize = $b;
        let mut net = $net::new_boxed(&mut gradflow::rng(1));
        let mut cache = $cache::<B>::new_boxed();
        let mut grads = $grads::new_boxed();
        let mut sgd = Sgd::new_boxed(SgdConfig::new(0.01).momentum(0.9)).unwrap();
        let mut adam = Adam::new_boxed(AdamConfig::new(0.001)).unwrap();
        let x = gradflow::nn::memory::zeroed_box::<[$sample; B]>();
        let one = gradflow::nn::memory::zeroed_box::<[$sample; 1]>();
        let labels: [usize; B] = core::array::from_fn(|i| i % 4);
        let mut dy = gradflow::nn::memory::zeroed_box::<[<$net as Network<f32>>::Output; B]>();
        let mut applied = true;
        let counts = [
            allocations(|| {
                std::hint::black_box(net.predict(&one));
            }),
            allocations(|| {
                grads.zero();
                let out = net.forward_train(&x, &mut cache);
                gradflow::nn::loss::softmax_cross_entropy_rows(out, &labels, &mut dy[..]).unwrap();
            }),
            allocations(|| net.backward(&mut cache, &dy, &mut grads)),
            allocations(|| applied &= sgd.step(&mut *net, &grads).applied),
            allocations(|| applied &= adam.step(&mut *net, &grads).applied),
        ];
        assert!(applied);
        counts
    }};
}

#[test]
fn no_workload_allocates_in_forward_backward_or_optimizer_step() {
    let results = [
        ("W1", phases!(W1, W1Cache, W1Grads, [f32; 16], 1)),
        ("W2", phases!(W2, W2Cache, W2Grads, [f32; 64], 32)),
        ("W3", phases!(W3, W3Cache, W3Grads, [f32; 64], 64)),
        ("W4/W5", phases!(W4, W4Cache, W4Grads, [f32; 784], 64)),
        (
            "W6/W7",
            phases!(W6, W6Cache, W6Grads, [[[f32; 1]; 8]; 8], 32),
        ),
    ];
    for (name, counts) in results {
        assert_eq!(
            counts, [0; 5],
            "{name}: allocations in [predict, forward_train, backward, sgd, adam]"
        );
    }
    // The counter works: a Vec allocates.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
}
