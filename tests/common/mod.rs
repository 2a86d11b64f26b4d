//! Helpers shared by the integration tests (each test file includes this with `mod common;`).

use gradflow::tensor::gradcheck::test_values;

/// `B` rows of `N` inputs in [-2, 2), seeded, nudged away from 0 so no ReLU sits on its kink
/// (finite differences across a kink disagree with the analytic gradient).
pub fn batch<const B: usize, const N: usize>(seed: u64) -> [[f64; N]; B] {
    core::array::from_fn(|b| {
        test_values::<N>(seed + b as u64).map(|v| if v.abs() < 0.05 { 0.7 } else { 2.0 * v })
    })
}
