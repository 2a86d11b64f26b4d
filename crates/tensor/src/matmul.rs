//! The three matrix products of a dense layer, over a batch `[[T; I]; B]` and a weight
//! stored input-major as `[[T; O]; I]` (row `i` holds the weights leaving input `i`).
//!
//! - forward: `y = x W + b` ([`linear`])
//! - input gradient: `dx = dy W^T` ([`matmul_dx`])
//! - weight gradient: `dW += x^T dy` ([`matmul_dw`])
//!
//! Input-major storage makes all three inner loops run over contiguous memory: the forward pass
//! and the weight gradient are `axpy`s over a row of `W`, the input gradient is a dot product
//! with a row of `W`. The outer loop runs over `i`, so one row of `W` is loaded once per batch.
//!
//! Each product first offers itself to the type's fast kernel ([`Scalar::try_fast_gemm`]: for
//! `f32`, AVX2/FMA micro-tiles); the loops below run where there is none (`f64`, other CPUs).

use crate::gemm::{View, ViewMut};
use crate::Scalar;

/// Products with fewer multiply-adds than this run on the loops below even where a fast kernel
/// exists: at these sizes the shape-specialised loops beat any call into a general kernel.
const FAST_KERNEL_MIN_MACS: usize = 4096;

/// Offers `c (+)= a b` to the type's fast kernel, when the product is large enough.
fn try_fast<T: Scalar>(
    a: View<'_, T>,
    b: View<'_, T>,
    c: &mut ViewMut<'_, T>,
    accumulate: bool,
) -> bool {
    a.rows() * a.cols() * b.cols() >= FAST_KERNEL_MIN_MACS && T::try_fast_gemm(a, b, c, accumulate)
}

fn rows<T: Copy, const R: usize, const C: usize>(m: &[[T; C]; R]) -> View<'_, T> {
    View::row_major(m.as_flattened(), R, C)
}

fn rows_mut<T, const R: usize, const C: usize>(m: &mut [[T; C]; R]) -> ViewMut<'_, T> {
    ViewMut::row_major(m.as_flattened_mut(), R, C)
}

/// `y[..] += a * x[..]`.
#[inline(always)]
pub fn axpy<T: Scalar>(y: &mut [T], a: T, x: &[T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Dot product with eight independent accumulators, so the compiler can vectorize it without
/// reassociating floating-point sums on its own.
#[inline(always)]
pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::ZERO; LANES];
    let mut chunks_a = a.chunks_exact(LANES);
    let mut chunks_b = b.chunks_exact(LANES);
    for (ca, cb) in (&mut chunks_a).zip(&mut chunks_b) {
        for k in 0..LANES {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut tail = T::ZERO;
    for (&x, &y) in chunks_a.remainder().iter().zip(chunks_b.remainder()) {
        tail += x * y;
    }
    let mut sum = T::ZERO;
    for v in acc {
        sum += v;
    }
    sum + tail
}

/// Forward product with bias: `y[b] = bias + sum_i x[b][i] * w[i]`. Overwrites `y`.
pub fn linear<T: Scalar, const B: usize, const I: usize, const O: usize>(
    x: &[[T; I]; B],
    w: &[[T; O]; I],
    bias: &[T; O],
    y: &mut [[T; O]; B],
) {
    // A product the fast kernel takes starts from the bias inside it: `y` is written once.
    if B * I * O >= FAST_KERNEL_MIN_MACS
        && T::try_fast_linear(rows(x), rows(w), bias, &mut rows_mut(y))
    {
        return;
    }
    for row in y.iter_mut() {
        *row = *bias;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
        unsafe { linear_loops_avx2(x, w, y) };
        return;
    }
    linear_loops(x, w, y);
}

/// The loops of [`linear`] compiled for AVX2: small products (batch-1 inference of narrow
/// layers) run these fully unrolled for their constant shapes, in 8-wide registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn linear_loops_avx2<T: Scalar, const B: usize, const I: usize, const O: usize>(
    x: &[[T; I]; B],
    w: &[[T; O]; I],
    y: &mut [[T; O]; B],
) {
    linear_loops(x, w, y);
}

#[inline(always)]
fn linear_loops<T: Scalar, const B: usize, const I: usize, const O: usize>(
    x: &[[T; I]; B],
    w: &[[T; O]; I],
    y: &mut [[T; O]; B],
) {
    if B == 1 && O > 16 && O <= 64 {
        // One output row of up to 64, kept in registers as two partial sums over alternating
        // inputs: a single sum would wait on each addition's latency in turn.
        let mut acc = [[T::ZERO; O]; 2];
        let mut rows = w.iter().zip(&x[0]);
        while let (Some((w0, &x0)), Some((w1, &x1))) = (rows.next(), rows.next()) {
            axpy(&mut acc[0], x0, w0);
            axpy(&mut acc[1], x1, w1);
        }
        if I % 2 == 1 {
            axpy(&mut acc[0], x[0][I - 1], &w[I - 1]);
        }
        for (o, out) in y[0].iter_mut().enumerate() {
            *out += acc[0][o] + acc[1][o];
        }
        return;
    }
    if B == 1 && O <= 16 {
        // A narrow output row: four partial sums.
        let mut acc = [[T::ZERO; O]; 4];
        let mut rows = w.iter().zip(&x[0]);
        while let (Some((w0, &x0)), Some((w1, &x1)), Some((w2, &x2)), Some((w3, &x3))) =
            (rows.next(), rows.next(), rows.next(), rows.next())
        {
            axpy(&mut acc[0], x0, w0);
            axpy(&mut acc[1], x1, w1);
            axpy(&mut acc[2], x2, w2);
            axpy(&mut acc[3], x3, w3);
        }
        for (wi, &xi) in w.iter().zip(&x[0]).skip(I / 4 * 4) {
            axpy(&mut acc[0], xi, wi);
        }
        for (o, out) in y[0].iter_mut().enumerate() {
            *out += (acc[0][o] + acc[1][o]) + (acc[2][o] + acc[3][o]);
        }
        return;
    }
    for (i, wi) in w.iter().enumerate() {
        for (xb, yb) in x.iter().zip(y.iter_mut()) {
            axpy(yb, xb[i], wi);
        }
    }
}

/// Backward of [`linear`] with respect to its input: `dx[b][i] = sum_o dy[b][o] * w[i][o]`.
/// Overwrites `dx`.
pub fn matmul_dx<T: Scalar, const B: usize, const I: usize, const O: usize>(
    dy: &[[T; O]; B],
    w: &[[T; O]; I],
    dx: &mut [[T; I]; B],
) {
    if try_fast(rows(dy), rows(w).t(), &mut rows_mut(dx), false) {
        return;
    }
    for (i, wi) in w.iter().enumerate() {
        for (dyb, dxb) in dy.iter().zip(dx.iter_mut()) {
            dxb[i] = dot(dyb, wi);
        }
    }
}

/// Backward of [`linear`] with respect to its weight: `dw[i] += sum_b x[b][i] * dy[b]`.
/// Accumulates into `dw`.
pub fn matmul_dw<T: Scalar, const B: usize, const I: usize, const O: usize>(
    x: &[[T; I]; B],
    dy: &[[T; O]; B],
    dw: &mut [[T; O]; I],
) {
    if try_fast(rows(x).t(), rows(dy), &mut rows_mut(dw), true) {
        return;
    }
    for (i, dwi) in dw.iter_mut().enumerate() {
        for (xb, dyb) in x.iter().zip(dy) {
            axpy(dwi, xb[i], dyb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    const B: usize = 3;
    const I: usize = 5;
    const O: usize = 17;

    fn reshape<const R: usize, const C: usize>(flat: &[f64]) -> [[f64; C]; R] {
        core::array::from_fn(|r| core::array::from_fn(|c| flat[r * C + c]))
    }

    /// Input, weight, bias and the loss weights `r`.
    type Case = ([[f64; I]; B], [[f64; O]; I], [f64; O], [[f64; O]; B]);

    fn setup() -> Case {
        let x = reshape::<B, I>(&test_values::<{ B * I }>(1));
        let w = reshape::<I, O>(&test_values::<{ I * O }>(2));
        let bias = test_values::<O>(3);
        let r = reshape::<B, O>(&test_values::<{ B * O }>(4));
        (x, w, bias, r)
    }

    /// The loss used by every check: `L = sum(y * r)`, so `dL/dy = r`.
    fn loss(x: &[[f64; I]; B], w: &[[f64; O]; I], bias: &[f64; O], r: &[[f64; O]; B]) -> f64 {
        let mut y = [[0.0; O]; B];
        linear(x, w, bias, &mut y);
        y.iter()
            .flatten()
            .zip(r.iter().flatten())
            .map(|(y, r)| y * r)
            .sum()
    }

    #[test]
    fn forward_matches_naive_product() {
        let (x, w, bias, _) = setup();
        let mut y = [[0.0; O]; B];
        linear(&x, &w, &bias, &mut y);
        for b in 0..B {
            for o in 0..O {
                let expected: f64 = bias[o] + (0..I).map(|i| x[b][i] * w[i][o]).sum::<f64>();
                assert!((y[b][o] - expected).abs() < 1e-12);
            }
        }
    }

    /// The f32 products (fast kernel where the CPU has one) against the f64 loops.
    fn f32_products_agree_with_f64<const B: usize, const I: usize, const O: usize>() {
        let x = reshape::<B, I>(&test_values::<{ 127 * 127 }>(7));
        let w = reshape::<I, O>(&test_values::<{ 127 * 127 }>(8));
        let bias = reshape::<1, O>(&test_values::<127>(9))[0];
        let dy = reshape::<B, O>(&test_values::<{ 127 * 127 }>(10));
        let narrow = |m: &[f64]| -> [f32; 127 * 127] {
            let mut out = [0.0; 127 * 127];
            for (o, v) in out.iter_mut().zip(m) {
                *o = *v as f32;
            }
            out
        };
        let (x32, w32, b32, dy32) = (
            narrow(x.as_flattened()),
            narrow(w.as_flattened()),
            narrow(&bias),
            narrow(dy.as_flattened()),
        );
        let x32 = reshape_f32::<B, I>(&x32);
        let w32 = reshape_f32::<I, O>(&w32);
        let b32 = reshape_f32::<1, O>(&b32)[0];
        let dy32 = reshape_f32::<B, O>(&dy32);

        let (mut y, mut y32) = ([[0.0; O]; B], [[0.0f32; O]; B]);
        linear(&x, &w, &bias, &mut y);
        linear(&x32, &w32, &b32, &mut y32);
        let (mut dx, mut dx32) = ([[0.0; I]; B], [[0.0f32; I]; B]);
        matmul_dx(&dy, &w, &mut dx);
        matmul_dx(&dy32, &w32, &mut dx32);
        let (mut dw, mut dw32) = ([[1.0; O]; I], [[1.0f32; O]; I]);
        matmul_dw(&x, &dy, &mut dw);
        matmul_dw(&x32, &dy32, &mut dw32);
        let close = |a: &[f64], b: &[f32], n: usize| {
            for (a, b) in a.iter().zip(b) {
                assert!(
                    (a - *b as f64).abs() < 1e-5 * (n as f64 + 1.0),
                    "B={B} I={I} O={O}: {a} vs {b}"
                );
            }
        };
        for b in 0..B {
            for o in 0..O {
                let naive: f64 = bias[o] + (0..I).map(|i| x[b][i] * w[i][o]).sum::<f64>();
                assert!((y[b][o] - naive).abs() < 1e-12, "B={B} I={I} O={O}");
            }
        }
        close(y.as_flattened(), y32.as_flattened(), I);
        close(dx.as_flattened(), dx32.as_flattened(), O);
        close(dw.as_flattened(), dw32.as_flattened(), B);
    }

    fn reshape_f32<const R: usize, const C: usize>(flat: &[f32]) -> [[f32; C]; R] {
        core::array::from_fn(|r| core::array::from_fn(|c| flat[r * C + c]))
    }

    #[test]
    fn f32_products_agree_with_f64_on_awkward_shapes() {
        f32_products_agree_with_f64::<1, 3, 17>();
        f32_products_agree_with_f64::<1, 17, 16>();
        f32_products_agree_with_f64::<1, 17, 33>();
        f32_products_agree_with_f64::<1, 64, 63>();
        f32_products_agree_with_f64::<1, 127, 64>();
        f32_products_agree_with_f64::<3, 17, 127>();
        f32_products_agree_with_f64::<17, 64, 3>();
        f32_products_agree_with_f64::<64, 127, 17>();
        f32_products_agree_with_f64::<127, 1, 64>();
    }

    #[test]
    fn dot_handles_every_tail_length() {
        for n in 0..20 {
            let a = test_values::<20>(5);
            let b = test_values::<20>(6);
            let expected: f64 = a[..n].iter().zip(&b[..n]).map(|(x, y)| x * y).sum();
            assert!((dot(&a[..n], &b[..n]) - expected).abs() < 1e-12);
        }
    }

    #[test]
    fn input_gradient_matches_finite_differences() {
        let (x, w, bias, r) = setup();
        let mut dx = [[0.0; I]; B];
        matmul_dx(&r, &w, &mut dx);
        let check = check_gradient(dx.as_flattened(), |k, d| {
            let mut x = x;
            x.as_flattened_mut()[k] += d;
            loss(&x, &w, &bias, &r)
        });
        assert!(check.passes(1e-6), "{check:?}");
    }

    #[test]
    fn weight_gradient_matches_finite_differences_and_accumulates() {
        let (x, w, bias, r) = setup();
        let mut dw = [[0.0; O]; I];
        matmul_dw(&x, &r, &mut dw);
        let check = check_gradient(dw.as_flattened(), |k, d| {
            let mut w = w;
            w.as_flattened_mut()[k] += d;
            loss(&x, &w, &bias, &r)
        });
        assert!(check.passes(1e-6), "{check:?}");

        let once = dw;
        matmul_dw(&x, &r, &mut dw);
        for (twice, once) in dw.as_flattened().iter().zip(once.as_flattened()) {
            assert!((twice - 2.0 * once).abs() < 1e-12);
        }
    }

    #[test]
    fn bias_gradient_matches_finite_differences() {
        let (x, w, bias, r) = setup();
        let mut db = [0.0; O];
        crate::bias::bias_backward(&r, &mut db);
        let check = check_gradient(&db, |k, d| {
            let mut bias = bias;
            bias[k] += d;
            loss(&x, &w, &bias, &r)
        });
        assert!(check.passes(1e-6), "{check:?}");
    }
}
