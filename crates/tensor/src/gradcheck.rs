//! Central finite differences in f64: the one helper every gradient check in gradflow uses.
//!
//! A check compares an analytic gradient with `(L(x + h) - L(x - h)) / 2h` element by element.
//! The caller supplies `loss_with(i, delta)`, which evaluates the loss with element `i` of the
//! checked tensor moved by `delta` (and restores it), so the same helper serves inputs,
//! weights and whole networks.

/// Step of the central difference. With f64 this balances truncation (O(h^2)) against
/// round-off (O(eps_machine / h)).
pub const STEP: f64 = 1e-6;

/// Central differences in f64 carry a round-off error near `eps * |L| / STEP`
/// (`eps = 2.2e-16`), about `2e-10 |L|`. A gradient is compared against at least
/// `NOISE_MARGIN` times that noise, so that noise alone reads as a relative error of at most
/// `1 / NOISE_MARGIN = 1e-7`: below `2e-3 |L|` the check is absolute, with a tolerance of
/// `2e-9 |L|` at the 1e-6 bar. A gradient twice too large is caught whenever the difference
/// exceeds that.
pub const NOISE_MARGIN: f64 = 1e7;

/// Elements smaller than this fraction of their tensor's largest gradient are compared at
/// that level, so a near-zero element is not judged by its own round-off noise.
pub const RELATIVE_FLOOR: f64 = 1e-2;

/// The outcome of a gradient check: the worst element and its relative error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    /// Largest `|a - n| / max(|a|, |n|, floor)` over all elements, `a` analytic, `n` numeric,
    /// `floor = max(RELATIVE_FLOOR * max|a|, NOISE_MARGIN * eps * |L| / STEP)`.
    pub max_rel_error: f64,
    /// Index of the element with that error.
    pub worst_index: usize,
    /// Analytic gradient at that element.
    pub analytic: f64,
    /// Finite-difference gradient at that element.
    pub numeric: f64,
    /// Largest analytic gradient magnitude seen.
    pub max_abs_analytic: f64,
    /// The floor of the comparison (see [`NOISE_MARGIN`]).
    pub floor: f64,
}

impl GradCheck {
    /// Whether every element agrees to within `tolerance`.
    pub fn passes(&self, tolerance: f64) -> bool {
        self.max_rel_error < tolerance
    }

    /// Whether the gradient rises above the comparison's floor, so that the check says more
    /// than "consistent with zero".
    pub fn is_informative(&self) -> bool {
        self.max_abs_analytic > self.floor
    }
}

/// Compares `analytic` (one tensor's gradient) with central differences of `loss_with(i, delta)`.
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
        floor: 0.0,
    };
    if analytic.is_empty() {
        return worst;
    }
    let loss = loss_with(0, 0.0).abs();
    let largest = analytic.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let floor = (RELATIVE_FLOOR * largest).max(NOISE_MARGIN * f64::EPSILON * loss / STEP);
    worst.max_abs_analytic = largest;
    worst.floor = floor;
    for (i, &a) in analytic.iter().enumerate() {
        let numeric = (loss_with(i, STEP) - loss_with(i, -STEP)) / (2.0 * STEP);
        let rel = (a - numeric).abs() / a.abs().max(numeric.abs()).max(floor);
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
    fn a_one_percent_error_fails_and_tiny_wrong_gradients_are_not_waved_through() {
        // L = sum(c_i x_i): the gradient is c.
        for c in [[3.0, -2.0], [1e-3, 2e-3]] {
            let loss = |i: usize, d: f64| {
                c[0] * (1.0 + if i == 0 { d } else { 0.0 }) + c[1] * if i == 1 { d } else { 0.0 }
            };
            assert!(check_gradient(&c, loss).passes(1e-6));
            let off = [c[0] * 1.01, c[1]];
            assert!(!check_gradient(&off, loss).passes(1e-6), "{c:?}");
        }
        // Twice the true gradient of order 1e-8, with a loss of order 1, is caught too.
        let c = [1e-8, 2e-8];
        let loss = |i: usize, d: f64| 1.0 + c[i] * d;
        assert!(check_gradient(&c, loss).passes(1e-6));
        assert!(!check_gradient(&[2e-8, 4e-8], loss).passes(1e-6));
    }

    #[test]
    fn a_zero_gradient_is_right_only_where_the_function_is_flat() {
        let flat = check_gradient(&[0.0], |_, _| 1.0);
        assert!(flat.passes(1e-6) && !flat.is_informative());
        let sloped = check_gradient(&[0.0], |_, d| 1.0 + 0.5 * d);
        assert!(!sloped.passes(1e-6));
    }

    #[test]
    fn test_values_are_in_range_and_vary() {
        let v = test_values::<64>(3);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(v.windows(2).any(|w| w[0] != w[1]));
    }
}
