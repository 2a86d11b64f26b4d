//! `GlobalAvgPool2d` and `GlobalAvgPool1d`: the mean of each channel over all positions,
//! turning a feature map into one value per channel (the usual head of a convolutional
//! classifier, before a dense layer). The backward pass spreads each channel's gradient
//! evenly over its positions.

use super::parameter_free;
use crate::layer::{Backward, Forward};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::Scalar;

/// The mean over `H x W` of each of `C` channels: `[[[T; W]; H]; C]` to `[T; C]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct GlobalAvgPool2d<T, const C: usize, const H: usize, const W: usize> {
    marker: PhantomData<T>,
}

/// The mean over `L` positions of each of `C` channels: `[[T; L]; C]` to `[T; C]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct GlobalAvgPool1d<T, const C: usize, const L: usize> {
    marker: PhantomData<T>,
}

parameter_free!(GlobalAvgPool2d<C, H, W>);
parameter_free!(GlobalAvgPool1d<C, L>);

/// The mean of one channel's values.
fn mean<T: Scalar>(values: &[T]) -> T {
    let mut sum = T::ZERO;
    for &v in values {
        sum += v;
    }
    sum / T::from_f64(values.len() as f64)
}

/// Spreads a channel's gradient `d` evenly over its values' gradients `dx`.
fn spread<T: Scalar>(d: T, dx: &mut [T]) {
    dx.fill(d / T::from_f64(dx.len() as f64));
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Forward<T>
    for GlobalAvgPool2d<T, C, H, W>
{
    type Input = [[[T; W]; H]; C];
    type Output = [T; C];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "global_avg_pool";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { assert!(H * W > 0, "global pooling needs at least one position") };
        for (xc, y) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
            *y = mean(xc.as_flattened());
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
        for (dxc, &d) in dx.as_flattened_mut().iter_mut().zip(dy.as_flattened()) {
            spread(d, dxc.as_flattened_mut());
        }
    }
}

impl<T: Scalar, const C: usize, const L: usize> Forward<T> for GlobalAvgPool1d<T, C, L> {
    type Input = [[T; L]; C];
    type Output = [T; C];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "global_avg_pool";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { assert!(L > 0, "global pooling needs at least one position") };
        for (xc, y) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
            *y = mean(xc);
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
        for (dxc, &d) in dx.as_flattened_mut().iter_mut().zip(dy.as_flattened()) {
            spread(d, dxc);
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
        let x: [[[[f64; 4]; 3]; 2]; 2] = distinct();
        let report = check_layer(&mut GlobalAvgPool2d::<f64, 2, 3, 4>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[f64; 5]; 3]; 2] = distinct();
        let report = check_layer(&mut GlobalAvgPool1d::<f64, 3, 5>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn each_channel_becomes_its_mean() {
        let mut y = [[0.0; 2]];
        let x = [[[[1.0, 2.0], [3.0, 6.0]], [[-1.0, -1.0], [-1.0, 3.0]]]];
        GlobalAvgPool2d::<f64, 2, 2, 2>::default().forward(&x, &mut y);
        assert_eq!(y, [[3.0, 0.0]]);
        GlobalAvgPool1d::<f64, 2, 3>::default().forward(&[[[1.0, 2.0, 6.0], [0.0; 3]]], &mut y);
        assert_eq!(y, [[3.0, 0.0]]);
    }
}
