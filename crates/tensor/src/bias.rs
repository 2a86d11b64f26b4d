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
