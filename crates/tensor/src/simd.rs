//! Running plain loops with the machine's wider vectors.
//!
//! The elementwise kernels (batch normalization, optimizer updates) are ordinary generic loops
//! that the compiler vectorizes for the baseline target (SSE2 on x86-64). [`with_wide_vectors`]
//! runs such a loop in a copy compiled for AVX2 when the CPU has it (detected at run time with
//! `std`, from compile-time target features without). Floating-point operations are never
//! reordered or fused by the compiler, so both copies give bit-identical results.

/// Calls `f`, compiled for AVX2 and FMA when this CPU has them: `f` is inlined into a function
/// built with those features, so its loops use 8-lane registers.
#[inline(always)]
pub fn with_wide_vectors<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if crate::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wide copy computes exactly what the plain loop does: same operations, same order.
    #[test]
    fn wide_copy_is_bit_identical_to_the_plain_loop() {
        let x: [f32; 67] = core::array::from_fn(|i| (i as f32 * 0.37).sin() * 3.0);
        let kernel = |out: &mut [f32; 67]| {
            for (o, &v) in out.iter_mut().zip(&x) {
                *o = (v * 1.5 + 0.25) / (v * v + 1.0) - v.sqrt_or_zero();
            }
        };
        let (mut plain, mut wide) = ([0.0f32; 67], [0.0f32; 67]);
        kernel(&mut plain);
        with_wide_vectors(|| kernel(&mut wide));
        assert_eq!(plain.map(f32::to_bits), wide.map(f32::to_bits));
        assert_eq!(with_wide_vectors(|| 6 * 7), 42);
    }

    trait SqrtOrZero {
        fn sqrt_or_zero(self) -> Self;
    }

    impl SqrtOrZero for f32 {
        fn sqrt_or_zero(self) -> Self {
            if self > 0.0 {
                libm::sqrtf(self)
            } else {
                0.0
            }
        }
    }
}
