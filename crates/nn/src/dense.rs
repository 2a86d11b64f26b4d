//! `Dense`: the fully connected layer `y = x W + b`.
//!
//! The weight is stored input-major, `[[T; O]; I]`: row `i` holds the weights leaving input
//! `i`. With that layout the forward product, the input gradient and the weight gradient all
//! run their inner loops over contiguous memory (see `gradflow_tensor::matmul`).

use crate::init::Init;
use crate::layer::{
    split_states, Backward, Forward, Param, Tensor, TensorKind, TensorMut, Trainable,
};
use bytemuck::Zeroable;
use gradflow_tensor::{bias, matmul, Scalar};
use rand::RngCore;

/// A fully connected layer from `I` inputs to `O` outputs.
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct Dense<T, const I: usize, const O: usize> {
    /// `weight[i][o]` connects input `i` to output `o`.
    pub weight: [[T; O]; I],
    /// One bias per output.
    pub bias: [T; O],
}

/// Gradients of a [`Dense`] layer's parameters (and, for optimizers, their state).
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct DenseGrads<T, const I: usize, const O: usize> {
    /// Gradient of the weight.
    pub weight: [[T; O]; I],
    /// Gradient of the bias.
    pub bias: [T; O],
}

impl<T: Scalar, const I: usize, const O: usize> Dense<T, I, O> {
    const WEIGHT_SHAPE: [usize; 2] = [I, O];
    const BIAS_SHAPE: [usize; 1] = [O];

    /// Draws the weight with `init` (fan-in `I`, fan-out `O`) and zeroes the bias.
    pub fn init_with(&mut self, init: Init, rng: &mut dyn RngCore) {
        init.fill(self.weight.as_flattened_mut(), I, O, rng);
        self.bias = [T::ZERO; O];
    }
}

impl<T: Scalar, const I: usize, const O: usize> Forward<T> for Dense<T, I, O> {
    type Input = [T; I];
    type Output = [T; O];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "dense";
    const PARAM_COUNT: usize = I * O + O;

    fn init(&mut self, rng: &mut dyn RngCore) {
        self.init_with(Init::XavierUniform, rng);
    }

    fn forward<const B: usize>(&self, x: &[[T; I]; B], y: &mut [[T; O]; B]) {
        matmul::linear(x, &self.weight, &self.bias, y);
    }

    fn forward_train<const B: usize>(&mut self, x: &[[T; I]; B], y: &mut [[T; O]; B], _: &mut ()) {
        self.forward(x, y);
    }

    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, T>)) {
        let kind = TensorKind::Trainable;
        let (layer, data) = ("", self.weight.as_flattened());
        f(Tensor {
            layer,
            name: "weight",
            kind,
            shape: &Self::WEIGHT_SHAPE,
            data,
        });
        f(Tensor {
            layer,
            name: "bias",
            kind,
            shape: &Self::BIAS_SHAPE,
            data: &self.bias,
        });
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, T>)) {
        let kind = TensorKind::Trainable;
        let (layer, data) = ("", self.weight.as_flattened_mut());
        f(TensorMut {
            layer,
            name: "weight",
            kind,
            shape: &Self::WEIGHT_SHAPE,
            data,
        });
        let data = &mut self.bias[..];
        f(TensorMut {
            layer,
            name: "bias",
            kind,
            shape: &Self::BIAS_SHAPE,
            data,
        });
    }
}

impl<T: Scalar, const I: usize, const O: usize> Trainable<T> for Dense<T, I, O> {
    type Grads = DenseGrads<T, I, O>;

    fn visit_params<const N: usize>(
        &mut self,
        grads: &Self::Grads,
        mut states: [&mut Self::Grads; N],
        f: &mut dyn FnMut(Param<'_, T, N>),
    ) {
        f(Param {
            layer: "",
            name: "weight",
            value: self.weight.as_flattened_mut(),
            grad: grads.weight.as_flattened(),
            state: split_states(&mut states, |g| g.weight.as_flattened_mut()),
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

impl<T: Scalar, const I: usize, const O: usize> Backward<T> for Dense<T, I, O> {
    fn backward<const B: usize>(
        &self,
        x: &[[T; I]; B],
        _y: &[[T; O]; B],
        _cache: &(),
        dy: &[[T; O]; B],
        dx: Option<&mut [[T; I]; B]>,
        grads: Option<&mut DenseGrads<T, I, O>>,
    ) {
        if let Some(dx) = dx {
            matmul::matmul_dx(dy, &self.weight, dx);
        }
        if let Some(g) = grads {
            matmul::matmul_dw(x, dy, &mut g.weight);
            bias::bias_backward(dy, &mut g.bias);
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use rand::SeedableRng;

    #[test]
    fn dense_gradients_match_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut layer: Dense<f64, 5, 7> = Zeroable::zeroed();
        layer.init_with(Init::HeNormal, &mut rng);
        layer.bias = core::array::from_fn(|o| 0.1 * o as f64);
        let x: [[f64; 5]; 3] =
            core::array::from_fn(|b| gradflow_tensor::gradcheck::test_values(b as u64));
        let report = check_layer(&mut layer, &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    #[test]
    fn frozen_backward_leaves_grads_alone_and_still_gives_dx() {
        let mut layer: Dense<f64, 2, 2> = Zeroable::zeroed();
        layer.weight = [[1.0, 2.0], [3.0, 4.0]];
        let x = [[1.0, 1.0]];
        let mut dx = [[0.0; 2]];
        layer.backward(&x, &[[0.0; 2]], &(), &[[1.0, 0.0]], Some(&mut dx), None);
        assert_eq!(dx, [[1.0, 3.0]]);
    }

    #[test]
    fn visit_params_reaches_weight_and_bias_with_state() {
        let mut layer: Dense<f32, 3, 2> = Zeroable::zeroed();
        let grads = DenseGrads {
            weight: [[1.0; 2]; 3],
            bias: [2.0; 2],
        };
        let mut state: DenseGrads<f32, 3, 2> = Zeroable::zeroed();
        let mut seen = std::vec::Vec::new();
        layer.visit_params(&grads, [&mut state], &mut |p| {
            seen.push((p.name, p.value.len(), p.grad[0], p.state[0].len()));
            p.state[0].fill(9.0);
        });
        assert_eq!(seen, [("weight", 6, 1.0, 6), ("bias", 2, 2.0, 2)]);
        assert_eq!(state.bias, [9.0; 2]);
    }
}
