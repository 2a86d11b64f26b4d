//! Running plain loops with the machine's wider vectors.
//!
//! The elementwise kernels (batch normalization, optimizer updates) are ordinary generic loops
//! that the compiler vectorizes for the baseline target (SSE2 on x86-64). [`with_wide_vectors`]
//! runs such a loop in a copy compiled for AVX2 when the CPU has it (detected at run time with
//! `std`, from compile-time target features without). Floating-point operations are never
//! reordered or fused by the compiler, so both copies give bit-identical results.

/// Calls `f`, compiled for AVX-512 or for AVX2 and FMA when this CPU has them: `f` is inlined
/// into a function built with those features, so its loops use 16- or 8-lane registers.
#[inline(always)]
pub fn with_wide_vectors<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if crate::gemm::wide_f32_available() {
        // SAFETY: the CPU executes AVX-512F, AVX2 and FMA instructions (checked just above).
        return unsafe { avx512(f) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `dst = src` for short runs (up to 256 bytes inline), without a call: the compiler turns a
/// copy loop of any shape, even one of vector loads and stores, into a `memcpy` call, which
/// for runs this short costs several times the copy itself. So the copy is written without a
/// loop: up to eight 32-byte moves in AVX2 registers, then 16, 8 and 4 bytes. Longer runs, and
/// CPUs without AVX2, use `copy_from_slice`.
///
/// # Panics
/// If the lengths differ.
#[inline]
pub fn copy_short<T: bytemuck::Pod>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy_short of unequal lengths");
    let (dst, src): (&mut [u8], &[u8]) = (bytemuck::cast_slice_mut(dst), bytemuck::cast_slice(src));
    #[cfg(target_arch = "x86_64")]
    if dst.len() <= 256 && crate::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 instructions (checked just above).
        unsafe { copy_bytes_avx2(dst, src) };
        return;
    }
    dst.copy_from_slice(src);
}

/// [`copy_short`] of at most 256 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn copy_bytes_avx2(dst: &mut [u8], src: &[u8]) {
    use core::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_storeu_si256};
    let len = dst.len();
    assert!(len <= 256 && src.len() == len);
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    macro_rules! move_32 {
        ($($i:literal)*) => {$(
            if len >= 32 * ($i + 1) {
                // SAFETY: bytes `32 i..32 (i + 1)` lie inside both slices (`len` checked just
                // above); the load and store are unaligned, and the slices do not overlap.
                unsafe {
                    let v = _mm256_loadu_si256(s.add(32 * $i).cast::<__m256i>());
                    _mm256_storeu_si256(d.add(32 * $i).cast::<__m256i>(), v);
                }
            }
        )*};
    }
    move_32!(0 1 2 3 4 5 6 7);
    let mut at = len / 32 * 32;
    macro_rules! move_small {
        ($($n:literal)*) => {$(
            if len - at >= $n {
                let to: &mut [u8; $n] = (&mut dst[at..at + $n]).try_into().expect("n bytes");
                *to = src[at..at + $n].try_into().expect("n bytes");
                at += $n;
            }
        )*};
    }
    move_small!(16 8 4 2 1);
    debug_assert_eq!(at, len);
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
        // Each copy this machine has (AVX-512, then AVX2) in turn.
        crate::gemm::tests::with_each_kernel(|kernel_name| {
            let (mut plain, mut wide) = ([0.0f32; 67], [0.0f32; 67]);
            kernel(&mut plain);
            with_wide_vectors(|| kernel(&mut wide));
            assert_eq!(
                plain.map(f32::to_bits),
                wide.map(f32::to_bits),
                "{kernel_name}"
            );
            assert_eq!(with_wide_vectors(|| 6 * 7), 42);
        });
    }

    /// Every length up to 300 bytes (both the inline moves and the fallback), for a 1-byte and
    /// a 4-byte element type, at unaligned offsets.
    #[test]
    fn copy_short_copies_exactly_the_run() {
        let src: [u8; 320] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for len in 0..300 {
            for offset in [0, 1, 5] {
                let mut dst = [0xAAu8; 320];
                copy_short(
                    &mut dst[offset..offset + len],
                    &src[offset + 3..offset + 3 + len],
                );
                assert_eq!(dst[offset..offset + len], src[offset + 3..offset + 3 + len]);
                assert!(dst[..offset]
                    .iter()
                    .chain(&dst[offset + len..])
                    .all(|&b| b == 0xAA));
            }
        }
        let floats: [f32; 70] = core::array::from_fn(|i| i as f32 * 0.5 - 3.0);
        for len in 0..70 {
            let mut dst = [f32::NAN; 70];
            copy_short(&mut dst[..len], &floats[..len]);
            assert_eq!(dst[..len], floats[..len]);
            assert!(dst[len..].iter().all(|v| v.is_nan()));
        }
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
