//! Numerically stable softmax and log-softmax over one sample, with their backward passes.
//! They take slices, so that code generic over a network's output type can call them.
//!
//! Both subtract the sample's maximum before exponentiating, so large logits never overflow.

use crate::Scalar;

fn max_of<T: Scalar>(x: &[T]) -> T {
    x.iter().copied().fold(x[0], Scalar::max)
}

/// Pairs of equal-length slices are the contract of every function here: a longer slice's
/// extra elements are neither read nor written, so each function works on the common prefix.
#[inline]
fn len2<T>(a: &[T], b: &[T]) -> usize {
    a.len().min(b.len())
}

/// `y = exp(x - max x)`: overwrites `y` and returns `(max x, sum y)`, the shared first step of
/// [`softmax`] and the fused softmax cross-entropy. `(T::ZERO, T::ZERO)` for empty slices.
pub fn exp_shifted<T: Scalar>(x: &[T], y: &mut [T]) -> (T, T) {
    let n = len2(x, y);
    if n == 0 {
        return (T::ZERO, T::ZERO);
    }
    let (x, y) = (&x[..n], &mut y[..n]);
    let m = max_of(x);
    let mut sum = T::ZERO;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x - m).exp();
        sum += *y;
    }
    (m, sum)
}

/// `y = exp(x - max x) / sum(exp(x - max x))`. Overwrites `y`.
pub fn softmax<T: Scalar>(x: &[T], y: &mut [T]) {
    let n = len2(x, y);
    if n == 0 {
        return;
    }
    let y = &mut y[..n];
    let (_, sum) = exp_shifted(x, y);
    let inv = T::ONE / sum;
    for y in y.iter_mut() {
        *y *= inv;
    }
}

/// Backward of [`softmax`] given its output `y`: `dx = y * (dy - sum(dy * y))`.
pub fn softmax_backward<T: Scalar>(y: &[T], dy: &[T], dx: &mut [T]) {
    let n = len2(y, dy).min(dx.len());
    let (y, dy) = (&y[..n], &dy[..n]);
    let mut s = T::ZERO;
    for (&y, &g) in y.iter().zip(dy) {
        s += y * g;
    }
    for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
        *dx = y * (g - s);
    }
}

/// `y = (x - max x) - ln(sum(exp(x - max x)))`. Overwrites `y`.
///
/// The shifted logit and the log-sum are subtracted as they are: folding the maximum into the
/// log-sum first (`x - (max x + ln sum)`) would round `ln sum` to the precision of a large
/// maximum, and with logits in the thousands lose most of the result's digits.
pub fn log_softmax<T: Scalar>(x: &[T], y: &mut [T]) {
    let n = len2(x, y);
    if n == 0 {
        return;
    }
    let x = &x[..n];
    let m = max_of(x);
    let mut sum = T::ZERO;
    for &x in x {
        sum += (x - m).exp();
    }
    let log_sum = sum.ln();
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x - m) - log_sum;
    }
}

/// Backward of [`log_softmax`] given its output `y`: `dx = dy - exp(y) * sum(dy)`.
pub fn log_softmax_backward<T: Scalar>(y: &[T], dy: &[T], dx: &mut [T]) {
    let n = len2(y, dy).min(dx.len());
    let (y, dy) = (&y[..n], &dy[..n]);
    let mut s = T::ZERO;
    for &g in dy {
        s += g;
    }
    for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
        *dx = g - y.exp() * s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    #[test]
    fn softmax_sums_to_one_and_survives_huge_logits() {
        let mut y = [0.0f32; 3];
        softmax(&[1000.0f32, 1001.0, 1002.0], &mut y);
        assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(y.iter().all(|v| v.is_finite()));
        assert!(y[2] > y[1] && y[1] > y[0]);
        // f32 resolves 1002 only to about 6e-5, so compare log-softmax in f64.
        let mut l = [0.0f64; 3];
        log_softmax(&[1000.0, 1001.0, 1002.0], &mut l);
        assert!(l.iter().all(|v| v.is_finite()));
        assert!((Scalar::exp(l[2]) - y[2] as f64).abs() < 1e-6);
    }

    #[test]
    fn log_softmax_keeps_its_digits_next_to_a_large_maximum() {
        let mut y = [0.0f32; 3];
        log_softmax(&[1e4f32, 1e4 - 3.0, 0.0], &mut y);
        let want = -(1.0 + (-3f64).exp()).ln();
        assert!(((y[0] as f64 - want) / want).abs() < 1e-6, "{y:?}");
        assert!(
            ((y[1] as f64 - (want - 3.0)) / (want - 3.0)).abs() < 1e-6,
            "{y:?}"
        );
    }

    fn check<F, G>(forward: F, backward: G)
    where
        F: Fn(&[f64], &mut [f64]),
        G: Fn(&[f64], &[f64], &mut [f64]),
    {
        let x = test_values::<7>(11).map(|v| 3.0 * v);
        let r = test_values::<7>(12);
        let loss = |x: &[f64; 7]| {
            let mut y = [0.0; 7];
            forward(x, &mut y);
            y.iter().zip(&r).map(|(y, r)| y * r).sum::<f64>()
        };
        let mut y = [0.0; 7];
        forward(&x, &mut y);
        let mut dx = [0.0; 7];
        backward(&y, &r, &mut dx);
        let result = check_gradient(&dx, |k, d| {
            let mut x = x;
            x[k] += d;
            loss(&x)
        });
        assert!(result.passes(1e-6), "{result:?}");
    }

    #[test]
    fn softmax_gradient_matches_finite_differences() {
        check(softmax, softmax_backward);
    }

    #[test]
    fn log_softmax_gradient_matches_finite_differences() {
        check(log_softmax, log_softmax_backward);
    }

    #[test]
    fn a_longer_slice_is_cut_to_the_common_prefix() {
        // The extra logit would set the shift: every kept term would underflow to 0.
        let mut y = [7.0f64, 5.0];
        softmax(&[0.0, 1000.0], &mut y[..1]);
        assert_eq!(y, [1.0, 5.0]);
        let mut y = [0.0f64, 0.0, 5.0];
        softmax(&[0.0, 0.0], &mut y);
        assert_eq!(y, [0.5, 0.5, 5.0]);
        let mut l = [0.0f64];
        log_softmax(&[0.0, 1000.0], &mut l);
        assert_eq!(l, [0.0]);
        let mut y = [0.0f64];
        assert_eq!(exp_shifted(&[2.0, 1000.0], &mut y), (2.0, 1.0));
        // Backward passes: the gradient of the prefix alone, whichever slice is longer.
        let (y, dy) = ([0.25f64, 0.75], [1.0, -1.0]);
        let mut want = [0.0; 2];
        softmax_backward(&y, &dy, &mut want);
        for (a, b, c) in [(3, 2, 2), (2, 3, 2), (2, 2, 3)] {
            let (y, dy) = ([0.25, 0.75, 9.0], [1.0, -1.0, 9.0]);
            let mut dx = [4.0; 3];
            softmax_backward(&y[..a], &dy[..b], &mut dx[..c]);
            assert_eq!(dx[..2], want, "{a} {b} {c}");
            assert_eq!(dx[2], 4.0);
        }
        let mut want = [0.0; 2];
        log_softmax_backward(&[-1.0, -0.5], &dy, &mut want);
        let mut dx = [4.0; 3];
        log_softmax_backward(&[-1.0, -0.5], &[1.0, -1.0, 9.0], &mut dx);
        assert_eq!(dx[..2], want);
        assert_eq!(dx[2], 4.0);
    }
}
