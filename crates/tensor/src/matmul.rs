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

use crate::Scalar;

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
    for row in y.iter_mut() {
        *row = *bias;
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
