//! `Conv1d`: 1d convolution (cross-correlation) with stride and zero padding, for
//! channels-last sequences and signals.
//!
//! `y[i][o] = bias[o] + sum over u, c of weight[u][c][o] * x[i*S + u - P][c]`, reading zero
//! outside the input. The kernels are those of [`Conv2d`](super::Conv2d) with one spatial
//! axis: the matrix products of [`gradflow_tensor::conv`] (as a 1 x `L` image) where the
//! element type has a fast product, and elsewhere direct loops whose innermost loops run over
//! the contiguous channels of one position, with the weight transposed to `[K][OC][C]` in the
//! cache for the input gradient.

use super::{check_axis, reader, tap};
use crate::init::Init;
use crate::layer::{
    split_states, Backward, Forward, Param, Tensor, TensorKind, TensorMut, Trainable,
};
use bytemuck::Zeroable;
use gradflow_tensor::conv::{self as kernel, Geometry};
use gradflow_tensor::matmul::axpy;
use gradflow_tensor::Scalar;
use rand::RngCore;

/// A 1d convolution from `C` channels of length `L` to `OC` channels of length `OL`, with a
/// kernel of `K` taps, stride `S` and zero padding `P` at both ends. Samples are
/// channels-last: `[[T; C]; L]` in, `[[T; OC]; OL]` out.
///
/// `OL` must be `(L + 2P - K) / S + 1` (rounded down); see [`output_len`](super::output_len);
/// `C`, `K` and `S` must be at least 1. Otherwise the build fails where the layer is used.
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
    /// `weight[u][c][o]` multiplies input channel `c` at tap `u` for output channel `o`:
    /// shape `[K, C, OC]`, which is PyTorch's `[OC, C, K]` weight permuted by `(2, 1, 0)`.
    pub weight: [[[T; OC]; C]; K],
    /// One bias per output channel.
    pub bias: [T; OC],
}

/// Gradients of a [`Conv1d`] layer's parameters (and, for optimizers, their state).
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv1dGrads<T, const C: usize, const OC: usize, const K: usize> {
    /// Gradient of the weight, `[K][C][OC]` like the weight.
    pub weight: [[[T; OC]; C]; K],
    /// Gradient of the bias.
    pub bias: [T; OC],
}

/// What the backward pass of a [`Conv1d`] needs from a training-mode forward pass: for the
/// direct kernel, the weight as it was then, transposed to `[K][OC][C]` (left zeroed where the
/// matrix-product kernel runs).
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv1dCache<T, const C: usize, const OC: usize, const K: usize> {
    /// `weight_t[u][o][c] == weight[u][c][o]`.
    pub weight_t: [[[T; C]; OC]; K],
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
    /// The weight's shape as stored, `[K, C, OC]`.
    const WEIGHT_SHAPE: [usize; 3] = [K, C, OC];
    /// The convolution as [`gradflow_tensor::conv`] describes it: a 1 x `L` image.
    const GEOMETRY: Geometry = Geometry {
        h: 1,
        w: L,
        c: C,
        oh: 1,
        ow: OL,
        oc: OC,
        kh: 1,
        kw: K,
        sh: 1,
        sw: S,
        ph: 0,
        pw: P,
    };
    const BIAS_SHAPE: [usize; 1] = [OC];

    const fn check_shapes() {
        assert!(C >= 1, "a convolution needs at least one input channel");
        check_axis(L, K, S, P, OL);
    }

    /// Draws the weight with `init` (fan-in `C*K`, fan-out `OC*K`) and zeroes the bias.
    pub fn init_with(&mut self, init: Init, rng: &mut dyn RngCore) {
        let weight = self.weight.as_flattened_mut().as_flattened_mut();
        init.fill(weight, C * K, OC * K, rng);
        self.bias = [T::ZERO; OC];
    }

    fn forward_sample(&self, x: &[[T; C]; L], y: &mut [[T; OC]; OL]) {
        for (i, yp) in y.iter_mut().enumerate() {
            let mut acc = self.bias;
            for (u, wu) in self.weight.iter().enumerate() {
                let Some(ii) = tap(i, u, S, P, L) else {
                    continue;
                };
                for (&xc, wc) in x[ii].iter().zip(wu) {
                    axpy(&mut acc, xc, wc);
                }
            }
            *yp = acc;
        }
    }

    /// Adds this sample's weight and bias gradients into `g`.
    fn param_grads(x: &[[T; C]; L], dy: &[[T; OC]; OL], g: &mut Conv1dGrads<T, C, OC, K>) {
        for (i, d) in dy.iter().enumerate() {
            for (gb, &d) in g.bias.iter_mut().zip(d) {
                *gb += d;
            }
            for (u, gu) in g.weight.iter_mut().enumerate() {
                let Some(ii) = tap(i, u, S, P, L) else {
                    continue;
                };
                for (&xc, gc) in x[ii].iter().zip(gu) {
                    axpy(gc, xc, d);
                }
            }
        }
    }

    /// Writes this sample's input gradient (the transposed convolution of `dy`): each input
    /// element gathers the gradients of the outputs whose windows read it, through the
    /// transposed weight `weight_t`.
    fn input_grad(weight_t: &[[[T; C]; OC]; K], dy: &[[T; OC]; OL], dx: &mut [[T; C]; L]) {
        for (ii, dxp) in dx.iter_mut().enumerate() {
            let mut acc = [T::ZERO; C];
            for (u, wu) in weight_t.iter().enumerate() {
                let Some(i) = reader(ii, u, S, P, OL) else {
                    continue;
                };
                for (&d, wo) in dy[i].iter().zip(wu) {
                    axpy(&mut acc, d, wo);
                }
            }
            *dxp = acc;
        }
    }

    /// Inference through the matrix products of [`gradflow_tensor::conv`].
    fn forward_products<const B: usize>(&self, x: &[[[T; C]; L]; B], y: &mut [[[T; OC]; OL]; B]) {
        let positions = y.as_flattened_mut();
        positions.fill(self.bias);
        let x = x.as_flattened().as_flattened();
        let w = self.weight.as_flattened().as_flattened();
        kernel::forward(&Self::GEOMETRY, B, x, w, positions.as_flattened_mut());
    }

    /// The backward pass through the matrix products of [`gradflow_tensor::conv`].
    fn backward_products<const B: usize>(
        &self,
        x: &[[[T; C]; L]; B],
        dy: &[[[T; OC]; OL]; B],
        dx: Option<&mut [[[T; C]; L]; B]>,
        grads: Option<&mut Conv1dGrads<T, C, OC, K>>,
    ) {
        if dx.is_none() && grads.is_none() {
            return;
        }
        let dw = grads.map(|g| {
            for d in dy.as_flattened() {
                for (gb, &d) in g.bias.iter_mut().zip(d) {
                    *gb += d;
                }
            }
            g.weight.as_flattened_mut().as_flattened_mut()
        });
        let dx = dx.map(|dx| dx.as_flattened_mut().as_flattened_mut());
        let (x, dy) = (
            x.as_flattened().as_flattened(),
            dy.as_flattened().as_flattened(),
        );
        let w = self.weight.as_flattened().as_flattened();
        kernel::backward(&Self::GEOMETRY, B, x, w, dy, dx, dw);
    }

    /// Writes the weight, transposed to `[K][OC][C]`, into `cache`.
    fn transpose_weight(&self, cache: &mut Conv1dCache<T, C, OC, K>) {
        for (tu, wu) in cache.weight_t.iter_mut().zip(&self.weight) {
            for (c, wc) in wu.iter().enumerate() {
                for (to, &w) in tu.iter_mut().zip(wc) {
                    to[c] = w;
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
    type Input = [[T; C]; L];
    type Output = [[T; OC]; OL];
    /// The transposed weight, for the direct kernel's input gradient (the matrix products
    /// leave it unused).
    type Cache<const B: usize> = Conv1dCache<T, C, OC, K>;
    const KIND: &'static str = "conv1d";
    const PARAM_COUNT: usize = OC * C * K + OC;

    fn init(&mut self, rng: &mut dyn RngCore) {
        self.init_with(Init::XavierUniform, rng);
    }

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { Self::check_shapes() };
        if T::has_fast_gemm() {
            self.forward_products(x, y);
        } else {
            for (xb, yb) in x.iter().zip(y) {
                self.forward_sample(xb, yb);
            }
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Conv1dCache<T, C, OC, K>,
    ) {
        self.forward(x, y);
        if !T::has_fast_gemm() {
            self.transpose_weight(cache);
        }
    }

    /// Visits `weight`, shape `[K, C, OC]` as stored: PyTorch's `[OC, C, K]` weight permuted
    /// by `(2, 1, 0)`, so `ours[u][c][o] == pytorch[o][c][u]`; then `bias`, shape `[OC]`.
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

    /// Visits the tensors of [`Forward::visit_tensors`] mutably, with the same shapes.
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
        cache: &Conv1dCache<T, C, OC, K>,
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        const { Self::check_shapes() };
        if T::has_fast_gemm() {
            return self.backward_products(x, dy, dx, grads);
        }
        if let Some(dx) = dx {
            for (dyb, dxb) in dy.iter().zip(dx) {
                Self::input_grad(&cache.weight_t, dyb, dxb);
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
        let x: [[[f64; C]; L]; 3] = core::array::from_fn(|b| {
            core::array::from_fn(|i| test_values((100 * b + i) as u64 + 7))
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
        // weight[u][c][0]: tap 0 weighs the channels 1 and 0, tap 1 weighs them -1 and 2.
        layer.weight = [[[1.0], [0.0]], [[-1.0], [2.0]]];
        layer.bias = [0.25];
        // Channel 0 is 1, 2, 3, 4, 5; channel 1 is 1, 1, 1, 1, 10.
        let x = [[[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0], [5.0, 10.0]]];
        let mut y = [[[0.0]; 3]];
        layer.forward(&x, &mut y);
        // Window -1: (0 - 1) + 2 * 1; window 1: (2 - 3) + 2 * 1; window 3: (4 - 5) + 2 * 10.
        assert_eq!(y, [[[1.25], [1.25], [19.25]]]);
    }

    /// Where `f32` has the fast product, it must agree with the direct loops (elsewhere only
    /// the direct ones run, and the f64 checks cover them).
    #[test]
    fn matrix_products_agree_with_the_direct_loops() {
        if !f32::has_fast_gemm() {
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(22);
        let mut layer: Conv1d<f32, 5, 9, 7, 3, 2, 1, 5> = Zeroable::zeroed();
        layer.init_with(Init::HeNormal, &mut rng);
        layer.bias = core::array::from_fn(|o| o as f32 * 0.1);
        let mut values = (1..).map(|k: u32| ((k * 7919) % 211) as f32 / 211.0 - 0.5);
        let x: [[[f32; 5]; 9]; 3] = core::array::from_fn(|_| {
            core::array::from_fn(|_| core::array::from_fn(|_| values.next().unwrap_or(0.0)))
        });
        let dy: [[[f32; 7]; 5]; 3] = core::array::from_fn(|_| {
            core::array::from_fn(|_| core::array::from_fn(|_| values.next().unwrap_or(0.0)))
        });
        let mut y_products = Zeroable::zeroed();
        layer.forward_products(&x, &mut y_products);
        let (mut dx_products, mut g_products) = (Zeroable::zeroed(), Zeroable::zeroed());
        layer.backward_products(&x, &dy, Some(&mut dx_products), Some(&mut g_products));
        let mut cache = Zeroable::zeroed();
        layer.transpose_weight(&mut cache);
        let mut g_direct: Conv1dGrads<f32, 5, 7, 3> = Zeroable::zeroed();
        for b in 0..3 {
            let (mut y, mut dx) = (Zeroable::zeroed(), Zeroable::zeroed());
            layer.forward_sample(&x[b], &mut y);
            Conv1d::<f32, 5, 9, 7, 3, 2, 1, 5>::input_grad(&cache.weight_t, &dy[b], &mut dx);
            Conv1d::<f32, 5, 9, 7, 3, 2, 1, 5>::param_grads(&x[b], &dy[b], &mut g_direct);
            let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
            assert!(close(y.as_flattened(), y_products[b].as_flattened()));
            assert!(close(dx.as_flattened(), dx_products[b].as_flattened()));
        }
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-4);
        let (gw, pw) = (&g_direct.weight, &g_products.weight);
        assert!(close(
            gw.as_flattened().as_flattened(),
            pw.as_flattened().as_flattened()
        ));
        assert!(close(&g_direct.bias, &g_products.bias));
    }

    #[test]
    fn tensors_have_their_memory_shapes() {
        let layer: Conv1d<f32, 3, 8, 4, 5, 1, 2, 8> = Zeroable::zeroed();
        let mut seen = std::vec::Vec::new();
        layer.visit_tensors(&mut |t| seen.push((t.name, t.shape.to_vec(), t.data.len())));
        let expected = [
            ("weight", std::vec![5, 3, 4], 60),
            ("bias", std::vec![4], 4),
        ];
        assert_eq!(seen, expected);
    }
}
