//! Elementwise maps `y = f(x)` and their backward `dx = dy * f'(x, y)`.
//!
//! The derivative receives both the input and the output, so that functions whose derivative
//! is cheapest in terms of the output (sigmoid: `y (1 - y)`, tanh: `1 - y^2`) need no
//! recomputation.

use crate::Scalar;

/// Whether a loop over `len` values should run in its AVX2 copy: only if the CPU has AVX2 and
/// the loop is long enough to repay the call. A tiny network's layers (W1's ReLUs over 32
/// values) stay inline, where the call and the feature check would cost more than the loop.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn worth_wide(len: usize) -> bool {
    len >= 256 && crate::gemm::fast_f32_available()
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

/// [`map`] over flat slices, as long as the shorter of the two (a feature map's elements).
#[inline]
pub fn map_slice<T: Scalar>(x: &[T], y: &mut [T], f: impl Fn(T) -> T) {
    #[cfg(target_arch = "x86_64")]
    if worth_wide(x.len()) {
        // SAFETY: `worth_wide` has checked that the CPU executes AVX2 and FMA instructions.
        unsafe { map_avx2(x, y, f) };
        return;
    }
    map_loop(x, y, f);
}

/// [`map_loop`] compiled for AVX2 (see [`crate::simd`]): same operations, 8-lane registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_avx2<T: Scalar>(x: &[T], y: &mut [T], f: impl Fn(T) -> T) {
    map_loop(x, y, f);
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

/// [`map_backward`] over flat slices, as long as the shortest of the four.
#[inline]
pub fn map_backward_slice<T: Scalar>(
    x: &[T],
    y: &[T],
    dy: &[T],
    dx: &mut [T],
    df: impl Fn(T, T) -> T,
) {
    #[cfg(target_arch = "x86_64")]
    if worth_wide(dx.len()) {
        // SAFETY: `worth_wide` has checked that the CPU executes AVX2 and FMA instructions.
        unsafe { map_backward_avx2((x, y, dy), dx, df) };
        return;
    }
    map_backward_loop((x, y, dy), dx, df);
}

/// [`map_backward_loop`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_backward_avx2<T: Scalar>(inputs: (&[T], &[T], &[T]), dx: &mut [T], df: impl Fn(T, T) -> T) {
    map_backward_loop(inputs, dx, df);
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

/// `out = a + b` elementwise over the shortest of the three slices (a residual connection's
/// forward add; `network!` emits calls to it).
#[inline]
pub fn add<T: Scalar>(out: &mut [T], a: &[T], b: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if worth_wide(out.len()) {
        // SAFETY: `worth_wide` has checked that the CPU executes AVX2 and FMA instructions.
        unsafe { add_avx2(out, a, b) };
        return;
    }
    add_loop(out, a, b);
}

/// [`add_loop`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_avx2<T: Scalar>(out: &mut [T], a: &[T], b: &[T]) {
    add_loop(out, a, b);
}

#[inline(always)]
fn add_loop<T: Scalar>(out: &mut [T], a: &[T], b: &[T]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// `out += a` elementwise over the shorter slice (gradients meeting at a residual
/// connection; `network!` emits calls to it).
#[inline]
pub fn add_assign<T: Scalar>(out: &mut [T], a: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if worth_wide(out.len()) {
        // SAFETY: `worth_wide` has checked that the CPU executes AVX2 and FMA instructions.
        unsafe { add_assign_avx2(out, a) };
        return;
    }
    add_assign_loop(out, a);
}

/// [`add_assign_loop`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_assign_avx2<T: Scalar>(out: &mut [T], a: &[T]) {
    add_assign_loop(out, a);
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

    /// The dispatching functions (AVX2 copies on a machine that has them, for 256 values or
    /// more) against their plain loops, bit for bit, on awkward lengths: the copies must do
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
        check::<1>();
        check::<3>();
        check::<17>();
        check::<64>();
        check::<127>();
        // Long enough for the AVX2 copies (shorter loops stay inline).
        check::<300>();
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
