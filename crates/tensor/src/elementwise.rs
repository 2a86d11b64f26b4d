//! Elementwise maps `y = f(x)` and their backward `dx = dy * f'(x, y)`.
//!
//! The derivative receives both the input and the output, so that functions whose derivative
//! is cheapest in terms of the output (sigmoid: `y (1 - y)`, tanh: `1 - y^2`) need no
//! recomputation.

use crate::Scalar;

/// `y[b][n] = f(x[b][n])`. Overwrites `y`.
#[inline]
pub fn map<T: Scalar, const B: usize, const N: usize>(
    x: &[[T; N]; B],
    y: &mut [[T; N]; B],
    f: impl Fn(T) -> T,
) {
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        for (&x, y) in xr.iter().zip(yr.iter_mut()) {
            *y = f(x);
        }
    }
}

/// Backward of [`map`]: `dx = dy * df(x, y)`. Overwrites `dx`.
#[inline]
pub fn map_backward<T: Scalar, const B: usize, const N: usize>(
    x: &[[T; N]; B],
    y: &[[T; N]; B],
    dy: &[[T; N]; B],
    dx: &mut [[T; N]; B],
    df: impl Fn(T, T) -> T,
) {
    for (((xr, yr), dyr), dxr) in x.iter().zip(y).zip(dy).zip(dx.iter_mut()) {
        for (((&x, &y), &g), dx) in xr.iter().zip(yr).zip(dyr).zip(dxr.iter_mut()) {
            *dx = g * df(x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    #[test]
    fn tanh_map_gradient_matches_finite_differences() {
        let x = [test_values::<6>(1), test_values::<6>(2)];
        let r = [test_values::<6>(3), test_values::<6>(4)];
        let loss = |x: &[[f64; 6]; 2]| {
            let mut y = [[0.0; 6]; 2];
            map(x, &mut y, Scalar::tanh);
            y.iter()
                .flatten()
                .zip(r.iter().flatten())
                .map(|(y, r)| y * r)
                .sum::<f64>()
        };
        let mut y = [[0.0; 6]; 2];
        map(&x, &mut y, Scalar::tanh);
        let mut dx = [[0.0; 6]; 2];
        map_backward(&x, &y, &r, &mut dx, |_, y| 1.0 - y * y);
        let check = check_gradient(dx.as_flattened(), |k, d| {
            let mut x = x;
            x.as_flattened_mut()[k] += d;
            loss(&x)
        });
        assert!(check.passes(1e-6), "{check:?}");
    }
}
