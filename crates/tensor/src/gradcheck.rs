//! Central finite differences in f64: the one helper every gradient check in gradflow uses.
//!
//! A check compares an analytic gradient with `(L(x + h) - L(x - h)) / 2h` element by element.
//! The caller supplies `loss_with(i, delta)`, which evaluates the loss with element `i` of the
//! checked tensor moved by `delta` (and restores it), so the same helper serves inputs,
//! weights and whole networks.

/// Step of the central difference. With f64 this balances truncation (O(h^2)) against
/// round-off (O(eps_machine / h)).
pub const STEP: f64 = 1e-6;

/// Gradients smaller than this are compared absolutely: `|a - n| / max(|a|, |n|, FLOOR)`.
/// It keeps round-off noise on near-zero gradients from reading as a large relative error.
pub const FLOOR: f64 = 1e-2;

/// The outcome of a gradient check: the worst element and its relative error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    /// Largest `|analytic - numeric| / max(|analytic|, |numeric|, FLOOR)` over all elements.
    pub max_rel_error: f64,
    /// Index of the element with that error.
    pub worst_index: usize,
    /// Analytic gradient at that element.
    pub analytic: f64,
    /// Finite-difference gradient at that element.
    pub numeric: f64,
    /// Largest analytic gradient magnitude seen (a check of an all-zero gradient proves little).
    pub max_abs_analytic: f64,
}

impl GradCheck {
    /// Whether every element agrees to within `tolerance` and the gradient is not trivially zero.
    pub fn passes(&self, tolerance: f64) -> bool {
        self.max_rel_error < tolerance && self.max_abs_analytic > 0.0
    }
}

/// Compares `analytic` with central differences of `loss_with(i, delta)`.
///
/// ```
/// use gradflow_tensor::gradcheck::check_gradient;
/// // L(x) = x0^2 + 3 x1, so dL/dx = [2 x0, 3].
/// let x = [1.5f64, -2.0];
/// let analytic = [3.0, 3.0];
/// let check = check_gradient(&analytic, |i, d| {
///     let mut x = x;
///     x[i] += d;
///     x[0] * x[0] + 3.0 * x[1]
/// });
/// assert!(check.passes(1e-6), "{check:?}");
/// ```
pub fn check_gradient(analytic: &[f64], mut loss_with: impl FnMut(usize, f64) -> f64) -> GradCheck {
    let mut worst = GradCheck {
        max_rel_error: 0.0,
        worst_index: 0,
        analytic: 0.0,
        numeric: 0.0,
        max_abs_analytic: 0.0,
    };
    for (i, &a) in analytic.iter().enumerate() {
        let numeric = (loss_with(i, STEP) - loss_with(i, -STEP)) / (2.0 * STEP);
        let scale = a.abs().max(numeric.abs()).max(FLOOR);
        let rel = (a - numeric).abs() / scale;
        worst.max_abs_analytic = worst.max_abs_analytic.max(a.abs());
        if rel.is_nan() || rel > worst.max_rel_error {
            worst.max_rel_error = rel;
            worst.worst_index = i;
            worst.analytic = a;
            worst.numeric = numeric;
        }
    }
    worst
}

/// Deterministic pseudo-random values in `[-1, 1)` for test inputs (a small LCG, so that
/// kernels' tests need no RNG crate).
pub fn test_values<const N: usize>(seed: u64) -> [f64; N] {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    core::array::from_fn(|_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_a_wrong_gradient() {
        let x = [0.7f64, -0.3];
        let wrong = [2.0 * 0.7, 1.0]; // true gradient of x0^2 + 3 x1 is [1.4, 3.0]
        let check = check_gradient(&wrong, |i, d| {
            let mut x = x;
            x[i] += d;
            x[0] * x[0] + 3.0 * x[1]
        });
        assert!(!check.passes(1e-6));
        assert_eq!(check.worst_index, 1);
    }

    #[test]
    fn all_zero_gradient_does_not_pass() {
        let check = check_gradient(&[0.0], |_, _| 1.0);
        assert!(!check.passes(1e-6));
    }

    #[test]
    fn test_values_are_in_range_and_vary() {
        let v = test_values::<64>(3);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(v.windows(2).any(|w| w[0] != w[1]));
    }
}
