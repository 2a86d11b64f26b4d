//! `Flatten2d` and `Flatten1d`: a channels-last feature map as one flat vector in memory
//! order, row after row, then column after column, with the channels of each position
//! together (the order of `flatten` on `[B, H, W, C]`, as in Keras; PyTorch's `flatten` on
//! `[B, C, H, W]` orders channel first), so that a dense layer can follow convolutions.
//! Copies only; the backward pass copies back.

use super::parameter_free;
use crate::layer::{Backward, Forward};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::Scalar;

/// `[[[T; C]; W]; H]` to `[T; N]`, with `N = H * W * C` (checked at build time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct Flatten2d<T, const C: usize, const H: usize, const W: usize, const N: usize> {
    marker: PhantomData<T>,
}

/// `[[T; C]; L]` to `[T; N]`, with `N = L * C` (checked at build time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Zeroable)]
pub struct Flatten1d<T, const C: usize, const L: usize, const N: usize> {
    marker: PhantomData<T>,
}

parameter_free!(Flatten2d<C, H, W, N>);
parameter_free!(Flatten1d<C, L, N>);

impl<T: Scalar, const C: usize, const H: usize, const W: usize, const N: usize> Forward<T>
    for Flatten2d<T, C, H, W, N>
{
    type Input = [[[T; C]; W]; H];
    type Output = [T; N];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "flatten";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { assert!(N == C * H * W, "flatten2d: N must be C * H * W") };
        let x = x.as_flattened().as_flattened().as_flattened();
        y.as_flattened_mut().copy_from_slice(x);
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

impl<T: Scalar, const C: usize, const H: usize, const W: usize, const N: usize> Backward<T>
    for Flatten2d<T, C, H, W, N>
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
        const { assert!(N == C * H * W, "flatten2d: N must be C * H * W") };
        if let Some(dx) = dx {
            let dx = dx.as_flattened_mut().as_flattened_mut();
            dx.as_flattened_mut().copy_from_slice(dy.as_flattened());
        }
    }
}

impl<T: Scalar, const C: usize, const L: usize, const N: usize> Forward<T>
    for Flatten1d<T, C, L, N>
{
    type Input = [[T; C]; L];
    type Output = [T; N];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "flatten";

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { assert!(N == C * L, "flatten1d: N must be C * L") };
        let x = x.as_flattened().as_flattened();
        y.as_flattened_mut().copy_from_slice(x);
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

impl<T: Scalar, const C: usize, const L: usize, const N: usize> Backward<T>
    for Flatten1d<T, C, L, N>
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
        const { assert!(N == C * L, "flatten1d: N must be C * L") };
        if let Some(dx) = dx {
            let dx = dx.as_flattened_mut().as_flattened_mut();
            dx.copy_from_slice(dy.as_flattened());
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::conv::tests::distinct;
    use crate::gradcheck::check_layer;

    #[test]
    fn order_is_row_then_column_then_channel() {
        let mut y = [[0.0; 12]; 2];
        // 2 rows, 2 columns, 3 channels: element (row, column, channel) holds "rcc" digits.
        let x: [[[[f64; 3]; 2]; 2]; 2] = core::array::from_fn(|b| {
            core::array::from_fn(|r| {
                core::array::from_fn(|q| {
                    core::array::from_fn(|c| (1000 * b + 100 * r + 10 * q + c) as f64)
                })
            })
        });
        Flatten2d::<f64, 3, 2, 2, 12>::default().forward(&x, &mut y);
        let want = [0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112].map(f64::from);
        assert_eq!(y[0], want);
        assert_eq!(y[1], want.map(|v| v + 1000.0));
        let mut y = [[0.0; 6]];
        let x = [[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]];
        Flatten1d::<f64, 2, 3, 6>::default().forward(&x, &mut y);
        assert_eq!(y, [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x: [[[[f64; 2]; 4]; 3]; 2] = distinct();
        let report = check_layer(&mut Flatten2d::<f64, 2, 3, 4, 24>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[f64; 3]; 5]; 2] = distinct();
        let report = check_layer(&mut Flatten1d::<f64, 3, 5, 15>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }
}
