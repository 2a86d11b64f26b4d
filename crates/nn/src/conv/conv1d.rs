//! `Conv1d`: 1d convolution (cross-correlation) with stride and zero padding, for sequences
//! and signals.
//!
//! `y[o][i] = bias[o] + sum over c, u of weight[o][c][u] * x[c][i*S + u - P]`, reading zero
//! outside the input. The weight is stored `[out, in, k]`, PyTorch's layout. Inner loops run
//! along the output sequence (and the input, with step `S`).

use super::{check_axis, taps};
use crate::init::Init;
use crate::layer::{
    split_states, Backward, Forward, Param, Tensor, TensorKind, TensorMut, Trainable,
};
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;
use rand::RngCore;

/// A 1d convolution from `C` channels of length `L` to `OC` channels of length `OL`, with a
/// kernel of `K` taps, stride `S` and zero padding `P` at both ends.
///
/// `OL` must be `(L + 2P - K) / S + 1` (rounded down); see [`output_len`](super::output_len).
/// A mismatch fails the build.
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv1d<
    T,
    const C: usize,
    const L: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OL: usize,
> {
    /// `weight[o][c][u]` multiplies input channel `c` at tap `u` for output channel `o`
    /// (PyTorch's `[out, in, k]`).
    pub weight: [[[T; K]; C]; OC],
    /// One bias per output channel.
    pub bias: [T; OC],
}

/// Gradients of a [`Conv1d`] layer's parameters (and, for optimizers, their state).
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv1dGrads<T, const C: usize, const OC: usize, const K: usize> {
    /// Gradient of the weight.
    pub weight: [[[T; K]; C]; OC],
    /// Gradient of the bias.
    pub bias: [T; OC],
}

impl<
        T: Scalar,
        const C: usize,
        const L: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OL: usize,
    > Conv1d<T, C, L, OC, K, S, P, OL>
{
    const WEIGHT_SHAPE: [usize; 3] = [OC, C, K];
    const BIAS_SHAPE: [usize; 1] = [OC];

    const fn check_shapes() {
        check_axis(L, K, S, P, OL);
    }

    /// Draws the weight with `init` (fan-in `C*K`, fan-out `OC*K`) and zeroes the bias.
    pub fn init_with(&mut self, init: Init, rng: &mut dyn RngCore) {
        let weight = self.weight.as_flattened_mut().as_flattened_mut();
        init.fill(weight, C * K, OC * K, rng);
        self.bias = [T::ZERO; OC];
    }

    fn forward_sample(&self, x: &[[T; L]; C], y: &mut [[T; OL]; OC]) {
        for ((yo, wo), &bias) in y.iter_mut().zip(&self.weight).zip(&self.bias) {
            *yo = [bias; OL];
            for (xc, wc) in x.iter().zip(wo) {
                for (u, &w) in wc.iter().enumerate() {
                    let (outs, i0) = taps(u, S, P, L, OL);
                    for (y, &x) in yo[outs].iter_mut().zip(xc[i0..].iter().step_by(S)) {
                        *y += w * x;
                    }
                }
            }
        }
    }

    /// Adds this sample's weight and bias gradients into `g`.
    fn param_grads(x: &[[T; L]; C], dy: &[[T; OL]; OC], g: &mut Conv1dGrads<T, C, OC, K>) {
        for ((dyo, go), gb) in dy.iter().zip(&mut g.weight).zip(&mut g.bias) {
            for &d in dyo {
                *gb += d;
            }
            for (xc, gc) in x.iter().zip(go) {
                for (u, gw) in gc.iter_mut().enumerate() {
                    let (outs, i0) = taps(u, S, P, L, OL);
                    let mut acc = T::ZERO;
                    for (&d, &x) in dyo[outs].iter().zip(xc[i0..].iter().step_by(S)) {
                        acc += d * x;
                    }
                    *gw += acc;
                }
            }
        }
    }

    /// Writes this sample's input gradient (the transposed convolution of `dy`).
    fn input_grad(&self, dy: &[[T; OL]; OC], dx: &mut [[T; L]; C]) {
        *dx = [[T::ZERO; L]; C];
        for (dyo, wo) in dy.iter().zip(&self.weight) {
            for (dxc, wc) in dx.iter_mut().zip(wo) {
                for (u, &w) in wc.iter().enumerate() {
                    let (outs, i0) = taps(u, S, P, L, OL);
                    for (&d, dx) in dyo[outs].iter().zip(dxc[i0..].iter_mut().step_by(S)) {
                        *dx += w * d;
                    }
                }
            }
        }
    }
}

impl<
        T: Scalar,
        const C: usize,
        const L: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OL: usize,
    > Forward<T> for Conv1d<T, C, L, OC, K, S, P, OL>
{
    type Input = [[T; L]; C];
    type Output = [[T; OL]; OC];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "conv1d";
    const PARAM_COUNT: usize = OC * C * K + OC;

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
        let data = self.weight.as_flattened().as_flattened();
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
        const L: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OL: usize,
    > Trainable<T> for Conv1d<T, C, L, OC, K, S, P, OL>
{
    type Grads = Conv1dGrads<T, C, OC, K>;

    fn visit_params<const N: usize>(
        &mut self,
        grads: &Self::Grads,
        mut states: [&mut Self::Grads; N],
        f: &mut dyn FnMut(Param<'_, T, N>),
    ) {
        const { Self::check_shapes() };
        f(Param {
            layer: "",
            name: "weight",
            value: self.weight.as_flattened_mut().as_flattened_mut(),
            grad: grads.weight.as_flattened().as_flattened(),
            state: split_states(&mut states, |g| {
                g.weight.as_flattened_mut().as_flattened_mut()
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
        const L: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OL: usize,
    > Backward<T> for Conv1d<T, C, L, OC, K, S, P, OL>
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

    /// Checks input, weight and bias gradients of one configuration on a batch of 3.
    fn check<
        const C: usize,
        const L: usize,
        const OC: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OL: usize,
    >() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut layer: Conv1d<f64, C, L, OC, K, S, P, OL> = Zeroable::zeroed();
        layer.init_with(Init::HeNormal, &mut rng);
        layer.bias = core::array::from_fn(|o| 0.1 * o as f64 - 0.05);
        let x: [[[f64; L]; C]; 3] = core::array::from_fn(|b| {
            core::array::from_fn(|c| test_values((10 * b + c) as u64 + 7))
        });
        let report = check_layer(&mut layer, &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn gradients_stride_1() {
        check::<2, 9, 3, 3, 1, 0, 7>();
        check::<2, 9, 3, 3, 1, 1, 9>(); // 'same'
    }

    #[test]
    fn gradients_stride_2() {
        check::<2, 9, 3, 3, 2, 0, 4>();
        check::<2, 8, 3, 3, 2, 1, 4>(); // 'same': ceil(8 / 2)
        check::<2, 9, 3, 5, 2, 2, 5>(); // 'same': ceil(9 / 2)
    }

    #[test]
    fn gradients_kernel_1_and_wide_padding() {
        check::<3, 6, 2, 1, 1, 0, 6>();
        check::<3, 6, 2, 1, 2, 0, 3>();
        check::<1, 2, 2, 3, 1, 3, 6>();
    }

    #[test]
    fn forward_matches_a_hand_computed_example() {
        // Two channels, kernel [1, -1] on the first and [0, 2] on the second, stride 2,
        // padding 1: windows start at -1, 1 and 3.
        let mut layer: Conv1d<f64, 2, 5, 1, 2, 2, 1, 3> = Zeroable::zeroed();
        layer.weight = [[[1.0, -1.0], [0.0, 2.0]]];
        layer.bias = [0.25];
        let x = [[[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0, 10.0]]];
        let mut y = [[[0.0; 3]]];
        layer.forward(&x, &mut y);
        // Window -1: (0 - 1) + 2 * 1; window 1: (2 - 3) + 2 * 1; window 3: (4 - 5) + 2 * 10.
        assert_eq!(y, [[[1.25, 1.25, 19.25]]]);
    }
}
