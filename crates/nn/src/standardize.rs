//! `Standardize`: per-feature input standardization `y = (x - mean) / std`, fitted on the
//! training data, stored with the network and never trained.
//!
//! Features on wildly different scales (breast_cancer's run from 0.01 to 4000) push sigmoid
//! and tanh units deep into saturation, where their derivative is nearly zero: the first
//! layer's gradients vanish before training starts. Standardizing puts every feature at mean
//! 0 and spread 1.

use crate::layer::{Backward, Forward, Param, Tensor, TensorKind, TensorMut, Trainable};
use bytemuck::Zeroable;
use gradflow_tensor::{sq, Scalar};

/// The smallest standard deviation a standardizer divides by (`f32::MIN_POSITIVE`, the
/// smallest normal `f32`): `fit` treats a smaller spread as none (std 1), and loading refuses
/// a stored one. A feature measured in tiny units (capacitances of 1e-13 F) is still scaled.
pub const MIN_STD: f64 = 1.1754943508222875e-38;

/// A spread below this fraction of a feature's mean magnitude is rounding, not data: `fit`
/// treats the feature as constant (std 1), so that it is centered, not blown up.
pub const MIN_RELATIVE_STD: f64 = 1e-12;

/// Per-feature standardization of `N` inputs.
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Standardize<T, const N: usize> {
    /// Mean of each feature over the fitting data.
    pub mean: [T; N],
    /// Population standard deviation of each feature (1 for constant features).
    pub std: [T; N],
}

impl<T: Scalar, const N: usize> Standardize<T, N> {
    const SHAPE: [usize; 1] = [N];

    /// The identity: mean 0, std 1.
    pub fn identity() -> Self {
        Self {
            mean: [T::ZERO; N],
            std: [T::ONE; N],
        }
    }

    /// Makes this the identity in place: building [`Standardize::identity`] first would put
    /// all of it on the stack, which a wide layer in a boxed network overflows.
    fn reset(&mut self) {
        self.mean.fill(T::ZERO);
        self.std.fill(T::ONE);
    }

    /// Fits mean and standard deviation to `samples` (in f64, whatever `T` is), ignoring NaN and
    /// infinite values. With no samples it becomes the identity.
    pub fn fit(&mut self, samples: &[[T; N]]) {
        self.reset();
        if samples.is_empty() {
            return;
        }
        for n in 0..N {
            // NaN and infinite values are left out of the statistics rather than spreading NaN
            // into every future prediction.
            let finite = || {
                samples
                    .iter()
                    .map(|s| s[n].to_f64())
                    .filter(|v| v.is_finite())
            };
            let count = finite().count().max(1) as f64;
            // Summed as deviations from the first value: a plain sum of 1797 copies of 123.4
            // carries a rounding error that would pass for a spread of 1e-12 and blow a
            // constant feature up to 1e11; deviations from a member of the column are exact 0.
            let first = finite().next().unwrap_or(0.0);
            let mut mean = first + finite().map(|v| v - first).sum::<f64>() / count;
            if !mean.is_finite() {
                // The sum overflowed (f64 values near 1e308): average the shares instead.
                mean = finite().map(|v| v / count).sum::<f64>();
            }
            let var = finite().map(|v| sq(v - mean)).sum::<f64>() / count;
            let std = if var.is_finite() {
                libm::sqrt(var)
            } else {
                // The squares overflowed (f64 values beyond 1e154): scale the deviations by
                // the largest first, so that a representable spread is still found. Halved,
                // since a deviation itself may exceed f64::MAX (1.7e308 - -1.7e308).
                let half = |v: f64| v / 2.0 - mean / 2.0;
                let scale = finite().map(|v| half(v).abs()).fold(0.0, f64::max);
                let mean_sq = finite().map(|v| sq(half(v) / scale)).sum::<f64>() / count;
                2.0 * (scale * libm::sqrt(mean_sq))
            };
            // Decided on the stored value: an f32 just above MIN_STD in f64 may round below it,
            // and a file must hold only what loading accepts (at least MIN_STD).
            let std = T::from_f64(std);
            self.mean[n] = T::from_f64(mean);
            let spread = std.to_f64();
            self.std[n] = if spread.is_finite()
                && spread >= MIN_STD
                && spread > mean.abs() * MIN_RELATIVE_STD
            {
                std
            } else {
                T::ONE
            };
        }
    }

    /// A standardizer fitted to `samples`.
    pub fn fitted(samples: &[[T; N]]) -> Self {
        let mut s = Self::identity();
        s.fit(samples);
        s
    }
}

impl<T: Scalar, const N: usize> Forward<T> for Standardize<T, N> {
    type Input = [T; N];
    type Output = [T; N];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "standardize";
    const PARAM_COUNT: usize = 2 * N;

    fn init(&mut self, _: &mut dyn rand::RngCore) {
        self.reset();
    }

    fn forward<const B: usize>(&self, x: &[[T; N]; B], y: &mut [[T; N]; B]) {
        for (xb, yb) in x.iter().zip(y.iter_mut()) {
            for n in 0..N {
                yb[n] = (xb[n] - self.mean[n]) / self.std[n];
            }
        }
    }

    fn forward_train<const B: usize>(&mut self, x: &[[T; N]; B], y: &mut [[T; N]; B], _: &mut ()) {
        self.forward(x, y);
    }

    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, T>)) {
        let (kind, shape) = (TensorKind::Statistic, &Self::SHAPE);
        f(Tensor {
            layer: "",
            name: "mean",
            kind,
            shape,
            data: &self.mean,
        });
        f(Tensor {
            layer: "",
            name: "std",
            kind,
            shape,
            data: &self.std,
        });
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, T>)) {
        let (kind, shape) = (TensorKind::Statistic, &Self::SHAPE);
        f(TensorMut {
            layer: "",
            name: "mean",
            kind,
            shape,
            data: &mut self.mean,
        });
        f(TensorMut {
            layer: "",
            name: "std",
            kind,
            shape,
            data: &mut self.std,
        });
    }
}

impl<T: Scalar, const N: usize> Trainable<T> for Standardize<T, N> {
    type Grads = ();
    fn visit_params<const S: usize>(
        &mut self,
        _: &(),
        _: [&mut (); S],
        _: &mut dyn FnMut(Param<'_, T, S>),
    ) {
    }
}

impl<T: Scalar, const N: usize> Backward<T> for Standardize<T, N> {
    fn backward<const B: usize>(
        &self,
        _: &[[T; N]; B],
        _: &[[T; N]; B],
        _: &(),
        dy: &[[T; N]; B],
        dx: Option<&mut [[T; N]; B]>,
        _: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            for (dxb, dyb) in dx.iter_mut().zip(dy) {
                for n in 0..N {
                    dxb[n] = dyb[n] / self.std[n];
                }
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn fit_centers_and_scales_and_survives_constant_features() {
        let s = Standardize::<f64, 2>::fitted(&[[1.0, 5.0], [3.0, 5.0]]);
        assert_eq!(s.mean, [2.0, 5.0]);
        assert_eq!(s.std, [1.0, 1.0]);
        let mut y = [[0.0; 2]; 1];
        s.forward(&[[4.0, 5.0]], &mut y);
        assert_eq!(y, [[2.0, 0.0]]);
        assert_eq!(Standardize::<f32, 2>::fitted(&[]), Standardize::identity());
        let with_nan = Standardize::<f64, 1>::fitted(&[[1.0], [f64::NAN], [3.0], [f64::INFINITY]]);
        assert_eq!((with_nan.mean, with_nan.std), ([2.0], [1.0]));
    }

    /// A feature in tiny units is scaled like any other: its spread is far above rounding.
    /// Below `MIN_STD`, or below `MIN_RELATIVE_STD` of its mean (a last-digit difference), a
    /// spread counts as none.
    #[test]
    fn tiny_spreads_are_scaled_unless_they_are_rounding() {
        let farads = Standardize::<f32, 1>::fitted(&[[1e-13], [3e-13], [5e-13]]);
        let std = 1e-13 * libm::sqrt(8.0 / 3.0);
        assert!(
            (farads.std[0] as f64 / std - 1.0).abs() < 1e-6,
            "{farads:?}"
        );
        let mut y = [[0.0f32; 1]; 1];
        farads.forward(&[[1e-13]], &mut y);
        assert!((y[0][0] + 1.2247).abs() < 1e-3, "{y:?}");
        let tiny = Standardize::<f64, 1>::fitted(&[[1e-20], [3e-20]]);
        assert!((tiny.std[0] / 1e-20 - 1.0).abs() < 1e-12, "{tiny:?}");
        let subnormal = Standardize::<f64, 1>::fitted(&[[0.0], [2e-39]]);
        assert_eq!(subnormal.std, [1.0]);
        let last_digit = Standardize::<f64, 1>::fitted(&[[0.3], [0.1 + 0.2]]);
        assert_eq!(last_digit.std, [1.0]);
        let small_but_real = Standardize::<f64, 1>::fitted(&[[1000.0], [1000.000001]]);
        assert!((small_but_real.std[0] / 5e-7 - 1.0).abs() < 1e-6);
    }

    /// A constant f64 column is constant, whatever its value and length: a plain sum's
    /// rounding once passed for a spread of 1e-12 and scaled 1234.5678 + 1 up to 7e11.
    #[test]
    fn a_constant_f64_column_gets_std_one_at_any_value() {
        for value in [1234.5678, 123.4, 999.99, 0.1, -7.3e5, 3.3e100] {
            for rows in [3, 100, 569, 1797] {
                let column = std::vec![[value]; rows];
                let s = Standardize::<f64, 1>::fitted(&column);
                assert_eq!((s.mean, s.std), ([value], [1.0]), "{value} x {rows}");
            }
        }
    }

    /// f64 features whose squares (or sum) overflow still get their spread, not the identity
    /// they silently got before.
    #[test]
    fn huge_f64_features_are_still_scaled() {
        let s =
            Standardize::<f64, 2>::fitted(&[[1e200, 1e308], [-1e200, 1.5e308], [3e200, 1.7e308]]);
        assert_eq!(s.mean[0], 1e200);
        let std0 = 1e200 * libm::sqrt(8.0 / 3.0);
        assert!((s.std[0] / std0 - 1.0).abs() < 1e-12, "{:?}", s.std);
        let mean1 = 1.4e308;
        assert!((s.mean[1] / mean1 - 1.0).abs() < 1e-12, "{:?}", s.mean);
        let std1 = libm::sqrt(
            ([1e308, 1.5e308, 1.7e308].map(|v: f64| ((v - mean1) / 1e300).powi(2)))
                .iter()
                .sum::<f64>()
                / 3.0,
        ) * 1e300;
        assert!((s.std[1] / std1 - 1.0).abs() < 1e-12, "{:?}", s.std);
        let mut y = [[0.0; 2]; 1];
        s.forward(&[[3e200, 1.7e308]], &mut y);
        assert!(y[0].iter().all(|v| v.is_finite() && v.abs() < 2.0), "{y:?}");
        // Deviations beyond f64::MAX themselves: 1.7e308 - (-1.7e308).
        let s = Standardize::<f64, 1>::fitted(&[[1.7e308], [1.7e308], [-1.7e308]]);
        let std = 2.0 * libm::sqrt(2.0) / 3.0 * 1.7e308;
        assert!((s.std[0] / std - 1.0).abs() < 1e-12, "{:?}", s.std);
    }

    #[test]
    fn input_gradient_matches_finite_differences_and_nothing_is_trained() {
        let mut s = Standardize::<f64, 3>::fitted(&[
            [1.0, 100.0, 0.01],
            [4.0, 900.0, 0.03],
            [2.0, 50.0, 0.02],
        ]);
        let x = [[1.5, 400.0, 0.015], [3.0, 20.0, 0.025]];
        let report = check_layer(&mut s, &x);
        assert!(report.input.passes(1e-6), "{report:?}");
        assert!(report.params.is_empty());
    }
}
