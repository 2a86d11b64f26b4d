//! The element type of every tensor: `f32` for speed, `f64` for gradient checks.

use crate::gemm::{View, ViewMut};
use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type. Implemented for `f32` and `f64`; the transcendental functions
/// come from `libm`, so they behave the same with and without `std`.
pub trait Scalar:
    Copy
    + Default
    + Debug
    + Display
    + PartialOrd
    + Send
    + Sync
    + 'static
    + bytemuck::Pod
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// The type's name as written in Rust source (`"f32"`).
    const NAME: &'static str;
    /// The largest finite value.
    const MAX: Self;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(x: f64) -> Self;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Whether the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;

    /// Computes `c = a b` (or `c += a b`) with a kernel specialised for this type and machine
    /// and returns true, or returns false having done nothing when there is none. Called by
    /// [`gemm`](crate::gemm::gemm), which falls back to the reference kernel.
    #[inline]
    fn try_fast_gemm(
        a: View<'_, Self>,
        b: View<'_, Self>,
        c: &mut ViewMut<'_, Self>,
        accumulate: bool,
    ) -> bool {
        let _ = (a, b, c, accumulate);
        false
    }

    /// A kernel hook for `gradflow_tensor`'s own products, not an API to build on.
    ///
    /// Computes `c[r] = bias + (a b)[r]` for every row with the fast kernel, which starts its
    /// sums from the bias instead of reading `c`, and returns true; or returns false having
    /// done nothing, like [`try_fast_gemm`](Self::try_fast_gemm). `bias` has one value per
    /// column of `c`.
    #[doc(hidden)]
    #[inline]
    fn try_fast_linear(
        a: View<'_, Self>,
        b: View<'_, Self>,
        bias: &[Self],
        c: &mut ViewMut<'_, Self>,
    ) -> bool {
        let _ = (a, b, bias, c);
        false
    }

    /// A kernel hook for `gradflow_tensor::conv`, not an API to build on.
    ///
    /// Adds rows `p0..p0 + y.rows()` of a convolution's product `Patches W` (whole patches)
    /// to `y` without building the patches, when this type and machine have a kernel for it
    /// that gives the same sums as gathering them and calling
    /// [`try_fast_gemm`](Self::try_fast_gemm); returns false having done nothing otherwise.
    #[doc(hidden)]
    #[inline]
    fn try_fast_conv_block(
        g: &crate::conv::Geometry,
        x: &[Self],
        w: &[Self],
        p0: usize,
        y: &mut ViewMut<'_, Self>,
    ) -> bool {
        let _ = (g, x, w, p0, y);
        false
    }

    /// A kernel hook for `gradflow_tensor::conv`, not an API to build on.
    ///
    /// Adds `Patches^T dy` to `dw` (the whole weight gradient, `patch_len x oc`) for the
    /// pixels `p0..p0 + dy.rows()` of the batch, without building the patches, when this type
    /// and machine have a kernel for it that gives the same sums as gathering them and calling
    /// [`try_fast_gemm`](Self::try_fast_gemm); returns false having done nothing otherwise.
    #[doc(hidden)]
    #[inline]
    fn try_fast_conv_weight_grad(
        g: &crate::conv::Geometry,
        x: &[Self],
        p0: usize,
        dy: View<'_, Self>,
        dw: &mut [Self],
    ) -> bool {
        let _ = (g, x, p0, dy, dw);
        false
    }

    /// Whether [`try_fast_gemm`](Self::try_fast_gemm) has a kernel on this machine: kernels
    /// that reshape their work into products (convolution) do so only then.
    #[inline]
    fn has_fast_gemm() -> bool {
        false
    }

    /// The larger of two values (`self` if they compare equal or unordered).
    #[inline]
    fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }

    /// The smaller of two values (`self` if they compare equal or unordered).
    #[inline]
    fn min(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }
}

macro_rules! impl_scalar {
    ($t:ty, $exp:path, $ln:path, $sqrt:path, $tanh:path, $abs:path $(, $gemm:path, $linear:path, $conv:path, $conv_dw:path, $has:path)?) => {
        impl Scalar for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);
            const MAX: Self = <$t>::MAX;

            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn abs(self) -> Self {
                $abs(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            $(
                #[inline]
                fn try_fast_gemm(
                    a: View<'_, Self>,
                    b: View<'_, Self>,
                    c: &mut ViewMut<'_, Self>,
                    accumulate: bool,
                ) -> bool {
                    $gemm(a, b, c, accumulate)
                }
                #[inline]
                fn try_fast_linear(
                    a: View<'_, Self>,
                    b: View<'_, Self>,
                    bias: &[Self],
                    c: &mut ViewMut<'_, Self>,
                ) -> bool {
                    $linear(a, b, bias, c)
                }
                #[inline]
                fn try_fast_conv_block(
                    g: &crate::conv::Geometry,
                    x: &[Self],
                    w: &[Self],
                    p0: usize,
                    y: &mut ViewMut<'_, Self>,
                ) -> bool {
                    $conv(g, x, w, p0, y)
                }
                #[inline]
                fn try_fast_conv_weight_grad(
                    g: &crate::conv::Geometry,
                    x: &[Self],
                    p0: usize,
                    dy: View<'_, Self>,
                    dw: &mut [Self],
                ) -> bool {
                    $conv_dw(g, x, p0, dy, dw)
                }
                #[inline]
                fn has_fast_gemm() -> bool {
                    $has()
                }
            )?
        }
    };
}

/// `x * x`: `f64::powi` is not in `core`.
#[inline]
pub fn sq(x: f64) -> f64 {
    x * x
}

/// Square roots are correctly rounded both ways, so these give libm's results bit for bit; with
/// `std` they are the compiler's intrinsic, which loops vectorize (`vsqrtps`) where a libm call
/// stays one scalar instruction per element.
#[inline]
fn sqrt_f32(x: f32) -> f32 {
    #[cfg(feature = "std")]
    return std::primitive::f32::sqrt(x);
    #[cfg(not(feature = "std"))]
    libm::sqrtf(x)
}

/// [`sqrt_f32`] for `f64`.
#[inline]
fn sqrt_f64(x: f64) -> f64 {
    #[cfg(feature = "std")]
    return std::primitive::f64::sqrt(x);
    #[cfg(not(feature = "std"))]
    libm::sqrt(x)
}

impl_scalar!(
    f32,
    libm::expf,
    libm::logf,
    sqrt_f32,
    libm::tanhf,
    libm::fabsf,
    crate::gemm::try_sgemm,
    crate::gemm::try_sgemm_bias,
    crate::gemm::try_conv_block,
    crate::gemm::try_conv_weight_grad,
    crate::gemm::fast_f32_available
);
impl_scalar!(f64, libm::exp, libm::log, sqrt_f64, libm::tanh, libm::fabs);

#[cfg(test)]
mod tests {
    use super::Scalar;

    #[test]
    fn math_matches_definitions() {
        assert!((Scalar::exp(1.0f64) - core::f64::consts::E).abs() < 1e-15);
        assert!((Scalar::ln(core::f64::consts::E) - 1.0f64).abs() < 1e-15);
        assert_eq!(Scalar::sqrt(9.0f32), 3.0);
        assert!((Scalar::tanh(0.5f64) - 0.46211715726000974).abs() < 1e-15);
        assert_eq!(Scalar::max(1.0f32, 2.0), 2.0);
        assert_eq!(Scalar::min(1.0f32, 2.0), 1.0);
        assert!(!Scalar::is_finite(f32::NAN));
        assert_eq!(f64::from_f64(0.25).to_f64(), 0.25);
    }
}
