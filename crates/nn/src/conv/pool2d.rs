//! `MaxPool2d` and `AvgPool2d`: pooling over `K x K` windows moved by stride `S`, without
//! padding.
//!
//! Max pooling passes each window's largest value; its backward pass routes the gradient to
//! that one input, whose index the training-mode forward pass stores in the cache (the first
//! of equal values wins; a NaN wins, so it propagates as in PyTorch). Average pooling spreads
//! the gradient evenly over the window. Overlapping windows (`S < K`) add their gradients.
//! Samples are channels-last, and every loop runs over the channels of one position at once.

use super::{check_axis, max_into, parameter_free};
use crate::layer::{Backward, Forward};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::Scalar;

/// Max pooling of `C` channels of `H x W` with `K x K` windows and stride `S`, giving
/// `OH x OW` with `OH = (H - K) / S + 1` and `OW = (W - K) / S + 1` (rounded down):
/// `[[[T; C]; W]; H]` to `[[[T; C]; OW]; OH]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct MaxPool2d<
    T,
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
> {
    marker: PhantomData<T>,
}

/// Average pooling of `C` channels of `H x W` with `K x K` windows and stride `S`, giving
/// `OH x OW` with `OH = (H - K) / S + 1` and `OW = (W - K) / S + 1` (rounded down):
/// `[[[T; C]; W]; H]` to `[[[T; C]; OW]; OH]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct AvgPool2d<
    T,
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
> {
    marker: PhantomData<T>,
}

parameter_free!(MaxPool2d<C, H, W, K, S, OH, OW>);
parameter_free!(AvgPool2d<C, H, W, K, S, OH, OW>);

/// Fails the build unless `OH` and `OW` follow from `H`, `W`, `K` and `S`.
const fn check_shapes<
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>() {
    check_axis(H, K, S, 0, OH);
    check_axis(W, K, S, 0, OW);
    assert!(
        H * W <= u32::MAX as usize,
        "pooling stores window positions as u32"
    );
}

/// Max-pools one sample; `argmax` receives each output position `(i, j)` with, per channel,
/// the position `row * W + column` of its window's winner.
fn max_pool<
    T: Scalar,
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[T; C]; W]; H],
    y: &mut [[[T; C]; OW]; OH],
    mut argmax: impl FnMut(usize, usize, [u32; C]),
) {
    for (i, yrow) in y.iter_mut().enumerate() {
        for (j, yp) in yrow.iter_mut().enumerate() {
            let (i0, j0) = (i * S, j * S);
            let mut at = [(i0 * W + j0) as u32; C];
            *yp = x[i0][j0];
            for (u, row) in x[i0..i0 + K].iter().enumerate() {
                for (v, xp) in row[j0..j0 + K].iter().enumerate() {
                    if u + v > 0 {
                        max_into(yp, &mut at, xp, ((i0 + u) * W + j0 + v) as u32);
                    }
                }
            }
            argmax(i, j, at);
        }
    }
}

impl<
        T: Scalar,
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > Forward<T> for MaxPool2d<T, C, H, W, K, S, OH, OW>
{
    type Input = [[[T; C]; W]; H];
    type Output = [[[T; C]; OW]; OH];
    /// Per sample, output position and channel: the position `row * W + column` of the
    /// window's maximum.
    type Cache<const B: usize> = [[[[u32; C]; OW]; OH]; B];
    const KIND: &'static str = "maxpool2d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<H, W, K, S, OH, OW>() };
        for (xb, yb) in x.iter().zip(y) {
            max_pool::<T, C, H, W, K, S, OH, OW>(xb, yb, |_, _, _| {});
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Self::Cache<B>,
    ) {
        const { check_shapes::<H, W, K, S, OH, OW>() };
        for ((xb, yb), ab) in x.iter().zip(y).zip(cache) {
            max_pool::<T, C, H, W, K, S, OH, OW>(xb, yb, |i, j, at| ab[i][j] = at);
        }
    }
}

impl<
        T: Scalar,
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > Backward<T> for MaxPool2d<T, C, H, W, K, S, OH, OW>
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
        const { check_shapes::<H, W, K, S, OH, OW>() };
        let Some(dx) = dx else { return };
        for ((dxb, dyb), ab) in dx.iter_mut().zip(dy).zip(cache) {
            // The sample's positions `row * W + column`, each holding its channels.
            let dxb = dxb.as_flattened_mut();
            dxb.fill([T::ZERO; C]);
            for (dyp, ap) in dyb.as_flattened().iter().zip(ab.as_flattened()) {
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
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > Forward<T> for AvgPool2d<T, C, H, W, K, S, OH, OW>
{
    type Input = [[[T; C]; W]; H];
    type Output = [[[T; C]; OW]; OH];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "avgpool2d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<H, W, K, S, OH, OW>() };
        let scale = T::ONE / T::from_f64((K * K) as f64);
        for (xb, yb) in x.iter().zip(y) {
            for (i, yrow) in yb.iter_mut().enumerate() {
                for (j, yp) in yrow.iter_mut().enumerate() {
                    let mut sum = [T::ZERO; C];
                    for row in &xb[i * S..i * S + K] {
                        for xp in &row[j * S..j * S + K] {
                            for (s, &x) in sum.iter_mut().zip(xp) {
                                *s += x;
                            }
                        }
                    }
                    *yp = sum.map(|s| s * scale);
                }
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
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > Backward<T> for AvgPool2d<T, C, H, W, K, S, OH, OW>
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
        const { check_shapes::<H, W, K, S, OH, OW>() };
        let Some(dx) = dx else { return };
        let scale = T::ONE / T::from_f64((K * K) as f64);
        for (dxb, dyb) in dx.iter_mut().zip(dy) {
            *dxb = [[[T::ZERO; C]; W]; H];
            for (i, dyrow) in dyb.iter().enumerate() {
                for (j, dyp) in dyrow.iter().enumerate() {
                    let d = dyp.map(|d| d * scale);
                    for row in &mut dxb[i * S..i * S + K] {
                        for dxp in &mut row[j * S..j * S + K] {
                            for (dx, &d) in dxp.iter_mut().zip(&d) {
                                *dx += d;
                            }
                        }
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

    /// One channel of an image given row by row, as a channels-last sample.
    fn image<const H: usize, const W: usize>(rows: [[f64; W]; H]) -> [[[f64; 1]; W]; H] {
        rows.map(|r| r.map(|v| [v]))
    }

    #[test]
    fn max_pool_gradients_with_overlapping_and_tiling_windows() {
        let x: [[[[f64; 2]; 5]; 7]; 2] = distinct();
        let report = check_layer(&mut MaxPool2d::<f64, 2, 7, 5, 3, 2, 3, 2>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[[f64; 3]; 6]; 4]; 2] = distinct();
        let report = check_layer(&mut MaxPool2d::<f64, 3, 4, 6, 2, 2, 2, 3>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn avg_pool_gradients_with_overlapping_and_tiling_windows() {
        let x: [[[[f64; 2]; 5]; 7]; 2] = distinct();
        let report = check_layer(&mut AvgPool2d::<f64, 2, 7, 5, 3, 2, 3, 2>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[[f64; 3]; 6]; 4]; 2] = distinct();
        let report = check_layer(&mut AvgPool2d::<f64, 3, 4, 6, 2, 1, 3, 5>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn max_pool_routes_the_gradient_to_each_window_maximum() {
        let mut pool = MaxPool2d::<f64, 1, 3, 3, 2, 1, 2, 2>::default();
        let x = [image([[1.0, 9.0, 2.0], [3.0, 4.0, 5.0], [8.0, 0.0, 6.0]])];
        let mut y = [[[[0.0]; 2]; 2]];
        let mut cache = Zeroable::zeroed();
        pool.forward_train(&x, &mut y, &mut cache);
        assert_eq!(y, [image([[9.0, 9.0], [8.0, 6.0]])]);
        let dy = [image([[1.0, 10.0], [100.0, 1000.0]])];
        let mut dx = [[[[0.0]; 3]; 3]];
        pool.backward(&x, &y, &cache, &dy, Some(&mut dx), None);
        // Both top windows pick the 9, so it collects both gradients.
        let want = image([[0.0, 11.0, 0.0], [0.0, 0.0, 0.0], [100.0, 0.0, 1000.0]]);
        assert_eq!(dx, [want]);
    }

    #[test]
    fn max_pool_picks_each_channel_separately() {
        let mut pool = MaxPool2d::<f64, 2, 2, 2, 2, 2, 1, 1>::default();
        let x = [[[[1.0, 8.0], [3.0, 2.0]], [[5.0, 4.0], [0.0, -1.0]]]];
        let (mut y, mut cache) = ([[[[0.0; 2]]]], Zeroable::zeroed());
        pool.forward_train(&x, &mut y, &mut cache);
        assert_eq!((y, cache), ([[[[5.0, 8.0]]]], [[[[2, 0]]]]));
        let mut dx = [[[[9.0; 2]; 2]; 2]];
        pool.backward(&x, &y, &cache, &[[[[1.0, 2.0]]]], Some(&mut dx), None);
        assert_eq!(dx, [[[[0.0, 2.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]]]);
    }

    #[test]
    fn max_pool_ties_go_to_the_first_and_nan_propagates() {
        let mut pool = MaxPool2d::<f64, 1, 2, 2, 2, 2, 1, 1>::default();
        let (mut y, mut cache) = ([[[[0.0]]]], Zeroable::zeroed());
        pool.forward_train(&[image([[1.0, 7.0], [7.0, 2.0]])], &mut y, &mut cache);
        assert_eq!((y, cache), ([[[[7.0]]]], [[[[1]]]]));
        pool.forward(&[image([[1.0, f64::NAN], [7.0, 2.0]])], &mut y);
        assert!(y[0][0][0][0].is_nan());
    }

    #[test]
    fn avg_pool_averages_each_window() {
        let pool = AvgPool2d::<f64, 2, 2, 4, 2, 2, 1, 2>::default();
        let mut y = [[[[0.0; 2]; 2]; 1]];
        // Channel 0 as in the rows below, channel 1 its negation.
        let rows = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 9.0]];
        pool.forward(&[rows.map(|r| r.map(|v| [v, -v]))], &mut y);
        assert_eq!(y, [[[[3.5, -3.5], [5.75, -5.75]]]]);
    }
}
