//! Elementwise maps `y = f(x)` and their backward `dx = dy * f'(x, y)`.
//!
//! The derivative receives both the input and the output, so that functions whose derivative
//! is cheapest in terms of the output (sigmoid: `y (1 - y)`, tanh: `1 - y^2`) need no
//! recomputation.

use crate::Scalar;

/// Which copy of a loop over `len` values runs: a SIMD copy only if the CPU has it and the loop
/// is long enough to repay the call. A tiny network's layers (W1's ReLUs over 32 values) stay
/// inline, where the call and the feature check would cost more than the loop.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lanes {
    Plain,
    Avx2,
    Avx512,
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lanes_for(len: usize) -> Lanes {
    if len < 256 || !crate::gemm::fast_f32_available() {
        Lanes::Plain
    } else if crate::gemm::wide_f32_available() {
        Lanes::Avx512
    } else {
        Lanes::Avx2
    }
}

/// Compiles `$loop` (an `#[inline(always)]` function) into AVX2 and AVX-512 copies named
/// `$avx2` and `$avx512`, and defines `$dispatch`, which runs the copy [`lanes_for`] picks for
/// `$len` (the plain loop elsewhere). Every copy does the same operations in the same order,
/// one value per lane, so their results are the same bits.
macro_rules! multiversioned {
    (
        $(#[$doc:meta])*
        pub fn $dispatch:ident<$t:ident: Scalar>($($arg:ident: $ty:ty),*) by $len:expr;
        $loop:ident($($call:expr),*), $avx2:ident, $avx512:ident
    ) => {
        $(#[$doc])*
        #[inline]
        pub fn $dispatch<$t: Scalar>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            match lanes_for($len) {
                // SAFETY: `lanes_for` picked this copy because the CPU executes AVX-512F, AVX2
                // and FMA instructions.
                Lanes::Avx512 => return unsafe { $avx512($($arg),*) },
                // SAFETY: `lanes_for` picked this copy because the CPU executes AVX2 and FMA
                // instructions.
                Lanes::Avx2 => return unsafe { $avx2($($arg),*) },
                Lanes::Plain => {}
            }
            $loop($($call),*)
        }

        /// The plain loop compiled for AVX2 (see [`crate::simd`]): 8-lane registers.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx2<$t: Scalar>($($arg: $ty),*) {
            $loop($($call),*)
        }

        /// The plain loop compiled for AVX-512: 16-lane registers.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn $avx512<$t: Scalar>($($arg: $ty),*) {
            $loop($($call),*)
        }
    };
}

/// `y[b][n] = f(x[b][n])`. Overwrites `y`.
#[inline]
pub fn map<T: Scalar, const B: usize, const N: usize>(
    x: &[[T; N]; B],
    y: &mut [[T; N]; B],
    f: impl Fn(T) -> T,
) {
    map_slice(x.as_flattened(), y.as_flattened_mut(), f);
}

multiversioned! {
    /// [`map`] over flat slices, as long as the shorter of the two (a feature map's elements).
    pub fn map_slice<T: Scalar>(x: &[T], y: &mut [T], f: impl Fn(T) -> T) by x.len();
    map_loop(x, y, f), map_avx2, map_avx512
}

#[inline(always)]
fn map_loop<T: Scalar>(x: &[T], y: &mut [T], f: impl Fn(T) -> T) {
    for (&x, y) in x.iter().zip(y) {
        *y = f(x);
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
    let (x, y) = (x.as_flattened(), y.as_flattened());
    map_backward_slice(x, y, dy.as_flattened(), dx.as_flattened_mut(), df);
}

multiversioned! {
    /// [`map_backward`] over flat slices, as long as the shortest of the four.
    pub fn map_backward_slice<T: Scalar>(
        x: &[T], y: &[T], dy: &[T], dx: &mut [T], df: impl Fn(T, T) -> T
    ) by dx.len();
    map_backward_loop((x, y, dy), dx, df), map_backward_avx2, map_backward_avx512
}

#[inline(always)]
fn map_backward_loop<T: Scalar>(
    (x, y, dy): (&[T], &[T], &[T]),
    dx: &mut [T],
    df: impl Fn(T, T) -> T,
) {
    for (((&x, &y), &g), dx) in x.iter().zip(y).zip(dy).zip(dx) {
        *dx = g * df(x, y);
    }
}

multiversioned! {
    /// `out = a + b` elementwise over the shortest of the three slices (a residual
    /// connection's forward add; `network!` emits calls to it).
    pub fn add<T: Scalar>(out: &mut [T], a: &[T], b: &[T]) by out.len();
    add_loop(out, a, b), add_avx2, add_avx512
}

#[inline(always)]
fn add_loop<T: Scalar>(out: &mut [T], a: &[T], b: &[T]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

multiversioned! {
    /// `out += a` elementwise over the shorter slice (gradients meeting at a residual
    /// connection; `network!` emits calls to it).
    pub fn add_assign<T: Scalar>(out: &mut [T], a: &[T]) by out.len();
    add_assign_loop(out, a), add_assign_avx2, add_assign_avx512
}

#[inline(always)]
fn add_assign_loop<T: Scalar>(out: &mut [T], a: &[T]) {
    for (o, &a) in out.iter_mut().zip(a) {
        *o += a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    /// The dispatching functions (AVX-512 or AVX2 copies on a machine that has them, for 256
    /// values or more) against their plain loops, bit for bit, on awkward lengths: the copies must do
    /// the same operations in the same order.
    #[test]
    fn dispatched_loops_match_the_plain_loops_bit_for_bit() {
        fn check<const N: usize>() {
            let x: [[f32; N]; 2] =
                [test_values::<N>(11), test_values::<N>(12)].map(|r| r.map(|v| v as f32));
            let g: [[f32; N]; 2] =
                [test_values::<N>(13), test_values::<N>(14)].map(|r| r.map(|v| v as f32));
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
            let f = |v: f32| if v < 0.0 { 0.1 * v } else { v * v + 0.5 };
            let df = |v: f32, y: f32| if v < 0.0 { 0.1 } else { y - 0.5 + v };

            let (mut fast, mut plain) = ([[0.0f32; N]; 2], [[0.0f32; N]; 2]);
            map(&x, &mut fast, f);
            map_loop(x.as_flattened(), plain.as_flattened_mut(), f);
            assert_eq!(
                bits(fast.as_flattened()),
                bits(plain.as_flattened()),
                "map {N}"
            );

            let y = fast;
            let (mut fast, mut plain) = ([[0.0f32; N]; 2], [[0.0f32; N]; 2]);
            map_backward(&x, &y, &g, &mut fast, df);
            let inputs = (x.as_flattened(), y.as_flattened(), g.as_flattened());
            map_backward_loop(inputs, plain.as_flattened_mut(), df);
            assert_eq!(
                bits(fast.as_flattened()),
                bits(plain.as_flattened()),
                "map_backward {N}"
            );

            let (mut fast, mut plain) = ([0.0f32; N], [0.0f32; N]);
            add(&mut fast, &x[0], &g[1]);
            add_loop(&mut plain, &x[0], &g[1]);
            assert_eq!(bits(&fast), bits(&plain), "add {N}");
            assert!(fast
                .iter()
                .zip(&x[0])
                .zip(&g[1])
                .all(|((s, a), b)| *s == a + b));

            let (mut fast, mut plain) = (x[1], x[1]);
            add_assign(&mut fast, &g[0]);
            add_assign_loop(&mut plain, &g[0]);
            assert_eq!(bits(&fast), bits(&plain), "add_assign {N}");
            assert!(fast
                .iter()
                .zip(&x[1])
                .zip(&g[0])
                .all(|((s, a), b)| *s == a + b));
        }
        // Each SIMD copy this machine has (AVX-512, then AVX2) in turn.
        crate::gemm::tests::with_each_kernel(|_| {
            check::<1>();
            check::<3>();
            check::<17>();
            check::<64>();
            check::<127>();
            // Long enough for the SIMD copies (shorter loops stay inline), and not a multiple
            // of either copy's lanes.
            check::<300>();
        });
    }

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
