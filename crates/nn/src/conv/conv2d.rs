//! `Conv2d`: 2d convolution (cross-correlation, as in every deep-learning library) with
//! stride and zero padding, over channels-last images.
//!
//! `y[i][j][o] = bias[o] + sum over u, v, c of weight[u][v][c][o] * x[i*S + u - P][j*S + v - P][c]`,
//! reading zero outside the input. Two kernels compute it:
//!
//! - Where the element type has a fast matrix product on this machine
//!   ([`Scalar::has_fast_gemm`]: `f32` with AVX2 and FMA), the products of
//!   [`gradflow_tensor::conv`]: patches of the input times the weight, gathered a block at a
//!   time on the stack.
//! - Elsewhere (`f64`, and `f32` without those instructions), direct loops whose innermost loop
//!   runs over channels, contiguous in memory: the forward pass and the weight gradient add,
//!   per output position and input channel, a weight row `weight[u][v][c]` (all `OC` outputs)
//!   scaled by one value. The input gradient gathers, per input position, the output
//!   gradients of the windows that read it, through the weight transposed to `[K][K][OC][C]`,
//!   so that its innermost loop, too, runs over the `C` channels it writes; the training-mode
//!   forward pass keeps that transposed copy in the layer's cache.
//!
//! See the [module docs](super) for the layout.

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

/// A 2d convolution from `C` channels of `H x W` to `OC` channels of `OH x OW`, with a
/// `K x K` kernel, stride `S` and zero padding `P` on every side. Samples are channels-last:
/// `[[[T; C]; W]; H]` in, `[[[T; OC]; OW]; OH]` out.
///
/// `OH` must be `(H + 2P - K) / S + 1` (rounded down) and `OW` likewise; see
/// [`output_len`](super::output_len); `C`, `K` and `S` must be at least 1. Otherwise the build
/// fails where the layer is used.
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
    /// `weight[u][v][c][o]` multiplies input channel `c` at kernel row `u`, column `v` for
    /// output channel `o`: shape `[K, K, C, OC]`, which is PyTorch's `[OC, C, K, K]` weight
    /// permuted by `(2, 3, 1, 0)`.
    pub weight: [[[[T; OC]; C]; K]; K],
    /// One bias per output channel.
    pub bias: [T; OC],
}

/// Gradients of a [`Conv2d`] layer's parameters (and, for optimizers, their state).
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv2dGrads<T, const C: usize, const OC: usize, const K: usize> {
    /// Gradient of the weight, `[K][K][C][OC]` like the weight.
    pub weight: [[[[T; OC]; C]; K]; K],
    /// Gradient of the bias.
    pub bias: [T; OC],
}

/// What the backward pass of a [`Conv2d`] needs from a training-mode forward pass: for the
/// direct kernel, the weight as it was then, transposed to `[K][K][OC][C]` (left zeroed where
/// the matrix-product kernel runs, which reads the weight itself).
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Conv2dCache<T, const C: usize, const OC: usize, const K: usize> {
    /// `weight_t[u][v][o][c] == weight[u][v][c][o]`.
    pub weight_t: [[[[T; C]; OC]; K]; K],
}

/// One channels-last sample.
type Sample<T, const C: usize, const H: usize, const W: usize> = [[[T; C]; W]; H];

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
    /// The weight's shape as stored, `[K, K, C, OC]`.
    const WEIGHT_SHAPE: [usize; 4] = [K, K, C, OC];
    /// The convolution as [`gradflow_tensor::conv`] describes it.
    const GEOMETRY: Geometry = Geometry {
        h: H,
        w: W,
        c: C,
        oh: OH,
        ow: OW,
        oc: OC,
        kh: K,
        kw: K,
        sh: S,
        sw: S,
        ph: P,
        pw: P,
    };
    const BIAS_SHAPE: [usize; 1] = [OC];

    const fn check_shapes() {
        assert!(C >= 1, "a convolution needs at least one input channel");
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
        for (i, yrow) in y.iter_mut().enumerate() {
            for (j, yp) in yrow.iter_mut().enumerate() {
                let mut acc = self.bias;
                for (u, wu) in self.weight.iter().enumerate() {
                    let Some(ii) = tap(i, u, S, P, H) else {
                        continue;
                    };
                    for (v, wv) in wu.iter().enumerate() {
                        let Some(jj) = tap(j, v, S, P, W) else {
                            continue;
                        };
                        for (&xc, wc) in x[ii][jj].iter().zip(wv) {
                            axpy(&mut acc, xc, wc);
                        }
                    }
                }
                *yp = acc;
            }
        }
    }

    /// Adds this sample's weight and bias gradients into `g`.
    fn param_grads(
        x: &Sample<T, C, H, W>,
        dy: &Sample<T, OC, OH, OW>,
        g: &mut Conv2dGrads<T, C, OC, K>,
    ) {
        for (i, dyrow) in dy.iter().enumerate() {
            for (j, d) in dyrow.iter().enumerate() {
                for (gb, &d) in g.bias.iter_mut().zip(d) {
                    *gb += d;
                }
                for (u, gu) in g.weight.iter_mut().enumerate() {
                    let Some(ii) = tap(i, u, S, P, H) else {
                        continue;
                    };
                    for (v, gv) in gu.iter_mut().enumerate() {
                        let Some(jj) = tap(j, v, S, P, W) else {
                            continue;
                        };
                        for (&xc, gc) in x[ii][jj].iter().zip(gv) {
                            axpy(gc, xc, d);
                        }
                    }
                }
            }
        }
    }

    /// Writes this sample's input gradient, the transposed convolution of `dy`: each input
    /// element gathers the gradients of the outputs whose windows read it, through the
    /// transposed weight `weight_t`.
    fn input_grad(
        weight_t: &[[[[T; C]; OC]; K]; K],
        dy: &Sample<T, OC, OH, OW>,
        dx: &mut Sample<T, C, H, W>,
    ) {
        for (ii, dxrow) in dx.iter_mut().enumerate() {
            for (jj, dxp) in dxrow.iter_mut().enumerate() {
                let mut acc = [T::ZERO; C];
                for (u, wu) in weight_t.iter().enumerate() {
                    let Some(i) = reader(ii, u, S, P, OH) else {
                        continue;
                    };
                    for (v, wv) in wu.iter().enumerate() {
                        let Some(j) = reader(jj, v, S, P, OW) else {
                            continue;
                        };
                        for (&d, wo) in dy[i][j].iter().zip(wv) {
                            axpy(&mut acc, d, wo);
                        }
                    }
                }
                *dxp = acc;
            }
        }
    }

    /// Inference through the matrix products of [`gradflow_tensor::conv`].
    fn forward_products<const B: usize>(
        &self,
        x: &[Sample<T, C, H, W>; B],
        y: &mut [Sample<T, OC, OH, OW>; B],
    ) {
        let positions = y.as_flattened_mut().as_flattened_mut();
        positions.fill(self.bias);
        let x = x.as_flattened().as_flattened().as_flattened();
        let w = self.weight.as_flattened().as_flattened().as_flattened();
        kernel::forward(&Self::GEOMETRY, B, x, w, positions.as_flattened_mut());
    }

    /// Inference through the direct loops.
    fn forward_direct<const B: usize>(
        &self,
        x: &[Sample<T, C, H, W>; B],
        y: &mut [Sample<T, OC, OH, OW>; B],
    ) {
        for (xb, yb) in x.iter().zip(y) {
            self.forward_sample(xb, yb);
        }
    }

    /// The backward pass through the matrix products of [`gradflow_tensor::conv`].
    fn backward_products<const B: usize>(
        &self,
        x: &[Sample<T, C, H, W>; B],
        dy: &[Sample<T, OC, OH, OW>; B],
        dx: Option<&mut [Sample<T, C, H, W>; B]>,
        grads: Option<&mut Conv2dGrads<T, C, OC, K>>,
    ) {
        if dx.is_none() && grads.is_none() {
            return;
        }
        let dw = grads.map(|g| {
            for d in dy.as_flattened().as_flattened() {
                for (gb, &d) in g.bias.iter_mut().zip(d) {
                    *gb += d;
                }
            }
            g.weight
                .as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut()
        });
        let dx = dx.map(|dx| dx.as_flattened_mut().as_flattened_mut().as_flattened_mut());
        kernel::backward(
            &Self::GEOMETRY,
            B,
            x.as_flattened().as_flattened().as_flattened(),
            self.weight.as_flattened().as_flattened().as_flattened(),
            dy.as_flattened().as_flattened().as_flattened(),
            dx,
            dw,
        );
    }

    /// The backward pass through the direct loops and the transposed weight in `cache`.
    fn backward_direct<const B: usize>(
        x: &[Sample<T, C, H, W>; B],
        dy: &[Sample<T, OC, OH, OW>; B],
        cache: &Conv2dCache<T, C, OC, K>,
        dx: Option<&mut [Sample<T, C, H, W>; B]>,
        grads: Option<&mut Conv2dGrads<T, C, OC, K>>,
    ) {
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

    /// Writes the weight, transposed to `[K][K][OC][C]`, into `cache`.
    fn transpose_weight(&self, cache: &mut Conv2dCache<T, C, OC, K>) {
        for (tu, wu) in cache.weight_t.iter_mut().zip(&self.weight) {
            for (tv, wv) in tu.iter_mut().zip(wu) {
                for (c, wc) in wv.iter().enumerate() {
                    for (to, &w) in tv.iter_mut().zip(wc) {
                        to[c] = w;
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
    type Input = [[[T; C]; W]; H];
    type Output = [[[T; OC]; OW]; OH];
    /// The transposed weight, for the direct kernel's input gradient (the matrix products
    /// leave it unused).
    type Cache<const B: usize> = Conv2dCache<T, C, OC, K>;
    const KIND: &'static str = "conv2d";
    const PARAM_COUNT: usize = OC * C * K * K + OC;

    fn init(&mut self, rng: &mut dyn RngCore) {
        self.init_with(Init::XavierUniform, rng);
    }

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        const { Self::check_shapes() };
        if T::has_fast_gemm() {
            self.forward_products(x, y);
        } else {
            self.forward_direct(x, y);
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Conv2dCache<T, C, OC, K>,
    ) {
        self.forward(x, y);
        if !T::has_fast_gemm() {
            self.transpose_weight(cache);
        }
    }

    /// Visits `weight`, shape `[K, K, C, OC]` as stored: PyTorch's `[OC, C, K, K]` weight
    /// permuted by `(2, 3, 1, 0)`, so `ours[u][v][c][o] == pytorch[o][c][u][v]`; then `bias`,
    /// shape `[OC]`, as in PyTorch.
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

    /// Visits the tensors of [`Forward::visit_tensors`] mutably, with the same shapes.
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
        cache: &Conv2dCache<T, C, OC, K>,
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        const { Self::check_shapes() };
        if T::has_fast_gemm() {
            self.backward_products(x, dy, dx, grads);
        } else {
            Self::backward_direct(x, dy, cache, dx, grads);
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
        let x: [[[[f64; C]; W]; H]; 2] = core::array::from_fn(|b| {
            core::array::from_fn(|h| {
                core::array::from_fn(|w| test_values((100 * b + 10 * h + w) as u64))
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
        // One channel: a 3x3 image whose pixel values are 1 to 9, row by row.
        let x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]].map(|r| r.map(|v| [v]));
        let x = [x];
        let ones = [[[[1.0]]; 2]; 2];
        let mut plain: Conv2d<f64, 1, 3, 3, 1, 2, 1, 0, 2, 2> = Zeroable::zeroed();
        plain.weight = ones;
        plain.bias = [0.5];
        let mut y = [[[[0.0]; 2]; 2]];
        plain.forward(&x, &mut y);
        assert_eq!(y, [[[[12.5], [16.5]], [[24.5], [28.5]]]]);

        // Stride 2, padding 1: windows start at rows and columns -1 and 1.
        let mut padded: Conv2d<f64, 1, 3, 3, 1, 2, 2, 1, 2, 2> = Zeroable::zeroed();
        padded.weight = ones;
        padded.forward(&x, &mut y);
        assert_eq!(y, [[[[1.0], [5.0]], [[11.0], [28.0]]]]);
    }

    #[test]
    fn channels_sum_into_each_output() {
        let mut layer: Conv2d<f64, 2, 1, 1, 2, 1, 1, 0, 1, 1> = Zeroable::zeroed();
        // Output 0 weighs the channels 1 and 10, output 1 weighs them -1 and 0.5.
        layer.weight = [[[[1.0, -1.0], [10.0, 0.5]]]];
        let mut y = [[[[0.0; 2]]]];
        layer.forward(&[[[[2.0, 3.0]]]], &mut y);
        assert_eq!(y, [[[[32.0, -0.5]]]]);
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // Indices spell out the definition.
    fn forward_matches_the_definition_with_stride_and_padding() {
        const C: usize = 3;
        const OC: usize = 5;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut layer: Conv2d<f64, C, 5, 6, OC, 3, 2, 1, 3, 3> = Zeroable::zeroed();
        layer.init_with(Init::HeNormal, &mut rng);
        layer.bias = [0.1, -0.2, 0.3, 0.0, 1.0];
        let x: [[[[f64; C]; 6]; 5]; 1] = [core::array::from_fn(|h| {
            core::array::from_fn(|w| test_values((h * 6 + w) as u64))
        })];
        let mut y = [[[[0.0; OC]; 3]; 3]];
        layer.forward(&x, &mut y);
        for (i, yrow) in y[0].iter().enumerate() {
            for (j, yp) in yrow.iter().enumerate() {
                for (o, &got) in yp.iter().enumerate() {
                    let mut want = layer.bias[o];
                    for u in 0..3 {
                        for v in 0..3 {
                            let (r, q) = ((2 * i + u).checked_sub(1), (2 * j + v).checked_sub(1));
                            let (Some(r), Some(q)) = (r, q) else { continue };
                            if r < 5 && q < 6 {
                                for c in 0..C {
                                    want += layer.weight[u][v][c][o] * x[0][r][q][c];
                                }
                            }
                        }
                    }
                    assert!(
                        (got - want).abs() < 1e-12,
                        "y[{i}][{j}][{o}]: {got} != {want}"
                    );
                }
            }
        }
    }

    /// Where `f32` has the fast product, the two kernels must agree on every output and
    /// gradient (elsewhere only the direct one ever runs, and the f64 checks cover it).
    #[test]
    fn matrix_products_agree_with_the_direct_loops() {
        fn agree<const C: usize, const OC: usize, const S: usize, const P: usize>() {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
            let mut layer: Conv2d<f32, C, 7, 6, OC, 3, S, P, 4, 3> = Zeroable::zeroed();
            layer.init_with(Init::HeNormal, &mut rng);
            layer.bias = core::array::from_fn(|o| o as f32 * 0.1);
            let mut values = (1..).map(|k: u32| ((k * 7919) % 211) as f32 / 211.0 - 0.5);
            let mut x = [[[[0.0f32; C]; 6]; 7]; 3];
            let mut dy = [[[[0.0f32; OC]; 3]; 4]; 3];
            let flat = x.as_flattened_mut().as_flattened_mut().as_flattened_mut();
            flat.iter_mut()
                .for_each(|v| *v = values.next().unwrap_or(0.0));
            let flat = dy.as_flattened_mut().as_flattened_mut().as_flattened_mut();
            flat.iter_mut()
                .for_each(|v| *v = values.next().unwrap_or(0.0));
            let (mut y_direct, mut y_products) = (Zeroable::zeroed(), Zeroable::zeroed());
            layer.forward_direct(&x, &mut y_direct);
            layer.forward_products(&x, &mut y_products);
            let mut cache = Zeroable::zeroed();
            layer.transpose_weight(&mut cache);
            let (mut dx_direct, mut dx_products) = (Zeroable::zeroed(), Zeroable::zeroed());
            let mut g_direct: Conv2dGrads<f32, C, OC, 3> = Zeroable::zeroed();
            let mut g_products = g_direct.clone();
            Conv2d::<f32, C, 7, 6, OC, 3, S, P, 4, 3>::backward_direct(
                &x,
                &dy,
                &cache,
                Some(&mut dx_direct),
                Some(&mut g_direct),
            );
            layer.backward_products(&x, &dy, Some(&mut dx_products), Some(&mut g_products));
            let close = |a: &[f32], b: &[f32]| {
                let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                a.iter().zip(b).all(|(a, b)| (a - b).abs() <= 1e-5 * scale)
            };
            let f = |y: &[[[[f32; OC]; 3]; 4]; 3]| y.as_flattened().as_flattened().concat();
            assert!(close(&f(&y_direct), &f(&y_products)));
            let f = |x: &[[[[f32; C]; 6]; 7]; 3]| x.as_flattened().as_flattened().concat();
            assert!(close(&f(&dx_direct), &f(&dx_products)));
            let f = |w: &[[[[f32; OC]; C]; 3]; 3]| w.as_flattened().as_flattened().concat();
            assert!(close(&f(&g_direct.weight), &f(&g_products.weight)));
            assert!(close(&g_direct.bias, &g_products.bias));
        }
        if f32::has_fast_gemm() {
            agree::<5, 7, 2, 1>();
            agree::<16, 16, 2, 1>();
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // Indices spell out the transposition.
    fn training_forward_keeps_the_weight_transposed_for_backward() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut layer: Conv2d<f64, 3, 4, 4, 2, 3, 1, 1, 4, 4> = Zeroable::zeroed();
        layer.init_with(Init::HeNormal, &mut rng);
        let x = [[[[0.5; 3]; 4]; 4]];
        let (mut y, mut cache) = ([[[[0.0; 2]; 4]; 4]], Zeroable::zeroed());
        layer.forward_train(&x, &mut y, &mut cache);
        let Conv2dCache { weight_t } = cache;
        for u in 0..3 {
            for v in 0..3 {
                for c in 0..3 {
                    for o in 0..2 {
                        assert_eq!(weight_t[u][v][o][c], layer.weight[u][v][c][o]);
                    }
                }
            }
        }
        let mut inference = [[[[0.0; 2]; 4]; 4]];
        layer.forward(&x, &mut inference);
        assert_eq!(y, inference);
    }

    #[test]
    fn tensors_have_their_memory_shapes_and_count() {
        let layer: Conv2d<f32, 3, 8, 8, 4, 3, 1, 1, 8, 8> = Zeroable::zeroed();
        let mut seen = std::vec::Vec::new();
        layer.visit_tensors(&mut |t| seen.push((t.name, t.shape.to_vec(), t.data.len())));
        assert_eq!(
            seen,
            [
                ("weight", std::vec![3, 3, 3, 4], 108),
                ("bias", std::vec![4], 4)
            ]
        );
        assert_eq!(
            <Conv2d<f32, 3, 8, 8, 4, 3, 1, 1, 8, 8> as Forward<f32>>::PARAM_COUNT,
            112
        );
    }
}
