//! `MaxPool2d` and `AvgPool2d`: pooling over `K x K` windows moved by stride `S`, without
//! padding.
//!
//! Max pooling passes each window's largest value; its backward pass routes the gradient to
//! that one input, whose index the training-mode forward pass stores in the cache (the first
//! of equal values wins; a NaN wins, so it propagates as in PyTorch). Average pooling spreads
//! the gradient evenly over the window. Overlapping windows (`S < K`) add their gradients.

use super::{check_axis, first_max, parameter_free};
use crate::layer::{Backward, Forward};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::Scalar;

/// Max pooling of `C` channels of `H x W` with `K x K` windows and stride `S`, giving
/// `OH x OW` with `OH = (H - K) / S + 1` and `OW = (W - K) / S + 1` (rounded down).
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
/// `OH x OW` with `OH = (H - K) / S + 1` and `OW = (W - K) / S + 1` (rounded down).
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

/// Max-pools one channel; `argmax` receives each window's winner as `row * W + column`.
fn max_pool<
    T: Scalar,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[T; W]; H],
    y: &mut [[T; OW]; OH],
    mut argmax: impl FnMut(usize, usize, u32),
) {
    for (i, yrow) in y.iter_mut().enumerate() {
        for (j, y) in yrow.iter_mut().enumerate() {
            let (i0, j0) = (i * S, j * S);
            let window = x[i0..i0 + K].iter().enumerate().flat_map(|(u, row)| {
                let at = (i0 + u) * W + j0;
                row[j0..j0 + K]
                    .iter()
                    .enumerate()
                    .map(move |(v, &x)| (at + v, x))
            });
            let (max, at) = first_max(window);
            *y = max;
            argmax(i, j, at as u32);
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
    type Input = [[[T; W]; H]; C];
    type Output = [[[T; OW]; OH]; C];
    /// Per sample, channel and output: the position `row * W + column` of the window's maximum.
    type Cache<const B: usize> = [[[[u32; OW]; OH]; C]; B];
    const KIND: &'static str = "maxpool2d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<H, W, K, S, OH, OW>() };
        for (xc, yc) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
            max_pool::<T, H, W, K, S, OH, OW>(xc, yc, |_, _, _| {});
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Self::Cache<B>,
    ) {
        const { check_shapes::<H, W, K, S, OH, OW>() };
        let channels = x.as_flattened().iter().zip(y.as_flattened_mut());
        for ((xc, yc), ac) in channels.zip(cache.as_flattened_mut()) {
            max_pool::<T, H, W, K, S, OH, OW>(xc, yc, |i, j, at| ac[i][j] = at);
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
        let channels = dx.as_flattened_mut().iter_mut().zip(dy.as_flattened());
        for ((dxc, dyc), ac) in channels.zip(cache.as_flattened()) {
            let dxc = dxc.as_flattened_mut();
            dxc.fill(T::ZERO);
            for (&d, &at) in dyc.as_flattened().iter().zip(ac.as_flattened()) {
                dxc[at as usize] += d;
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
    type Input = [[[T; W]; H]; C];
    type Output = [[[T; OW]; OH]; C];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "avgpool2d";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { check_shapes::<H, W, K, S, OH, OW>() };
        let scale = T::ONE / T::from_f64((K * K) as f64);
        for (xc, yc) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
            for (i, yrow) in yc.iter_mut().enumerate() {
                for (j, y) in yrow.iter_mut().enumerate() {
                    let mut sum = T::ZERO;
                    for row in &xc[i * S..i * S + K] {
                        for &x in &row[j * S..j * S + K] {
                            sum += x;
                        }
                    }
                    *y = sum * scale;
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
        for (dxc, dyc) in dx.as_flattened_mut().iter_mut().zip(dy.as_flattened()) {
            *dxc = [[T::ZERO; W]; H];
            for (i, dyrow) in dyc.iter().enumerate() {
                for (j, &d) in dyrow.iter().enumerate() {
                    for row in &mut dxc[i * S..i * S + K] {
                        for dx in &mut row[j * S..j * S + K] {
                            *dx += d * scale;
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

    #[test]
    fn max_pool_gradients_with_overlapping_and_tiling_windows() {
        let x: [[[[f64; 5]; 7]; 2]; 2] = distinct();
        let report = check_layer(&mut MaxPool2d::<f64, 2, 7, 5, 3, 2, 3, 2>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[[f64; 6]; 4]; 3]; 2] = distinct();
        let report = check_layer(&mut MaxPool2d::<f64, 3, 4, 6, 2, 2, 2, 3>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn avg_pool_gradients_with_overlapping_and_tiling_windows() {
        let x: [[[[f64; 5]; 7]; 2]; 2] = distinct();
        let report = check_layer(&mut AvgPool2d::<f64, 2, 7, 5, 3, 2, 3, 2>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[[f64; 6]; 4]; 3]; 2] = distinct();
        let report = check_layer(&mut AvgPool2d::<f64, 3, 4, 6, 2, 1, 3, 5>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn max_pool_routes_the_gradient_to_each_window_maximum() {
        let mut pool = MaxPool2d::<f64, 1, 3, 3, 2, 1, 2, 2>::default();
        let x = [[[[1.0, 9.0, 2.0], [3.0, 4.0, 5.0], [8.0, 0.0, 6.0]]]];
        let mut y = [[[[0.0; 2]; 2]]];
        let mut cache = Zeroable::zeroed();
        pool.forward_train(&x, &mut y, &mut cache);
        assert_eq!(y, [[[[9.0, 9.0], [8.0, 6.0]]]]);
        let dy = [[[[1.0, 10.0], [100.0, 1000.0]]]];
        let mut dx = [[[[0.0; 3]; 3]]];
        pool.backward(&x, &y, &cache, &dy, Some(&mut dx), None);
        // Both top windows pick the 9, so it collects both gradients.
        assert_eq!(
            dx,
            [[[[0.0, 11.0, 0.0], [0.0, 0.0, 0.0], [100.0, 0.0, 1000.0]]]]
        );
    }

    #[test]
    fn max_pool_ties_go_to_the_first_and_nan_propagates() {
        let mut pool = MaxPool2d::<f64, 1, 2, 2, 2, 2, 1, 1>::default();
        let (mut y, mut cache) = ([[[[0.0]]]], Zeroable::zeroed());
        pool.forward_train(&[[[[1.0, 7.0], [7.0, 2.0]]]], &mut y, &mut cache);
        assert_eq!((y, cache), ([[[[7.0]]]], [[[[1]]]]));
        pool.forward(&[[[[1.0, f64::NAN], [7.0, 2.0]]]], &mut y);
        assert!(y[0][0][0][0].is_nan());
    }

    #[test]
    fn avg_pool_averages_each_window() {
        let pool = AvgPool2d::<f64, 1, 2, 4, 2, 2, 1, 2>::default();
        let mut y = [[[[0.0; 2]; 1]]];
        pool.forward(&[[[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 9.0]]]], &mut y);
        assert_eq!(y, [[[[3.5, 5.75]]]]);
    }
}
