//! Activation layers: `relu`, `leaky_relu`, `sigmoid`, `tanh`, `gelu` and `identity`.
//!
//! An activation is a parameter-free layer `y = f(x)` applied elementwise. Its backward pass
//! multiplies by `f'`. Sigmoid and tanh have bounded derivatives (at most 1/4 and 1): stacked,
//! they multiply the gradient by a small factor per layer, which is how gradients vanish.
//! ReLU's derivative is exactly 1 wherever the unit is active.

use crate::layer::{Backward, Forward, Param, Trainable};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::{elementwise, Scalar};

/// An elementwise function and its derivative.
pub trait ActivationFn: 'static {
    /// Name used in `network!` and in reports.
    const NAME: &'static str;
    /// The largest value the derivative takes; a unit whose derivative falls below
    /// [`SATURATION`](crate::diagnostics::SATURATION) of it counts as saturated. `None` for functions that do not saturate (ReLU, identity).
    const MAX_DERIVATIVE: Option<f64>;
    /// `f(x)`.
    fn apply<T: Scalar>(x: T) -> T;
    /// `f'(x)`, given both `x` and `y = f(x)`.
    fn derivative<T: Scalar>(x: T, y: T) -> T;
}

/// A parameter-free layer applying `F` to each of `N` features.
#[derive(Zeroable)]
#[zeroable(bound = "")]
pub struct Activation<T, F, const N: usize> {
    marker: PhantomData<(T, F)>,
}

impl<T, F, const N: usize> Default for Activation<T, F, N> {
    fn default() -> Self {
        Self {
            marker: PhantomData,
        }
    }
}

impl<T, F, const N: usize> Clone for Activation<T, F, N> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Two activation layers of one type are equal: they hold no values.
impl<T, F, const N: usize> PartialEq for Activation<T, F, N> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T, F, const N: usize> core::fmt::Debug for Activation<T, F, N>
where
    F: ActivationFn,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}<{}>", F::NAME, N)
    }
}

impl<T: Scalar, F: ActivationFn, const N: usize> Forward<T> for Activation<T, F, N> {
    type Input = [T; N];
    type Output = [T; N];
    type Cache<const B: usize> = ();
    const KIND: &'static str = F::NAME;

    fn forward<const B: usize>(&self, x: &[[T; N]; B], y: &mut [[T; N]; B]) {
        elementwise::map(x, y, F::apply);
    }

    fn forward_train<const B: usize>(&mut self, x: &[[T; N]; B], y: &mut [[T; N]; B], _: &mut ()) {
        elementwise::map(x, y, F::apply);
    }
}

impl<T: Scalar, F: ActivationFn, const N: usize> Trainable<T> for Activation<T, F, N> {
    type Grads = ();

    fn visit_params<const S: usize>(
        &mut self,
        _: &(),
        _: [&mut (); S],
        _: &mut dyn FnMut(Param<'_, T, S>),
    ) {
    }
}

impl<T: Scalar, F: ActivationFn, const N: usize> Backward<T> for Activation<T, F, N> {
    fn backward<const B: usize>(
        &self,
        x: &[[T; N]; B],
        y: &[[T; N]; B],
        _: &(),
        dy: &[[T; N]; B],
        dx: Option<&mut [[T; N]; B]>,
        _: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            elementwise::map_backward(x, y, dy, dx, F::derivative);
        }
    }
}

/// `max(0, x)`; derivative 1 for `x > 0`, else 0.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct ReluFn;
/// `x` for `x > 0`, else `0.01 x`.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct LeakyReluFn;
/// `1 / (1 + e^-x)`; derivative `y (1 - y)`, at most 1/4.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct SigmoidFn;
/// `tanh x`; derivative `1 - y^2`, at most 1.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct TanhFn;
/// `x Phi(x)` with `Phi` the standard normal CDF (the exact GELU, as PyTorch's default).
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct GeluFn;
/// `x`.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct IdentityFn;

/// Slope of [`LeakyReluFn`] for negative inputs.
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

impl ActivationFn for ReluFn {
    const NAME: &'static str = "relu";
    const MAX_DERIVATIVE: Option<f64> = None;
    #[inline]
    fn apply<T: Scalar>(x: T) -> T {
        // Written so that NaN passes through (as in PyTorch) instead of hiding as 0.
        if x < T::ZERO {
            T::ZERO
        } else {
            x
        }
    }
    #[inline]
    fn derivative<T: Scalar>(x: T, _: T) -> T {
        if x > T::ZERO {
            T::ONE
        } else {
            T::ZERO
        }
    }
}

impl ActivationFn for LeakyReluFn {
    const NAME: &'static str = "leaky_relu";
    const MAX_DERIVATIVE: Option<f64> = None;
    #[inline]
    fn apply<T: Scalar>(x: T) -> T {
        if x < T::ZERO {
            x * T::from_f64(LEAKY_RELU_SLOPE)
        } else {
            x
        }
    }
    #[inline]
    fn derivative<T: Scalar>(x: T, _: T) -> T {
        if x > T::ZERO {
            T::ONE
        } else {
            T::from_f64(LEAKY_RELU_SLOPE)
        }
    }
}

impl ActivationFn for SigmoidFn {
    const NAME: &'static str = "sigmoid";
    const MAX_DERIVATIVE: Option<f64> = Some(0.25);
    #[inline]
    fn apply<T: Scalar>(x: T) -> T {
        // Two branches so that exp never overflows.
        if x >= T::ZERO {
            T::ONE / (T::ONE + (-x).exp())
        } else {
            let e = x.exp();
            e / (T::ONE + e)
        }
    }
    #[inline]
    fn derivative<T: Scalar>(_: T, y: T) -> T {
        y * (T::ONE - y)
    }
}

impl ActivationFn for TanhFn {
    const NAME: &'static str = "tanh";
    const MAX_DERIVATIVE: Option<f64> = Some(1.0);
    #[inline]
    fn apply<T: Scalar>(x: T) -> T {
        x.tanh()
    }
    #[inline]
    fn derivative<T: Scalar>(_: T, y: T) -> T {
        T::ONE - y * y
    }
}

/// The standard normal CDF, `erfc(-x / sqrt 2) / 2`: through `erfc` rather than `1 + erf`, so
/// that its left tail keeps its digits (GELU(-10) is -7.6e-23, not the -0 that `1 + erf`
/// rounds to).
fn gelu_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2)
}

impl ActivationFn for GeluFn {
    const NAME: &'static str = "gelu";
    const MAX_DERIVATIVE: Option<f64> = None;
    #[inline]
    fn apply<T: Scalar>(x: T) -> T {
        let x = x.to_f64();
        if x == f64::NEG_INFINITY {
            // -inf * Phi(-inf) is -inf * 0; the limit is 0.
            return T::ZERO;
        }
        T::from_f64(x * gelu_cdf(x))
    }
    #[inline]
    fn derivative<T: Scalar>(x: T, _: T) -> T {
        let x = x.to_f64();
        let cdf = gelu_cdf(x);
        if x.is_infinite() {
            // x * pdf(x) is inf * 0 at either end; its limit is 0.
            return T::from_f64(cdf);
        }
        let pdf = libm::exp(-0.5 * x * x)
            * (0.5 * core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2);
        T::from_f64(cdf + x * pdf)
    }
}

impl ActivationFn for IdentityFn {
    const NAME: &'static str = "identity";
    const MAX_DERIVATIVE: Option<f64> = None;
    #[inline]
    fn apply<T: Scalar>(x: T) -> T {
        x
    }
    #[inline]
    fn derivative<T: Scalar>(_: T, _: T) -> T {
        T::ONE
    }
}

/// ReLU layer of width `N`.
pub type Relu<T, const N: usize> = Activation<T, ReluFn, N>;
/// Leaky ReLU layer (slope 0.01) of width `N`.
pub type LeakyRelu<T, const N: usize> = Activation<T, LeakyReluFn, N>;
/// Sigmoid layer of width `N`.
pub type Sigmoid<T, const N: usize> = Activation<T, SigmoidFn, N>;
/// Tanh layer of width `N`.
pub type Tanh<T, const N: usize> = Activation<T, TanhFn, N>;
/// GELU layer of width `N`.
pub type Gelu<T, const N: usize> = Activation<T, GeluFn, N>;
/// Identity layer of width `N`.
pub type Identity<T, const N: usize> = Activation<T, IdentityFn, N>;

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    fn check<F: ActivationFn>() {
        // Inputs in [-3, 3), kept away from ReLU's kink at 0.
        let x: [[f64; 6]; 4] = core::array::from_fn(|b| {
            gradflow_tensor::gradcheck::test_values::<6>(b as u64 + 20).map(|v| {
                if v.abs() < 0.05 {
                    0.5
                } else {
                    3.0 * v
                }
            })
        });
        let mut layer = Activation::<f64, F, 6>::default();
        let report = check_layer(&mut layer, &x);
        assert!(report.passes(1e-6), "{}: {report:?}", F::NAME);
    }

    #[test]
    fn every_activation_gradient_matches_finite_differences() {
        check::<ReluFn>();
        check::<LeakyReluFn>();
        check::<SigmoidFn>();
        check::<TanhFn>();
        check::<GeluFn>();
        check::<IdentityFn>();
    }

    #[test]
    fn values_match_definitions() {
        assert_eq!(ReluFn::apply(-2.0f32), 0.0);
        assert!(ReluFn::apply(f32::NAN).is_nan() && LeakyReluFn::apply(f64::NAN).is_nan());
        assert_eq!(LeakyReluFn::apply(-2.0f64), -0.02);
        assert!((SigmoidFn::apply(0.0f64) - 0.5).abs() < 1e-15);
        assert!(SigmoidFn::apply(-1000.0f32).is_finite());
        assert!((SigmoidFn::apply(1000.0f32) - 1.0).abs() < 1e-7);
        // GELU(1) = Phi(1) = 0.8413447460685429.
        assert!((GeluFn::apply(1.0f64) - 0.8413447460685429).abs() < 1e-12);
        assert!((SigmoidFn::derivative(0.0f64, 0.5) - 0.25).abs() < 1e-15);
    }

    /// GELU at the ends: limits, not inf * 0, and a left tail that keeps its digits.
    #[test]
    fn gelu_tails_and_infinities() {
        // GELU(-10) = -10 Phi(-10) = -7.619853e-23.
        let tail = GeluFn::apply(-10.0f64);
        assert!(
            (tail / -7.619853024160527e-23 - 1.0).abs() < 1e-9,
            "{tail:e}"
        );
        assert!(GeluFn::apply(-10.0f32) < 0.0);
        assert_eq!(GeluFn::apply(f64::NEG_INFINITY), 0.0);
        assert_eq!(GeluFn::apply(f32::INFINITY), f32::INFINITY);
        assert_eq!(GeluFn::derivative(f64::INFINITY, 0.0), 1.0);
        assert_eq!(GeluFn::derivative(f32::NEG_INFINITY, 0.0), 0.0);
        assert_eq!(GeluFn::derivative(-1e4f64, 0.0), 0.0);
        assert!(GeluFn::apply(f64::NAN).is_nan() && GeluFn::derivative(f32::NAN, 0.0).is_nan());
    }
}
