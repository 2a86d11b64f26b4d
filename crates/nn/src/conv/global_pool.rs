//! `GlobalAvgPool2d` and `GlobalAvgPool1d`: the mean of each channel over all positions,
//! turning a feature map into one value per channel (the usual head of a convolutional
//! classifier, before a dense layer). The backward pass spreads each channel's gradient
//! evenly over its positions. Samples are channels-last, so both passes run over the
//! channels of one position at a time.

use super::parameter_free;
use crate::layer::{Backward, Forward};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::Scalar;

/// The mean over `H x W` of each of `C` channels: `[[[T; C]; W]; H]` to `[T; C]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct GlobalAvgPool2d<T, const C: usize, const H: usize, const W: usize> {
    marker: PhantomData<T>,
}

/// The mean over `L` positions of each of `C` channels: `[[T; C]; L]` to `[T; C]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct GlobalAvgPool1d<T, const C: usize, const L: usize> {
    marker: PhantomData<T>,
}

parameter_free!(GlobalAvgPool2d<C, H, W>);
parameter_free!(GlobalAvgPool1d<C, L>);

/// The mean of each channel over a sample's positions.
fn mean<T: Scalar, const C: usize>(positions: &[[T; C]]) -> [T; C] {
    let mut sum = [T::ZERO; C];
    for p in positions {
        for (s, &v) in sum.iter_mut().zip(p) {
            *s += v;
        }
    }
    let n = T::from_f64(positions.len() as f64);
    sum.map(|s| s / n)
}

/// Spreads each channel's gradient in `d` evenly over the positions' gradients `dx`.
fn spread<T: Scalar, const C: usize>(d: &[T; C], dx: &mut [[T; C]]) {
    let n = T::from_f64(dx.len() as f64);
    dx.fill(d.map(|d| d / n));
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Forward<T>
    for GlobalAvgPool2d<T, C, H, W>
{
    type Input = [[[T; C]; W]; H];
    type Output = [T; C];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "global_avg_pool";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { assert!(H * W > 0, "global pooling needs at least one position") };
        for (xb, yb) in x.iter().zip(y) {
            *yb = mean(xb.as_flattened());
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

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Backward<T>
    for GlobalAvgPool2d<T, C, H, W>
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
        let Some(dx) = dx else { return };
        for (dxb, d) in dx.iter_mut().zip(dy) {
            spread(d, dxb.as_flattened_mut());
        }
    }
}

impl<T: Scalar, const C: usize, const L: usize> Forward<T> for GlobalAvgPool1d<T, C, L> {
    type Input = [[T; C]; L];
    type Output = [T; C];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "global_avg_pool";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { assert!(L > 0, "global pooling needs at least one position") };
        for (xb, yb) in x.iter().zip(y) {
            *yb = mean(xb);
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

impl<T: Scalar, const C: usize, const L: usize> Backward<T> for GlobalAvgPool1d<T, C, L> {
    fn backward<const B: usize>(
        &self,
        _x: &[Self::Input; B],
        _y: &[Self::Output; B],
        _: &(),
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        _: Option<&mut ()>,
    ) {
        let Some(dx) = dx else { return };
        for (dxb, d) in dx.iter_mut().zip(dy) {
            spread(d, dxb);
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::conv::tests::distinct;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_match_finite_differences() {
        let x: [[[[f64; 2]; 4]; 3]; 2] = distinct();
        let report = check_layer(&mut GlobalAvgPool2d::<f64, 2, 3, 4>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[f64; 3]; 5]; 2] = distinct();
        let report = check_layer(&mut GlobalAvgPool1d::<f64, 3, 5>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn each_channel_becomes_its_mean() {
        let mut y = [[0.0; 2]];
        // Channel 0 is 1, 2, 3, 6 and channel 1 is -1, -1, -1, 3, row by row.
        let x = [[[[1.0, -1.0], [2.0, -1.0]], [[3.0, -1.0], [6.0, 3.0]]]];
        GlobalAvgPool2d::<f64, 2, 2, 2>::default().forward(&x, &mut y);
        assert_eq!(y, [[3.0, 0.0]]);
        let x = [[[1.0, 0.0], [2.0, 0.0], [6.0, 0.0]]];
        GlobalAvgPool1d::<f64, 2, 3>::default().forward(&x, &mut y);
        assert_eq!(y, [[3.0, 0.0]]);
    }
}
