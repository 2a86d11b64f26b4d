//! `MaxPool1d` and `AvgPool1d`: pooling over `K`-wide windows moved by stride `S`, without
//! padding, with the conventions of the 2d pools (the first maximum of a window takes its
//! gradient, a NaN propagates, overlapping windows add their gradients), over channels-last
//! sequences `[[T; C]; L]`.

use super::{check_axis, max_into, parameter_free};
use crate::layer::{Backward, Forward};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::Scalar;

/// Max pooling of `C` channels of length `L` with `K`-wide windows and stride `S`, giving
/// length `OL = (L - K) / S + 1` (rounded down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct MaxPool1d<
    T,
    const C: usize,
    const L: usize,
    const K: usize,
    const S: usize,
    const OL: usize,
> {
    marker: PhantomData<T>,
}

/// Average pooling of `C` channels of length `L` with `K`-wide windows and stride `S`, giving
/// length `OL = (L - K) / S + 1` (rounded down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct AvgPool1d<
    T,
    const C: usize,
    const L: usize,
    const K: usize,
    const S: usize,
    const OL: usize,
> {
    marker: PhantomData<T>,
}

parameter_free!(MaxPool1d<C, L, K, S, OL>);
parameter_free!(AvgPool1d<C, L, K, S, OL>);

/// Fails the build unless `OL` follows from `L`, `K` and `S`.
const fn check_shapes<const L: usize, const K: usize, const S: usize, const OL: usize>() {
    check_axis(L, K, S, 0, OL);
    assert!(
        L <= u32::MAX as usize,
        "pooling stores window positions as u32"
    );
}

/// The maximum of each channel over the window of output `i`; `at` receives, per channel,
/// the position of the window's winner.
fn max_pool<T: Scalar, const C: usize, const L: usize, const K: usize, const S: usize>(
    x: &[[T; C]; L],
    i: usize,
    at: &mut [u32; C],
) -> [T; C] {
    let i0 = i * S;
    let mut best = x[i0];
    *at = [i0 as u32; C];
    for (u, xp) in x[i0..i0 + K].iter().enumerate().skip(1) {
        max_into(&mut best, at, xp, (i0 + u) as u32);
    }
    best
}

impl<
        T: Scalar,
        const C: usize,
        const L: usize,
        const K: usize,
        const S: usize,
        const OL: usize,
    > Forward<T> for MaxPool1d<T, C, L, K, S, OL>
{
    type Input = [[T; C]; L];
    type Output = [[T; C]; OL];
    /// Per sample, output and channel: the position of the window's maximum.
    type Cache<const B: usize> = [[[u32; C]; OL]; B];
    const KIND: &'static str = "maxpool1d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<L, K, S, OL>() };
        for (xb, yb) in x.iter().zip(y) {
            for (i, yp) in yb.iter_mut().enumerate() {
                let mut at = [0; C];
                *yp = max_pool::<T, C, L, K, S>(xb, i, &mut at);
            }
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Self::Cache<B>,
    ) {
        const { check_shapes::<L, K, S, OL>() };
        for ((xb, yb), ab) in x.iter().zip(y).zip(cache) {
            for (i, (yp, at)) in yb.iter_mut().zip(ab).enumerate() {
                *yp = max_pool::<T, C, L, K, S>(xb, i, at);
            }
        }
    }
}

impl<
        T: Scalar,
        const C: usize,
        const L: usize,
        const K: usize,
        const S: usize,
        const OL: usize,
    > Backward<T> for MaxPool1d<T, C, L, K, S, OL>
{
    fn backward<const B: usize>(
        &self,
        _x: &[Self::Input; B],
        _y: &[Self::Output; B],
        cache: &Self::Cache<B>,
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        _: Option<&mut ()>,
    ) {
        const { check_shapes::<L, K, S, OL>() };
        let Some(dx) = dx else { return };
        for ((dxb, dyb), ab) in dx.iter_mut().zip(dy).zip(cache) {
            *dxb = [[T::ZERO; C]; L];
            for (dyp, ap) in dyb.iter().zip(ab) {
                for (c, (&d, &at)) in dyp.iter().zip(ap).enumerate() {
                    dxb[at as usize][c] += d;
                }
            }
        }
    }
}

impl<
        T: Scalar,
        const C: usize,
        const L: usize,
        const K: usize,
        const S: usize,
        const OL: usize,
    > Forward<T> for AvgPool1d<T, C, L, K, S, OL>
{
    type Input = [[T; C]; L];
    type Output = [[T; C]; OL];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "avgpool1d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<L, K, S, OL>() };
        let scale = T::ONE / T::from_f64(K as f64);
        for (xb, yb) in x.iter().zip(y) {
            for (i, yp) in yb.iter_mut().enumerate() {
                let mut sum = [T::ZERO; C];
                for xp in &xb[i * S..i * S + K] {
                    for (s, &x) in sum.iter_mut().zip(xp) {
                        *s += x;
                    }
                }
                *yp = sum.map(|s| s * scale);
            }
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        _: &mut (),
    ) {
        self.forward(x, y);
    }
}

impl<
        T: Scalar,
        const C: usize,
        const L: usize,
        const K: usize,
        const S: usize,
        const OL: usize,
    > Backward<T> for AvgPool1d<T, C, L, K, S, OL>
{
    fn backward<const B: usize>(
        &self,
        _x: &[Self::Input; B],
        _y: &[Self::Output; B],
        _: &(),
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        _: Option<&mut ()>,
    ) {
        const { check_shapes::<L, K, S, OL>() };
        let Some(dx) = dx else { return };
        let scale = T::ONE / T::from_f64(K as f64);
        for (dxb, dyb) in dx.iter_mut().zip(dy) {
            *dxb = [[T::ZERO; C]; L];
            for (i, dyp) in dyb.iter().enumerate() {
                let d = dyp.map(|d| d * scale);
                for dxp in &mut dxb[i * S..i * S + K] {
                    for (dx, &d) in dxp.iter_mut().zip(&d) {
                        *dx += d;
                    }
                }
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::conv::tests::distinct;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_with_overlapping_and_tiling_windows() {
        let x: [[[f64; 2]; 9]; 3] = distinct();
        let report = check_layer(&mut MaxPool1d::<f64, 2, 9, 3, 2, 4>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let report = check_layer(&mut AvgPool1d::<f64, 2, 9, 3, 2, 4>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let report = check_layer(&mut MaxPool1d::<f64, 2, 9, 2, 2, 4>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let report = check_layer(&mut AvgPool1d::<f64, 2, 9, 4, 1, 6>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn max_pool_routes_the_gradient_to_each_window_maximum() {
        let mut pool = MaxPool1d::<f64, 2, 5, 3, 2, 2>::default();
        // Channel 0 is 4, 1, 5, 5, 2; channel 1 is 0, 3, 1, 1, 7.
        let x = [[[4.0, 0.0], [1.0, 3.0], [5.0, 1.0], [5.0, 1.0], [2.0, 7.0]]];
        let (mut y, mut cache) = ([[[0.0; 2]; 2]], Zeroable::zeroed());
        pool.forward_train(&x, &mut y, &mut cache);
        // Channel 0: the shared 5 at position 2 wins both windows (first of equals in the
        // second); channel 1: the 3 at position 1, then the 7 at position 4.
        assert_eq!((y, cache), ([[[5.0, 3.0], [5.0, 7.0]]], [[[2, 1], [2, 4]]]));
        let mut dx = [[[0.0; 2]; 5]];
        pool.backward(
            &x,
            &y,
            &cache,
            &[[[1.0, 10.0], [2.0, 20.0]]],
            Some(&mut dx),
            None,
        );
        let want = [[0.0, 0.0], [0.0, 10.0], [3.0, 0.0], [0.0, 0.0], [0.0, 20.0]];
        assert_eq!(dx, [want]);
    }

    #[test]
    fn avg_pool_averages_each_window() {
        let mut y = [[[0.0]; 2]];
        let x = [[1.0, 2.0, 4.0, 8.0, 16.0].map(|v| [v])];
        AvgPool1d::<f64, 1, 5, 2, 2, 2>::default().forward(&x, &mut y);
        assert_eq!(y, [[[1.5], [6.0]]]);
    }
}
