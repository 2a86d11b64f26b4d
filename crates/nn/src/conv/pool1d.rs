//! `MaxPool1d` and `AvgPool1d`: pooling over `K`-wide windows moved by stride `S`, without
//! padding, with the conventions of the 2d pools (the first maximum of a window takes its
//! gradient, a NaN propagates, overlapping windows add their gradients).

use super::{check_axis, first_max, parameter_free};
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

impl<
        T: Scalar,
        const C: usize,
        const L: usize,
        const K: usize,
        const S: usize,
        const OL: usize,
    > Forward<T> for MaxPool1d<T, C, L, K, S, OL>
{
    type Input = [[T; L]; C];
    type Output = [[T; OL]; C];
    /// Per sample, channel and output: the position of the window's maximum.
    type Cache<const B: usize> = [[[u32; OL]; C]; B];
    const KIND: &'static str = "maxpool1d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<L, K, S, OL>() };
        for (xc, yc) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
            for (i, y) in yc.iter_mut().enumerate() {
                *y = first_max(xc[i * S..i * S + K].iter().copied().enumerate()).0;
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
        let channels = x.as_flattened().iter().zip(y.as_flattened_mut());
        for ((xc, yc), ac) in channels.zip(cache.as_flattened_mut()) {
            for (i, (y, a)) in yc.iter_mut().zip(ac).enumerate() {
                let window = xc[i * S..i * S + K].iter().copied().enumerate();
                let (max, at) = first_max(window);
                (*y, *a) = (max, (i * S + at) as u32);
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
        let channels = dx.as_flattened_mut().iter_mut().zip(dy.as_flattened());
        for ((dxc, dyc), ac) in channels.zip(cache.as_flattened()) {
            *dxc = [T::ZERO; L];
            for (&d, &at) in dyc.iter().zip(ac) {
                dxc[at as usize] += d;
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
    type Input = [[T; L]; C];
    type Output = [[T; OL]; C];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "avgpool1d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<L, K, S, OL>() };
        let scale = T::ONE / T::from_f64(K as f64);
        for (xc, yc) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
            for (i, y) in yc.iter_mut().enumerate() {
                let mut sum = T::ZERO;
                for &x in &xc[i * S..i * S + K] {
                    sum += x;
                }
                *y = sum * scale;
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
        for (dxc, dyc) in dx.as_flattened_mut().iter_mut().zip(dy.as_flattened()) {
            *dxc = [T::ZERO; L];
            for (i, &d) in dyc.iter().enumerate() {
                for dx in &mut dxc[i * S..i * S + K] {
                    *dx += d * scale;
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
        let x: [[[f64; 9]; 2]; 3] = distinct();
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
        let mut pool = MaxPool1d::<f64, 1, 5, 3, 2, 2>::default();
        let x = [[[4.0, 1.0, 5.0, 5.0, 2.0]]];
        let (mut y, mut cache) = ([[[0.0; 2]]], Zeroable::zeroed());
        pool.forward_train(&x, &mut y, &mut cache);
        // The shared 5 at position 2 wins both windows (first of equals in the second).
        assert_eq!((y, cache), ([[[5.0, 5.0]]], [[[2, 2]]]));
        let mut dx = [[[0.0; 5]]];
        pool.backward(&x, &y, &cache, &[[[1.0, 2.0]]], Some(&mut dx), None);
        assert_eq!(dx, [[[0.0, 0.0, 3.0, 0.0, 0.0]]]);
    }

    #[test]
    fn avg_pool_averages_each_window() {
        let mut y = [[[0.0; 2]]];
        AvgPool1d::<f64, 1, 5, 2, 2, 2>::default().forward(&[[[1.0, 2.0, 4.0, 8.0, 16.0]]], &mut y);
        assert_eq!(y, [[[1.5, 6.0]]]);
    }
}
