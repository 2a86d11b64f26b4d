//! Adam (Kingma and Ba 2015) with bias correction, and L2 weight decay added to the gradient
//! as PyTorch's `Adam` does.

use super::{
    clip_scale, require_decay_rate, require_eps, require_lr, require_weight_decay_and_clipping,
    update_blocks, ConfigError, Optimizer, StepOutcome,
};
use crate::layer::Trainable;
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;

/// Adam hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Zeroable)]
pub struct AdamConfig {
    /// Learning rate (> 0).
    pub lr: f64,
    /// Decay of the first moment, in `[0, 1)`.
    pub beta1: f64,
    /// Decay of the second moment, in `[0, 1)`.
    pub beta2: f64,
    /// Added to the denominator for stability (> 0).
    pub eps: f64,
    /// L2 penalty added to the gradient (>= 0): `weight_decay * w`, which counts toward the
    /// too-large check ([`crate::optim::max_grad_norm_for`]) as the gradient does.
    pub weight_decay: f64,
    /// Clip the gradients to this global L2 norm before the update (0 = no clipping).
    pub max_grad_norm: f64,
}

impl AdamConfig {
    /// The usual defaults (`beta1` 0.9, `beta2` 0.999, `eps` 1e-8) with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
        }
    }
    /// Sets the weight decay.
    pub fn weight_decay(self, weight_decay: f64) -> Self {
        Self {
            weight_decay,
            ..self
        }
    }
    /// Clips gradients to global L2 norm `max_norm` before each update.
    pub fn clip_grad_norm(self, max_norm: f64) -> Self {
        Self {
            max_grad_norm: max_norm,
            ..self
        }
    }
    /// Sets both moment decays.
    pub fn betas(self, beta1: f64, beta2: f64) -> Self {
        Self {
            beta1,
            beta2,
            ..self
        }
    }
    /// Sets the term added to the denominator after the bias correction,
    /// `m_hat / (sqrt(v_hat) + eps)`: PyTorch's `eps` (Algorithm 1 of Kingma and Ba).
    /// Keras' `epsilon` (default 1e-7) is the paper's "epsilon hat", added before the
    /// correction: the same update as `eps = epsilon / sqrt(1 - beta2^t)` at step `t`, which
    /// is larger in the first steps (about 32 times at step 1 with beta2 0.999) and tends to
    /// `epsilon`.
    pub fn eps(self, eps: f64) -> Self {
        Self { eps, ..self }
    }
    fn validate(&self) -> Result<(), ConfigError> {
        require_lr(self.lr)?;
        require_decay_rate("beta1", self.beta1)?;
        require_step_size(self.lr, self.beta1)?;
        require_decay_rate("beta2", self.beta2)?;
        require_eps(self.eps)?;
        require_weight_decay_and_clipping(self.weight_decay, self.max_grad_norm)
    }
}

/// Adam's bias-corrected step size, `lr / (1 - beta1^t)`, is largest at the first step,
/// `lr / (1 - beta1)`: it must stay within f32's range, or the step would write infinities
/// (and `inf * 0`, NaN, where a gradient is 0) into the weights. With the default `beta1` of
/// 0.9 that bounds `lr` at 3.4e37.
fn require_step_size(lr: f64, beta1: f64) -> Result<(), ConfigError> {
    super::require(
        "lr",
        lr,
        lr / (1.0 - beta1) <= f64::from(f32::MAX),
        "small enough that Adam's first step size, lr / (1 - beta1), is within f32's range \
         (3.4e38)",
    )
}

/// Adam whose two moment estimates mirror the model's gradients `G`.
#[derive(Clone, Debug, Zeroable)]
pub struct Adam<G> {
    config: AdamConfig,
    steps: u64,
    m: G,
    v: G,
}

impl<G: Zeroable> Adam<G> {
    /// An optimizer with zero moments.
    pub fn new(config: AdamConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            steps: 0,
            m: G::zeroed(),
            v: G::zeroed(),
        })
    }

    /// Like [`Adam::new`], with the state allocated zeroed on the heap.
    #[cfg(feature = "alloc")]
    pub fn new_boxed(config: AdamConfig) -> Result<alloc::boxed::Box<Self>, ConfigError> {
        config.validate()?;
        Ok(super::zeroed_boxed(|adam: &mut Self| adam.config = config))
    }

    /// Needs the `alloc` feature: without it, calling this is a compile error that says so.
    /// Without a heap, keep the optimizer in a `static` built by
    /// [`const_zeroed`](crate::memory::const_zeroed) and give it its settings with
    /// [`Adam::configure`].
    #[cfg(not(feature = "alloc"))]
    pub fn new_boxed(_config: AdamConfig) -> Result<Self, ConfigError>
    where
        for<'a> (): crate::memory::NeedsAlloc,
    {
        unreachable!()
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Replaces every setting, keeping the state: how an optimizer made by
    /// [`crate::memory::const_zeroed`] (a `static` on a device without a heap, whose settings
    /// are all 0 and whose steps are refused until then) gets its settings. Invalid settings
    /// are refused and nothing changes.
    pub fn configure(&mut self, config: AdamConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Changes the learning rate (for schedules); invalid values are refused.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), ConfigError> {
        require_lr(lr)?;
        require_step_size(lr, self.config.beta1)?;
        self.config.lr = lr;
        Ok(())
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

impl<T: Scalar, M: Trainable<T, Grads = G> + ?Sized, G> Optimizer<T, M> for Adam<G> {
    fn step(&mut self, model: &mut M, grads: &G) -> StepOutcome {
        let c = self.config;
        if let Err(error) = c.validate() {
            return StepOutcome::invalid(error);
        }
        let (norm, scale) = match clip_scale(model, grads, c.max_grad_norm, c.weight_decay) {
            Ok(ok) => ok,
            Err(unusable) => return unusable.outcome(),
        };
        let k = T::from_f64(scale);
        // Saturating: a checkpoint may carry any count, and the correction is 1 long before.
        self.steps = self.steps.saturating_add(1);
        let t = self.steps.min(i32::MAX as u64) as i32;
        let correction1 = 1.0 - libm::pow(c.beta1, t as f64);
        let correction2 = 1.0 - libm::pow(c.beta2, t as f64);
        let (b1, b2) = (T::from_f64(c.beta1), T::from_f64(c.beta2));
        let (one_b1, one_b2) = (T::from_f64(1.0 - c.beta1), T::from_f64(1.0 - c.beta2));
        let step_size = T::from_f64(c.lr / correction1);
        let inv_sqrt_c2 = T::from_f64(1.0 / libm::sqrt(correction2));
        let (eps, wd) = (T::from_f64(c.eps), T::from_f64(c.weight_decay));
        let update = |value: &mut [T], grad: &[T], [m, v]: [&mut [T]; 2]| {
            for (((w, &g), m), v) in value.iter_mut().zip(grad).zip(m).zip(v) {
                let g = k * g + wd * *w;
                *m = b1 * *m + one_b1 * g;
                *v = b2 * *v + one_b2 * g * g;
                // Divided first: `m / sqrt(v)` is at most a few, where `step_size * m` could
                // overflow for a large step size and a large gradient.
                *w -= step_size * (*m / (v.sqrt() * inv_sqrt_c2 + eps));
            }
        };
        model.visit_params(grads, [&mut self.m, &mut self.v], &mut |p| {
            update_blocks(p.value, p.grad, p.state, &update)
        });
        StepOutcome::applied(norm, scale)
    }

    fn check_config(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar, M: Trainable<T, Grads = G> + ?Sized, G: Zeroable> super::OptimizerState<T, M>
    for Adam<G>
{
    const NAME: &'static str = "adam";

    fn visit_state(&mut self, model: &mut M, f: &mut dyn FnMut(super::StateTensor<'_, T>)) {
        let scratch = crate::memory::zeroed_box::<G>();
        model.visit_params(&scratch, [&mut self.m, &mut self.v], &mut |p| {
            let [m, v] = p.state;
            let (layer, name) = (p.layer, p.name);
            f(super::StateTensor {
                layer,
                name,
                slot: "m",
                data: m,
            });
            f(super::StateTensor {
                layer,
                name,
                slot: "v",
                data: v,
            });
        });
    }

    fn step_count(&self) -> u64 {
        self.steps
    }

    fn set_step_count(&mut self, steps: u64) {
        self.steps = steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::{Dense, DenseGrads};

    /// In f64 a gradient beyond 1e154 overflows the sum of squares, not the gradient: its norm
    /// is still measured (in units of the largest gradient), so the step is refused as too
    /// large, not as non-finite, and clipping applies it.
    #[test]
    fn an_f64_gradient_beyond_1e154_has_a_finite_norm_and_can_be_clipped() {
        let g = DenseGrads {
            weight: [[1e160, -1e160]],
            bias: [3e159, 0.0],
        };
        let mut layer = Dense::<f64, 1, 2> {
            weight: [[1.0, 2.0]],
            bias: [0.5, 0.0],
        };
        let norm = super::super::grad_norm(&mut layer, &g);
        assert!(
            (norm / (1e160 * libm::sqrt(2.09)) - 1.0).abs() < 1e-12,
            "{norm:e}"
        );
        let mut adam = Adam::new(AdamConfig::new(0.1)).unwrap();
        let outcome = adam.step(&mut layer, &g);
        assert!(!outcome.applied && outcome.too_large, "{outcome:?}");
        assert_eq!(layer.weight, [[1.0, 2.0]]);
        let mut clipped = Adam::new(AdamConfig::new(0.1).clip_grad_norm(1.0)).unwrap();
        let outcome = clipped.step(&mut layer, &g);
        assert!(outcome.applied && outcome.grad_norm == norm, "{outcome:?}");
        assert!(layer.weight[0][0] < 1.0 && layer.weight[0][1] > 2.0);
        // An infinite gradient is still infinite, a NaN still NaN.
        for (bad, infinite) in [(f64::INFINITY, true), (f64::NAN, false)] {
            let g = DenseGrads {
                weight: [[1e160, bad]],
                bias: [0.0, 0.0],
            };
            let norm = super::super::grad_norm(&mut layer, &g);
            assert_eq!((norm.is_infinite(), norm.is_nan()), (infinite, !infinite));
        }
    }

    /// The L2 decay term enters the update as the gradient does, so it counts toward the
    /// too-large check. A weight of 1e30 with a decay of 1e10 makes `g + wd * w` infinite in
    /// f32: unchecked, both moments became infinite and the weight NaN (inf / inf). A decay
    /// term of 1e25, finite, made the second moment infinite and the weight's updates 0 from
    /// then on. Both steps are refused and change nothing; a normal decay still applies.
    #[test]
    fn a_weight_decay_term_too_large_for_the_type_is_refused() {
        let grads = DenseGrads {
            weight: [[1.0f32, -1.0]],
            bias: [0.5, 0.0],
        };
        for (weight, decay) in [(1e30f32, 1e10), (1e25, 1.0)] {
            let mut layer = Dense::<f32, 1, 2> {
                weight: [[weight, 0.5]],
                bias: [0.0, 0.0],
            };
            let before = layer.clone();
            let mut adam = Adam::new(AdamConfig::new(0.01).weight_decay(decay)).unwrap();
            let outcome = Optimizer::<f32, _>::step(&mut adam, &mut layer, &grads);
            assert!(!outcome.applied && outcome.too_large, "{outcome:?}");
            // The outcome's norm is still the gradient's alone.
            assert_eq!(outcome.grad_norm, libm::sqrt(2.25), "{outcome:?}");
            assert_eq!(layer, before);
            assert_eq!(adam.steps(), 0);
            assert_eq!(adam.m, DenseGrads::zeroed());
            assert_eq!(adam.v, DenseGrads::zeroed());
            // Clipping bounds the gradient, not the decay term: still refused.
            let mut clipped = Adam::new(
                AdamConfig::new(0.01)
                    .weight_decay(decay)
                    .clip_grad_norm(1.0),
            )
            .unwrap();
            let outcome = Optimizer::<f32, _>::step(&mut clipped, &mut layer, &grads);
            assert!(!outcome.applied && outcome.too_large, "{outcome:?}");
            assert_eq!(layer, before);
        }
        // A weight decay on ordinary weights applies as before: the first step is
        // `lr * sign(g + wd * w)`.
        let mut layer = Dense::<f32, 1, 2> {
            weight: [[1.0, 0.5]],
            bias: [0.0, 0.0],
        };
        let mut adam = Adam::new(AdamConfig::new(0.01).weight_decay(4.0)).unwrap();
        assert!(Optimizer::<f32, _>::step(&mut adam, &mut layer, &grads).applied);
        assert!((layer.weight[0][0] - 0.99).abs() < 1e-6, "{layer:?}");
        assert!((layer.weight[0][1] - 0.49).abs() < 1e-6, "{layer:?}");
    }

    #[test]
    fn first_steps_match_the_reference_rule() {
        // With bias correction the first step is lr * g / (|g| + eps) = lr * sign(g).
        let mut layer = Dense::<f64, 1, 1> {
            weight: [[1.0]],
            bias: [0.0],
        };
        let mut adam = Adam::new(AdamConfig::new(0.1)).unwrap();
        let g = DenseGrads {
            weight: [[3.0]],
            bias: [0.0],
        };
        let _ = adam.step(&mut layer, &g);
        assert!((layer.weight[0][0] - 0.9).abs() < 1e-9);
        // Second step, gradient 1: m = 0.9*0.3 + 0.1 = 0.37 -> m_hat = 0.37/0.19;
        // v = 0.999*0.009 + 0.001 = 0.009991 -> v_hat = 0.009991/0.001999.
        let g = DenseGrads {
            weight: [[1.0]],
            bias: [0.0],
        };
        let _ = adam.step(&mut layer, &g);
        let expected = 0.9 - 0.1 * (0.37 / 0.19) / (libm::sqrt(0.009991 / 0.001999) + 1e-8);
        assert!((layer.weight[0][0] - expected).abs() < 1e-9);
        assert_eq!(layer.bias[0], 0.0);
        assert_eq!(adam.steps(), 2);

        let refused = adam.step(
            &mut layer,
            &DenseGrads {
                weight: [[f64::NAN]],
                bias: [0.0],
            },
        );
        assert!(!refused.applied);
        assert_eq!(adam.steps(), 2);
    }

    #[test]
    fn invalid_settings_are_refused() {
        type A = Adam<DenseGrads<f32, 1, 1>>;
        assert_eq!(A::new(AdamConfig::new(0.0)).unwrap_err().name, "lr");
        assert_eq!(
            A::new(AdamConfig::new(0.1).betas(1.0, 0.9))
                .unwrap_err()
                .name,
            "beta1"
        );
        assert!(A::new(AdamConfig::new(0.1).weight_decay(f64::INFINITY)).is_err());
        // An eps of 1e-50 is 0 in f32: a zero gradient would make 0 / 0.
        let tiny_eps = AdamConfig::new(0.001).eps(1e-50);
        assert_eq!(tiny_eps.eps, 1e-50);
        assert_eq!(A::new(tiny_eps).unwrap_err().name, "eps");
        assert_eq!(
            A::new(AdamConfig::new(0.1).eps(0.0)).unwrap_err().name,
            "eps"
        );
        // Normal in f32, but below MIN_EPS: a gradient of 1e-25 has a square of 0 in f32, and
        // the step would be lr * g / eps = 1e4 lr.
        let small_eps = AdamConfig::new(0.001).eps(1e-30);
        assert_eq!(A::new(small_eps).unwrap_err().name, "eps");
        let mut adam = A::new(AdamConfig::new(0.1).eps(super::super::MIN_EPS)).unwrap();
        let mut layer = Dense::<f32, 1, 1> {
            weight: [[1.0]],
            bias: [0.0],
        };
        let grads = DenseGrads {
            weight: [[1e-25f32]],
            bias: [0.0],
        };
        assert!(Optimizer::<f32, _>::step(&mut adam, &mut layer, &grads).applied);
        let moved = (1.0 - layer.weight[0][0]).abs();
        assert!(moved <= 0.1 + 1e-7, "moved {moved}");
        let beta2 = AdamConfig::new(0.1).betas(0.9, 1.0 - 1e-12);
        assert_eq!(A::new(beta2).unwrap_err().name, "beta2");
    }

    /// A zeroed Adam (a `static` made by `const_zeroed`) has lr, betas and eps 0: it refuses
    /// every step, naming the setting, until `configure` gives it valid settings. (Before, it
    /// updated a parameter with a zero gradient by 0 / 0 and reported the step applied.)
    #[test]
    fn a_zeroed_adam_refuses_steps_until_configured() {
        let mut layer = Dense::<f32, 1, 2> {
            weight: [[0.5, -0.25]],
            bias: [0.0, 0.0],
        };
        let grads = DenseGrads {
            weight: [[0.0f32, 1.0]],
            bias: [0.0, 0.5],
        };
        let mut adam: Adam<DenseGrads<f32, 1, 2>> = crate::memory::const_zeroed();
        let outcome = adam.step(&mut layer, &grads);
        assert!(!outcome.applied);
        assert_eq!(outcome.invalid_config.map(|e| e.name), Some("lr"));
        // Setting only the learning rate still leaves beta and eps 0.
        adam.set_lr(0.01).unwrap();
        let outcome = Optimizer::<f32, _>::step(&mut adam, &mut layer, &grads);
        assert_eq!(outcome.invalid_config.map(|e| e.name), Some("eps"));
        assert_eq!(layer.weight, [[0.5, -0.25]]);
        assert_eq!(adam.steps(), 0);
        assert_eq!(
            Optimizer::<f32, Dense<f32, 1, 2>>::check_config(&adam).map_err(|e| e.name),
            Err("eps")
        );
        // An invalid configuration is refused and changes nothing.
        assert_eq!(
            adam.configure(AdamConfig::new(-1.0)).unwrap_err().name,
            "lr"
        );
        adam.configure(AdamConfig::new(0.01)).unwrap();
        let outcome = adam.step(&mut layer, &grads);
        assert!(outcome.applied && outcome.invalid_config.is_none());
        assert_eq!(layer.weight[0][0], 0.5);
        assert!(
            (layer.weight[0][1] - (-0.26)).abs() < 1e-6,
            "{:?}",
            layer.weight
        );
    }

    /// The first step moves each weight by about `lr / (1 - beta1)` times `m / sqrt(v)`: a
    /// learning rate that makes that step size overflow f32 is refused, at `new` and at
    /// `set_lr`; one just inside it takes a finite step, for zero and large gradients alike
    /// (the product `step_size * m` alone would overflow for a gradient of 100).
    #[test]
    fn a_learning_rate_too_large_for_the_first_step_is_refused() {
        let err = Adam::<DenseGrads<f32, 1, 2>>::new(AdamConfig::new(1e38)).unwrap_err();
        assert_eq!((err.name, err.value), ("lr", 1e38));
        assert!(err.expected.contains("lr / (1 - beta1)"), "{err:?}");
        let config = AdamConfig::new(1e36).betas(0.999, 0.999);
        assert!(Adam::<DenseGrads<f32, 1, 2>>::new(config).is_err());
        let mut adam = Adam::new(AdamConfig::new(3e37)).unwrap();
        assert!(adam.set_lr(5e37).is_err());
        assert_eq!(adam.config().lr, 3e37);
        let mut layer = Dense::<f32, 1, 2> {
            weight: [[0.5, -0.5]],
            bias: [0.0, 1.0],
        };
        let grads = DenseGrads {
            weight: [[100.0f32, 0.0]],
            bias: [-3.0, 0.0],
        };
        assert!(adam.step(&mut layer, &grads).applied);
        let values = [
            layer.weight[0][0],
            layer.weight[0][1],
            layer.bias[0],
            layer.bias[1],
        ];
        assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
        assert_eq!((layer.weight[0][1], layer.bias[1]), (-0.5, 1.0));
        assert!(
            (layer.weight[0][0] / -3e37 - 1.0).abs() < 1e-5,
            "{values:?}"
        );
    }

    /// A checkpoint may carry any step count; the next step neither overflows nor divides
    /// by a zero bias correction.
    #[test]
    fn the_step_count_saturates() {
        let mut layer = Dense::<f32, 1, 1> {
            weight: [[0.5]],
            bias: [0.0],
        };
        let mut adam = Adam::new(AdamConfig::new(0.1)).unwrap();
        adam.steps = u64::MAX;
        let grads = DenseGrads {
            weight: [[1.0f32]],
            bias: [0.0],
        };
        assert!(adam.step(&mut layer, &grads).applied);
        assert_eq!(adam.steps(), u64::MAX);
        assert!(layer.weight[0][0].is_finite() && layer.bias[0].is_finite());
    }
}
