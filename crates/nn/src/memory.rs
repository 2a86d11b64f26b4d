//! Zero-initialised storage for networks, gradients, caches and optimizer state.
//!
//! Large networks and training caches hold megabytes. Building them on the stack and then
//! moving them into a `Box` overflows small stacks, so they are allocated zeroed directly on
//! the heap, and later reset in place.

use bytemuck::{Pod, Zeroable};

/// A zeroed value on the stack (for small networks, and for `static`-free no-alloc use).
pub fn zeroed<T: Zeroable>() -> T {
    T::zeroed()
}

/// A batch of `S` samples at the start of `buffer`, a batch of `B` rows of `E` scalars: how the
/// inference code `network!` generates lets layer outputs whose lifetimes do not overlap share
/// one buffer. Panics (at compile time, when instantiated) if a sample of `S` is larger than a
/// row of `E` scalars.
pub fn carve<T: Pod, S: Pod, const E: usize, const B: usize>(
    buffer: &mut [[T; E]; B],
) -> &mut [S; B] {
    const {
        assert!(
            size_of::<S>() <= E * size_of::<T>(),
            "a sample does not fit in a buffer row"
        )
    };
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(buffer.as_mut_slice());
    let samples: &mut [S] = bytemuck::cast_slice_mut(&mut bytes[..B * size_of::<S>()]);
    samples.try_into().expect("B samples")
}

/// A zeroed value in a constant expression, for `static` networks, caches, gradients and
/// optimizers on devices without a heap:
/// `static mut CACHE: NetCache<8> = gradflow::nn::memory::const_zeroed();`
/// The value is placed in `.bss` and never built on the stack.
pub const fn const_zeroed<T: Zeroable>() -> T {
    // SAFETY: `T: Zeroable` promises that the all-zero bit pattern is a valid `T`, which is
    // exactly what `mem::zeroed` requires. (`Zeroable::zeroed` does the same, but is not
    // a `const fn`.)
    unsafe { core::mem::zeroed() }
}

/// Implemented by nothing: without the `alloc` feature the heap functions (`new_boxed` of a
/// network, its cache, its gradients and the optimizers, a network's `to_le_bytes`) require
/// `(): NeedsAlloc`, so calling one is this error rather than "no function named
/// `new_boxed`" with a hint toward `new`, which builds the value on the stack.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this function allocates on the heap: it needs gradflow's `alloc` feature (on with `std`)",
    label = "needs the `alloc` feature",
    note = "without a heap, keep the value in a `static` built by `gradflow::nn::memory::const_zeroed()` (a network then draws its parameters with `init(&mut rng)`, an optimizer takes its settings with `configure`), and write baked weights into an array with `write_le_bytes`"
)]
pub trait NeedsAlloc {}

/// A zeroed value allocated directly on the heap, never built on the stack.
#[cfg(feature = "alloc")]
pub fn zeroed_box<T: Zeroable>() -> alloc::boxed::Box<T> {
    bytemuck::zeroed_box()
}

/// With the `parallel` feature, values at least this large (a megabyte of gradients) are
/// zeroed in two halves on two threads.
#[cfg(feature = "parallel")]
const PARALLEL_ZERO_BYTES: usize = 1 << 20;

/// Resets a value to all zeros in place (with `parallel`, large values on two threads).
pub fn zero_in_place<T: Zeroable>(value: &mut T) {
    #[cfg(feature = "parallel")]
    if size_of::<T>() >= PARALLEL_ZERO_BYTES && rayon::current_num_threads() > 1 {
        use core::mem::MaybeUninit;
        let len = size_of::<T>();
        // SAFETY: `value` is an exclusive borrow of `len` bytes; they may include padding, so
        // they are viewed as `MaybeUninit<u8>`, valid whatever they hold, and `value` is not
        // used while the view lives. Every byte is 0 when it ends, and `T: Zeroable` promises
        // that the all-zero bit pattern is a valid `T`.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(
                core::ptr::from_mut(value).cast::<MaybeUninit<u8>>(),
                len,
            )
        };
        let (first, second) = bytes.split_at_mut(len / 2);
        rayon::join(
            || first.fill(MaybeUninit::new(0)),
            || second.fill(MaybeUninit::new(0)),
        );
        return;
    }
    bytemuck::fill_zeroes(core::slice::from_mut(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A carved batch is the first `B x size_of::<S>()` bytes of the buffer, packed: sample
    /// `b` starts right after sample `b - 1`, not at row `b` of the buffer.
    #[test]
    fn carve_views_the_start_of_the_buffer_packed() {
        let mut buffer = [[0.0f32; 8]; 2];
        let batch: &mut [[[f32; 1]; 3]; 2] = carve(&mut buffer);
        batch[1][2][0] = 5.0;
        batch[0][0][0] = 1.0;
        assert_eq!(buffer[0], [1.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0]);
        assert_eq!(buffer[1], [0.0; 8]);
        // The whole buffer, as one batch of rows as wide as it.
        let whole: &mut [[f32; 8]; 2] = carve(&mut buffer);
        whole[1][7] = 2.0;
        assert_eq!(buffer[1][7], 2.0);
    }

    /// A value above the parallel threshold, zeroed on 1- and 2-thread pools (with
    /// `parallel`, the two-thread pool takes the split path) and on the caller's thread.
    #[cfg(feature = "std")]
    #[test]
    fn large_values_are_zeroed_whole() {
        use crate::dense::DenseGrads;
        type Large = DenseGrads<f32, 512, 600>;
        assert!(size_of::<Large>() >= 1 << 20);
        let check = || {
            let mut grads = zeroed_box::<Large>();
            grads.weight.as_flattened_mut().fill(1.5);
            grads.bias.fill(-2.0);
            zero_in_place(&mut *grads);
            assert!(grads.weight.as_flattened().iter().all(|&v| v == 0.0));
            assert!(grads.bias.iter().all(|&v| v == 0.0));
        };
        check();
        #[cfg(feature = "parallel")]
        for threads in [1, 2] {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(check);
        }
    }

    #[test]
    fn zero_in_place_clears_every_element() {
        let mut a = [[1.5f32; 3]; 2];
        zero_in_place(&mut a);
        assert_eq!(a, [[0.0; 3]; 2]);
    }

    #[test]
    fn const_zeroed_works_in_a_static() {
        static ZEROS: [[f32; 3]; 2] = const_zeroed();
        const LAYER: crate::Dense<f64, 2, 3> = const_zeroed();
        assert_eq!(ZEROS, [[0.0; 3]; 2]);
        assert_eq!(LAYER.weight, [[0.0; 3]; 2]);
        assert_eq!(LAYER.bias, [0.0; 3]);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn zeroed_box_of_a_large_array_does_not_touch_the_stack() {
        // 16 MiB: far more than a test thread's 2 MiB stack.
        let b = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| zeroed_box::<[[f32; 1024]; 4096]>()[4095][1023])
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(b, 0.0);
    }
}
