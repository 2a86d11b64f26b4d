//! Bias add, broadcast over the batch, and its backward: the sum of the output gradient
//! over the batch.

use crate::Scalar;

/// `y[b] += bias` for every sample `b`.
pub fn add_bias<T: Scalar, const B: usize, const N: usize>(y: &mut [[T; N]; B], bias: &[T; N]) {
    for row in y.iter_mut() {
        for (y, &b) in row.iter_mut().zip(bias) {
            *y += b;
        }
    }
}

/// Backward of [`add_bias`]: `db += sum_b dy[b]`. Accumulates into `db`.
pub fn bias_backward<T: Scalar, const B: usize, const N: usize>(dy: &[[T; N]; B], db: &mut [T; N]) {
    #[cfg(target_arch = "x86_64")]
    if B * N >= 256 && crate::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
        unsafe { bias_backward_avx2(dy, db) };
        return;
    }
    bias_backward_loop(dy, db);
}

/// [`bias_backward_loop`] compiled for AVX2 (see [`crate::simd`]): the same sums, in the same
/// order, 8 lanes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn bias_backward_avx2<T: Scalar, const B: usize, const N: usize>(
    dy: &[[T; N]; B],
    db: &mut [T; N],
) {
    bias_backward_loop(dy, db);
}

#[inline(always)]
fn bias_backward_loop<T: Scalar, const B: usize, const N: usize>(
    dy: &[[T; N]; B],
    db: &mut [T; N],
) {
    for row in dy {
        for (db, &g) in db.iter_mut().zip(row) {
            *db += g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    /// The dispatching `bias_backward` (AVX2 on a machine that has it) sums exactly as the
    /// plain loop does, on awkward widths and batch sizes.
    #[test]
    fn bias_backward_matches_the_plain_loop_bit_for_bit() {
        fn check<const B: usize, const N: usize>() {
            let dy: [[f32; N]; B] =
                core::array::from_fn(|b| test_values::<N>(b as u64 + 7).map(|v| v as f32));
            let start = test_values::<N>(3).map(|v| v as f32);
            let (mut fast, mut plain) = (start, start);
            bias_backward(&dy, &mut fast);
            bias_backward_loop(&dy, &mut plain);
            assert_eq!(fast.map(f32::to_bits), plain.map(f32::to_bits), "{B}x{N}");
            let sum0: f32 = dy.iter().fold(start[0], |s, r| s + r[0]);
            assert_eq!(fast[0], sum0);
        }
        check::<1, 1>();
        check::<3, 17>();
        check::<17, 64>();
        check::<64, 127>();
        check::<127, 3>();
    }

    #[test]
    fn add_bias_gradient_matches_finite_differences() {
        let y0 = [test_values::<4>(1), test_values::<4>(2)];
        let bias = test_values::<4>(3);
        let r = [test_values::<4>(4), test_values::<4>(5)];
        let loss = |bias: &[f64; 4]| {
            let mut y = y0;
            add_bias(&mut y, bias);
            y.iter()
                .flatten()
                .zip(r.iter().flatten())
                .map(|(y, r)| y * r)
                .sum::<f64>()
        };
        let mut db = [0.0; 4];
        bias_backward(&r, &mut db);
        let check = check_gradient(&db, |k, d| {
            let mut b = bias;
            b[k] += d;
            loss(&b)
        });
        assert!(check.passes(1e-6), "{check:?}");
    }
}
