//! Zero-initialised storage for networks, gradients, caches and optimizer state.
//!
//! Large networks and training caches hold megabytes. Building them on the stack and then
//! moving them into a `Box` overflows small stacks, so they are allocated zeroed directly on
//! the heap, and later reset in place.

use bytemuck::Zeroable;

/// A zeroed value on the stack (for small networks, and for `static`-free no-alloc use).
pub fn zeroed<T: Zeroable>() -> T {
    T::zeroed()
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

/// A zeroed value allocated directly on the heap, never built on the stack.
#[cfg(feature = "alloc")]
pub fn zeroed_box<T: Zeroable>() -> alloc::boxed::Box<T> {
    bytemuck::zeroed_box()
}

/// Resets a value to all zeros in place.
pub fn zero_in_place<T: Zeroable>(value: &mut T) {
    bytemuck::fill_zeroes(core::slice::from_mut(value));
}

#[cfg(test)]
mod tests {
    use super::*;

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
