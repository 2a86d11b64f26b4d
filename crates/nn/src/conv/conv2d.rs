//! `Conv2d`: 2d convolution (cross-correlation, as in every deep-learning library) with
//! stride and zero padding.
//!
//! `y[o][i][j] = bias[o] + sum over c, u, v of weight[o][c][u][v] * x[c][i*S + u - P][j*S + v - P]`,
//! reading zero outside the input. The weight is stored `[out, in, kh, kw]`, PyTorch's layout,
//! so PyTorch weights load unchanged. Every loop nest runs its innermost loop along a row of
//! the output (and of the input, with step `S`), which is contiguous memory.

use super::{check_axis, taps};
use crate::init::Init;
use crate::layer::{
    split_states, Backward, Forward, Param, Tensor, TensorKind, TensorMut, Trainable,
};
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;
use rand::RngCore;

/// A 2d convolution from `C` channels of `H x W` to `OC` channels of `OH x OW`, with a
/// `K x K` kernel, stride `S` and zero padding `P` on every side.
///
/// `OH` must be `(H + 2P - K) / S + 1` (rounded down) and `OW` likewise; see
/// [`output_len`](super::output_len). A mismatch fails the build.
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv2d<
    T,
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
> {
    /// `weight[o][c][u][v]` multiplies input channel `c` at kernel row `u`, column `v` for
    /// output channel `o` (PyTorch's `[out, in, kh, kw]`).
    pub weight: [[[[T; K]; K]; C]; OC],
    /// One bias per output channel.
    pub bias: [T; OC],
}

/// Gradients of a [`Conv2d`] layer's parameters (and, for optimizers, their state).
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv2dGrads<T, const C: usize, const OC: usize, const K: usize> {
    /// Gradient of the weight.
    pub weight: [[[[T; K]; K]; C]; OC],
    /// Gradient of the bias.
    pub bias: [T; OC],
}

type Sample<T, const C: usize, const H: usize, const W: usize> = [[[T; W]; H]; C];

impl<
        T: Scalar,
        const C: usize,
        const H: usize,
        const W: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    > Conv2d<T, C, H, W, OC, K, S, P, OH, OW>
{
    const WEIGHT_SHAPE: [usize; 4] = [OC, C, K, K];
    const BIAS_SHAPE: [usize; 1] = [OC];

    const fn check_shapes() {
        check_axis(H, K, S, P, OH);
        check_axis(W, K, S, P, OW);
    }

    /// Draws the weight with `init` (fan-in `C*K*K`, fan-out `OC*K*K`, as PyTorch counts
    /// them) and zeroes the bias.
    pub fn init_with(&mut self, init: Init, rng: &mut dyn RngCore) {
        let weight = self.weight.as_flattened_mut().as_flattened_mut();
        init.fill(weight.as_flattened_mut(), C * K * K, OC * K * K, rng);
        self.bias = [T::ZERO; OC];
    }

    fn forward_sample(&self, x: &Sample<T, C, H, W>, y: &mut Sample<T, OC, OH, OW>) {
        for ((yo, wo), &bias) in y.iter_mut().zip(&self.weight).zip(&self.bias) {
            *yo = [[bias; OW]; OH];
            for (xc, wc) in x.iter().zip(wo) {
                for (u, wu) in wc.iter().enumerate() {
                    let (rows, i0) = taps(u, S, P, H, OH);
                    for (v, &w) in wu.iter().enumerate() {
                        let (cols, j0) = taps(v, S, P, W, OW);
                        for (yrow, xrow) in
                            yo[rows.clone()].iter_mut().zip(xc[i0..].iter().step_by(S))
                        {
                            let xs = xrow[j0..].iter().step_by(S);
                            for (y, &x) in yrow[cols.clone()].iter_mut().zip(xs) {
                                *y += w * x;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds this sample's weight and bias gradients into `g`.
    fn param_grads(
        x: &Sample<T, C, H, W>,
        dy: &Sample<T, OC, OH, OW>,
        g: &mut Conv2dGrads<T, C, OC, K>,
    ) {
        for ((dyo, go), gb) in dy.iter().zip(&mut g.weight).zip(&mut g.bias) {
            for &d in dyo.as_flattened() {
                *gb += d;
            }
            for (xc, gc) in x.iter().zip(go) {
                for (u, gu) in gc.iter_mut().enumerate() {
                    let (rows, i0) = taps(u, S, P, H, OH);
                    for (v, gw) in gu.iter_mut().enumerate() {
                        let (cols, j0) = taps(v, S, P, W, OW);
                        let mut acc = T::ZERO;
                        for (dyrow, xrow) in
                            dyo[rows.clone()].iter().zip(xc[i0..].iter().step_by(S))
                        {
                            let xs = xrow[j0..].iter().step_by(S);
                            for (&d, &x) in dyrow[cols.clone()].iter().zip(xs) {
                                acc += d * x;
                            }
                        }
                        *gw += acc;
                    }
                }
            }
        }
    }

    /// Writes this sample's input gradient: the transposed convolution of `dy`, scattering
    /// each output's gradient back onto the inputs its window read.
    fn input_grad(&self, dy: &Sample<T, OC, OH, OW>, dx: &mut Sample<T, C, H, W>) {
        *dx = [[[T::ZERO; W]; H]; C];
        for (dyo, wo) in dy.iter().zip(&self.weight) {
            for (dxc, wc) in dx.iter_mut().zip(wo) {
                for (u, wu) in wc.iter().enumerate() {
                    let (rows, i0) = taps(u, S, P, H, OH);
                    for (v, &w) in wu.iter().enumerate() {
                        let (cols, j0) = taps(v, S, P, W, OW);
                        let dxrows = dxc[i0..].iter_mut().step_by(S);
                        for (dyrow, dxrow) in dyo[rows.clone()].iter().zip(dxrows) {
                            let dxs = dxrow[j0..].iter_mut().step_by(S);
                            for (&d, dx) in dyrow[cols.clone()].iter().zip(dxs) {
                                *dx += w * d;
                            }
                        }
                    }
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
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    > Forward<T> for Conv2d<T, C, H, W, OC, K, S, P, OH, OW>
{
    type Input = [[[T; W]; H]; C];
    type Output = [[[T; OW]; OH]; OC];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "conv2d";
    const PARAM_COUNT: usize = OC * C * K * K + OC;

    fn init(&mut self, rng: &mut dyn RngCore) {
        self.init_with(Init::XavierUniform, rng);
    }

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { Self::check_shapes() };
        for (xb, yb) in x.iter().zip(y) {
            self.forward_sample(xb, yb);
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

    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, T>)) {
        const { Self::check_shapes() };
        let (layer, kind) = ("", TensorKind::Trainable);
        let data = self.weight.as_flattened().as_flattened().as_flattened();
        let shape = &Self::WEIGHT_SHAPE;
        f(Tensor {
            layer,
            name: "weight",
            kind,
            shape,
            data,
        });
        let (shape, data) = (&Self::BIAS_SHAPE, &self.bias[..]);
        f(Tensor {
            layer,
            name: "bias",
            kind,
            shape,
            data,
        });
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, T>)) {
        const { Self::check_shapes() };
        let (layer, kind) = ("", TensorKind::Trainable);
        let data = self.weight.as_flattened_mut().as_flattened_mut();
        let data = data.as_flattened_mut();
        let shape = &Self::WEIGHT_SHAPE;
        f(TensorMut {
            layer,
            name: "weight",
            kind,
            shape,
            data,
        });
        let (shape, data) = (&Self::BIAS_SHAPE, &mut self.bias[..]);
        f(TensorMut {
            layer,
            name: "bias",
            kind,
            shape,
            data,
        });
    }
}

impl<
        T: Scalar,
        const C: usize,
        const H: usize,
        const W: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    > Trainable<T> for Conv2d<T, C, H, W, OC, K, S, P, OH, OW>
{
    type Grads = Conv2dGrads<T, C, OC, K>;

    fn visit_params<const N: usize>(
        &mut self,
        grads: &Self::Grads,
        mut states: [&mut Self::Grads; N],
        f: &mut dyn FnMut(Param<'_, T, N>),
    ) {
        const { Self::check_shapes() };
        let value = self.weight.as_flattened_mut().as_flattened_mut();
        f(Param {
            layer: "",
            name: "weight",
            value: value.as_flattened_mut(),
            grad: grads.weight.as_flattened().as_flattened().as_flattened(),
            state: split_states(&mut states, |g| {
                let w = g.weight.as_flattened_mut().as_flattened_mut();
                w.as_flattened_mut()
            }),
        });
        f(Param {
            layer: "",
            name: "bias",
            value: &mut self.bias,
            grad: &grads.bias,
            state: split_states(&mut states, |g| &mut g.bias[..]),
        });
    }
}

impl<
        T: Scalar,
        const C: usize,
        const H: usize,
        const W: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    > Backward<T> for Conv2d<T, C, H, W, OC, K, S, P, OH, OW>
{
    fn backward<const B: usize>(
        &self,
        x: &[Self::Input; B],
        _y: &[Self::Output; B],
        _cache: &(),
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        const { Self::check_shapes() };
        if let Some(dx) = dx {
            for (dyb, dxb) in dy.iter().zip(dx) {
                self.input_grad(dyb, dxb);
            }
        }
        if let Some(g) = grads {
            for (xb, dyb) in x.iter().zip(dy) {
                Self::param_grads(xb, dyb, g);
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use gradflow_tensor::gradcheck::test_values;
    use rand::SeedableRng;

    /// Checks input, weight and bias gradients of one configuration on a batch of 2.
    fn check<
        const C: usize,
        const H: usize,
        const W: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    >() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut layer: Conv2d<f64, C, H, W, OC, K, S, P, OH, OW> = Zeroable::zeroed();
        layer.init_with(Init::HeNormal, &mut rng);
        layer.bias = core::array::from_fn(|o| 0.1 * o as f64 - 0.05);
        let x: [[[[f64; W]; H]; C]; 2] = core::array::from_fn(|b| {
            core::array::from_fn(|c| {
                core::array::from_fn(|h| test_values((100 * b + 10 * c + h) as u64))
            })
        });
        let report = check_layer(&mut layer, &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn gradients_stride_1_no_padding() {
        check::<2, 5, 4, 3, 3, 1, 0, 3, 2>();
    }

    #[test]
    fn gradients_stride_1_same_padding() {
        check::<2, 5, 4, 3, 3, 1, 1, 5, 4>();
    }

    #[test]
    fn gradients_stride_2_no_padding() {
        check::<2, 7, 6, 3, 3, 2, 0, 3, 2>();
    }

    #[test]
    fn gradients_stride_2_same_padding() {
        // ceil(5 / 2) = 3 rows; (4 + 2 - 3) / 2 + 1 = 2 columns, rounded down.
        check::<2, 5, 4, 3, 3, 2, 1, 3, 2>();
    }

    #[test]
    fn gradients_kernel_1() {
        check::<3, 4, 5, 2, 1, 1, 0, 4, 5>();
        check::<3, 5, 4, 2, 1, 2, 0, 3, 2>();
    }

    #[test]
    fn gradients_even_kernel_that_drops_the_last_row_and_wide_padding() {
        check::<2, 5, 6, 2, 2, 2, 0, 2, 3>();
        check::<1, 3, 2, 2, 3, 1, 2, 5, 4>();
    }

    #[test]
    fn forward_matches_a_hand_computed_example() {
        let x = [[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]];
        let ones = [[[[1.0; 2]; 2]]];
        let mut plain: Conv2d<f64, 1, 3, 3, 1, 2, 1, 0, 2, 2> = Zeroable::zeroed();
        plain.weight = ones;
        plain.bias = [0.5];
        let mut y = [[[[0.0; 2]; 2]]];
        plain.forward(&x, &mut y);
        assert_eq!(y, [[[[12.5, 16.5], [24.5, 28.5]]]]);

        // Stride 2, padding 1: windows start at rows and columns -1 and 1.
        let mut padded: Conv2d<f64, 1, 3, 3, 1, 2, 2, 1, 2, 2> = Zeroable::zeroed();
        padded.weight = ones;
        padded.forward(&x, &mut y);
        assert_eq!(y, [[[[1.0, 5.0], [11.0, 28.0]]]]);
    }

    #[test]
    fn channels_sum_into_each_output() {
        let mut layer: Conv2d<f64, 2, 1, 1, 2, 1, 1, 0, 1, 1> = Zeroable::zeroed();
        layer.weight = [[[[1.0]], [[10.0]]], [[[-1.0]], [[0.5]]]];
        let mut y = [[[[0.0]]; 2]];
        layer.forward(&[[[[2.0]], [[3.0]]]], &mut y);
        assert_eq!(y, [[[[32.0]], [[-0.5]]]]);
    }

    #[test]
    fn tensors_have_pytorch_shapes_and_count() {
        let layer: Conv2d<f32, 3, 8, 8, 4, 3, 1, 1, 8, 8> = Zeroable::zeroed();
        let mut seen = std::vec::Vec::new();
        layer.visit_tensors(&mut |t| seen.push((t.name, t.shape.to_vec(), t.data.len())));
        assert_eq!(
            seen,
            [
                ("weight", std::vec![4, 3, 3, 3], 108),
                ("bias", std::vec![4], 4)
            ]
        );
        assert_eq!(
            <Conv2d<f32, 3, 8, 8, 4, 3, 1, 1, 8, 8> as Forward<f32>>::PARAM_COUNT,
            112
        );
    }
}
