//! Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay,
//! with PyTorch's update rule:
//! `g = grad + wd * w; v = mu * v + g; w -= lr * (nesterov ? g + mu * v : v)`.

use super::{
    clip_scale, require_decay_rate, require_lr, require_weight_decay_and_clipping, update_blocks,
    ConfigError, Optimizer, StepOutcome,
};
use crate::layer::Trainable;
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;

/// SGD hyperparameters. Validated when an optimizer is built or configured (and in
/// `set_lr`): besides each setting's own range, `lr * weight_decay` must stay below the
/// decay's limit of stability, `2 (1 + momentum)` (with Nesterov, `2 (1 + momentum) /
/// (1 + 2 momentum)`), beyond which the decay alone makes the weights grow.
#[derive(Clone, Copy, Debug, PartialEq, Zeroable)]
pub struct SgdConfig {
    /// Learning rate (> 0).
    pub lr: f64,
    /// Momentum `mu` in `[0, 1)`; 0 is plain SGD.
    pub momentum: f64,
    /// Nesterov momentum (needs `momentum > 0`).
    pub nesterov: bool,
    /// L2 penalty added to the gradient (>= 0): `weight_decay * w`, which counts toward the
    /// too-large check ([`crate::optim::max_grad_norm_for`]) as the gradient does.
    pub weight_decay: f64,
    /// Clip the gradients to this global L2 norm before the update (0 = no clipping).
    pub max_grad_norm: f64,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
        }
    }
    /// Sets the momentum.
    pub fn momentum(self, momentum: f64) -> Self {
        Self { momentum, ..self }
    }
    /// Turns Nesterov momentum on or off.
    pub fn nesterov(self, nesterov: bool) -> Self {
        Self { nesterov, ..self }
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
    fn validate(&self) -> Result<(), ConfigError> {
        require_lr(self.lr)?;
        require_decay_rate("momentum", self.momentum)?;
        require_weight_decay_and_clipping(self.weight_decay, self.max_grad_norm)?;
        if self.nesterov && self.momentum == 0.0 {
            return Err(ConfigError {
                name: "momentum",
                value: 0.0,
                expected: "positive when nesterov is on",
            });
        }
        if self.lr * self.weight_decay >= self.decay_limit() {
            return Err(ConfigError {
                name: "weight_decay",
                value: self.weight_decay,
                expected: "below the limit of stability, lr * weight_decay < 2 (1 + momentum) \
                           (with nesterov, 2 (1 + momentum) / (1 + 2 momentum)): beyond it the \
                           decay alone makes every weight's magnitude grow, step after step",
            });
        }
        Ok(())
    }

    /// The largest `lr * weight_decay` at which the decay still shrinks the weights. With a
    /// zero gradient, the decay makes the update the heavy-ball (or Nesterov) iteration on
    /// the quadratic `wd w^2 / 2`, which converges exactly when `lr * wd` is below
    /// `2 (1 + mu)` (Nesterov, in PyTorch's form: `2 (1 + mu) / (1 + 2 mu)`); plain SGD's
    /// limit is 2, `w -= lr * wd * w` flipping the weight's sign with a growing magnitude
    /// beyond it.
    fn decay_limit(&self) -> f64 {
        let mu = self.momentum;
        if self.nesterov {
            2.0 * (1.0 + mu) / (1.0 + 2.0 * mu)
        } else {
            2.0 * (1.0 + mu)
        }
    }
}

/// SGD whose state (the velocity) mirrors the model's gradients `G`.
#[derive(Clone, Debug, Zeroable)]
pub struct Sgd<G> {
    config: SgdConfig,
    velocity: G,
}

impl<G: Zeroable> Sgd<G> {
    /// An optimizer with zero velocity; the state lives inline (see [`Sgd::new_boxed`] for
    /// large models).
    pub fn new(config: SgdConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            velocity: G::zeroed(),
        })
    }

    /// Like [`Sgd::new`], with the state allocated zeroed on the heap.
    #[cfg(feature = "alloc")]
    pub fn new_boxed(config: SgdConfig) -> Result<alloc::boxed::Box<Self>, ConfigError> {
        config.validate()?;
        Ok(super::zeroed_boxed(|sgd: &mut Self| sgd.config = config))
    }

    /// Needs the `alloc` feature: without it, calling this is a compile error that says so.
    /// Without a heap, keep the optimizer in a `static` built by
    /// [`const_zeroed`](crate::memory::const_zeroed) and give it its settings with
    /// [`Sgd::configure`].
    #[cfg(not(feature = "alloc"))]
    pub fn new_boxed(_config: SgdConfig) -> Result<Self, ConfigError>
    where
        for<'a> (): crate::memory::NeedsAlloc,
    {
        unreachable!()
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Replaces every setting, keeping the state: how an optimizer made by
    /// [`crate::memory::const_zeroed`] (a `static` on a device without a heap, whose settings
    /// are all 0 and whose steps are refused until then) gets its settings. Invalid settings
    /// are refused and nothing changes.
    pub fn configure(&mut self, config: SgdConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Changes the learning rate (for schedules); invalid values are refused, as is one that
    /// would put the weight decay beyond its limit of stability (see [`SgdConfig`]).
    pub fn set_lr(&mut self, lr: f64) -> Result<(), ConfigError> {
        require_lr(lr)?;
        let config = SgdConfig { lr, ..self.config };
        config.validate()?;
        self.config = config;
        Ok(())
    }
}

impl<T: Scalar, M: Trainable<T, Grads = G> + ?Sized, G> Optimizer<T, M> for Sgd<G> {
    fn step(&mut self, model: &mut M, grads: &G) -> StepOutcome {
        let c = self.config;
        if let Err(error) = c.validate() {
            return StepOutcome::invalid(error);
        }
        let (norm, scale) = match clip_scale(model, grads, c.max_grad_norm, c.weight_decay) {
            Ok(ok) => ok,
            Err(unusable) => return unusable.outcome(),
        };
        let (lr, mu, wd, k) = (
            T::from_f64(c.lr),
            T::from_f64(c.momentum),
            T::from_f64(c.weight_decay),
            T::from_f64(scale),
        );
        if c.momentum == 0.0 {
            let update = |value: &mut [T], grad: &[T], _: [&mut [T]; 0]| {
                for (w, &g) in value.iter_mut().zip(grad) {
                    *w -= lr * (k * g + wd * *w);
                }
            };
            model.visit_params::<0>(grads, [], &mut |p| {
                update_blocks(p.value, p.grad, p.state, &update)
            });
        } else {
            // Two loops, not one with `nesterov` tested inside: the compiler kept the test in
            // the loop as a blend of both results, computed for every value.
            let update = |value: &mut [T], grad: &[T], [v]: [&mut [T]; 1]| {
                for ((w, &g), v) in value.iter_mut().zip(grad).zip(v.iter_mut()) {
                    let g = k * g + wd * *w;
                    *v = mu * *v + g;
                    *w -= lr * *v;
                }
            };
            let update_nesterov = |value: &mut [T], grad: &[T], [v]: [&mut [T]; 1]| {
                for ((w, &g), v) in value.iter_mut().zip(grad).zip(v.iter_mut()) {
                    let g = k * g + wd * *w;
                    *v = mu * *v + g;
                    *w -= lr * (g + mu * *v);
                }
            };
            model.visit_params(grads, [&mut self.velocity], &mut |p| {
                if c.nesterov {
                    update_blocks(p.value, p.grad, p.state, &update_nesterov)
                } else {
                    update_blocks(p.value, p.grad, p.state, &update)
                }
            });
        }
        StepOutcome::applied(norm, scale)
    }

    fn check_config(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar, M: Trainable<T, Grads = G> + ?Sized, G: Zeroable> super::OptimizerState<T, M>
    for Sgd<G>
{
    const NAME: &'static str = "sgd";

    fn visit_state(&mut self, model: &mut M, f: &mut dyn FnMut(super::StateTensor<'_, T>)) {
        // The visitor wants a gradient beside the state; a zeroed one stands in, on the heap
        // so that a large model's state is never built on the stack.
        let scratch = crate::memory::zeroed_box::<G>();
        model.visit_params(&scratch, [&mut self.velocity], &mut |p| {
            let [velocity] = p.state;
            f(super::StateTensor {
                layer: p.layer,
                name: p.name,
                slot: "velocity",
                data: velocity,
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::{Dense, DenseGrads};

    fn one_weight(w: f64) -> Dense<f64, 1, 1> {
        Dense {
            weight: [[w]],
            bias: [0.0],
        }
    }

    fn grads(g: f64) -> DenseGrads<f64, 1, 1> {
        DenseGrads {
            weight: [[g]],
            bias: [0.0],
        }
    }

    #[test]
    fn momentum_and_nesterov_follow_the_reference_rule() {
        // Hand-computed with PyTorch's rule: lr 0.1, mu 0.9, wd 0.5, grads 1 then 2.
        let mut layer = one_weight(1.0);
        let mut sgd = Sgd::new(SgdConfig::new(0.1).momentum(0.9).weight_decay(0.5)).unwrap();
        let _ = sgd.step(&mut layer, &grads(1.0)); // g = 1.5, v = 1.5, w = 0.85
        assert!((layer.weight[0][0] - 0.85).abs() < 1e-12);
        let _ = sgd.step(&mut layer, &grads(2.0)); // g = 2.425, v = 3.775, w = 0.4725
        assert!((layer.weight[0][0] - 0.4725).abs() < 1e-12);

        let mut layer = one_weight(1.0);
        let mut nag = Sgd::new(SgdConfig::new(0.1).momentum(0.9).nesterov(true)).unwrap();
        let _ = nag.step(&mut layer, &grads(1.0)); // v = 1, step = 1 + 0.9 = 1.9
        assert!((layer.weight[0][0] - 0.81).abs() < 1e-12);
    }

    #[test]
    fn plain_sgd_moves_against_the_gradient() {
        let mut layer = one_weight(1.0);
        let mut sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
        let outcome = sgd.step(&mut layer, &grads(0.2));
        assert!((layer.weight[0][0] - 0.9).abs() < 1e-12);
        assert!(outcome.applied && (outcome.grad_norm - 0.2).abs() < 1e-12);
    }

    #[test]
    fn clipping_scales_to_the_global_norm() {
        let mut layer = Dense::<f64, 1, 1> {
            weight: [[1.0]],
            bias: [0.0],
        };
        let mut sgd = Sgd::new(SgdConfig::new(1.0).clip_grad_norm(1.0)).unwrap();
        // Gradient (3, 4) has norm 5: scaled by 1 / (5 + 1e-6), as PyTorch's
        // `clip_grad_norm_` scales it, to about (0.6, 0.8).
        let outcome = sgd.step(
            &mut layer,
            &DenseGrads {
                weight: [[3.0]],
                bias: [4.0],
            },
        );
        let scale = 1.0 / (5.0 + super::super::CLIP_EPS);
        assert_eq!(outcome.scale, scale);
        assert_eq!(outcome.grad_norm, 5.0);
        assert_eq!(layer.weight[0][0], 1.0 - 3.0 * scale);
        assert_eq!(layer.bias[0], -(4.0 * scale));
        // A norm below the limit is left alone: PyTorch's factor is clamped to 1.
        let mut sgd = Sgd::new(SgdConfig::new(1.0).clip_grad_norm(5.1)).unwrap();
        let grads = DenseGrads {
            weight: [[3.0]],
            bias: [4.0],
        };
        assert_eq!(sgd.step(&mut layer, &grads).scale, 1.0);
    }

    #[test]
    fn non_finite_gradient_is_refused_and_changes_nothing() {
        let mut layer = one_weight(1.0);
        let mut sgd = Sgd::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
        let _ = sgd.step(&mut layer, &grads(1.0));
        let (w, v) = (layer.weight, sgd.velocity.clone());
        for bad in [f64::NAN, f64::INFINITY] {
            let outcome = sgd.step(&mut layer, &grads(bad));
            assert!(!outcome.applied);
            assert_eq!(layer.weight, w);
            assert_eq!(sgd.velocity, v);
        }
    }

    /// The L2 decay term enters the update as the gradient does, so it counts toward the
    /// too-large check: with a weight of 1e300 and a decay of 1e10, `g + wd * w` is infinite
    /// in f64, and unchecked the weight became -inf. With a finite decay term beyond
    /// `max_grad_norm_for` (1e160 here) the step is refused as a gradient of that size is.
    /// Nothing changes, velocity included; clipping, which bounds the gradient, does not help.
    #[test]
    fn a_weight_decay_term_too_large_for_the_type_is_refused() {
        for (weight, decay) in [(1e300, 1e10), (1e160, 1.0)] {
            for momentum in [0.0, 0.9] {
                for clip in [0.0, 1.0] {
                    // A learning rate small enough that the decay is stable (see
                    // `decay_limit`), so that the step, not the configuration, is refused.
                    let config = SgdConfig::new(1e-12)
                        .momentum(momentum)
                        .weight_decay(decay)
                        .clip_grad_norm(clip);
                    let mut sgd = Sgd::new(config).unwrap();
                    let mut layer = one_weight(weight);
                    let outcome = sgd.step(&mut layer, &grads(1.0));
                    assert!(
                        !outcome.applied && outcome.too_large,
                        "{config:?}: {outcome:?}"
                    );
                    assert_eq!(outcome.grad_norm, 1.0);
                    assert_eq!(layer.weight, [[weight]], "{config:?}");
                    assert_eq!(sgd.velocity, grads(0.0), "{config:?}");
                }
            }
        }
        // An ordinary weight decays as before: g = 1 + 0.5 * 2, w = 2 - 0.1 * 2.
        let mut layer = one_weight(2.0);
        let mut sgd = Sgd::new(SgdConfig::new(0.1).weight_decay(0.5)).unwrap();
        assert!(sgd.step(&mut layer, &grads(1.0)).applied);
        assert_eq!(layer.weight[0][0], 2.0 - 0.1 * (1.0 + 0.5 * 2.0));
    }

    /// `lr * weight_decay` at or beyond the limit of stability is refused, and below it the
    /// decay shrinks a weight that no gradient pulls on: at 0.97 of the limit, 3000 steps
    /// bring it below 1e-3 of where it started, for plain, heavy-ball and Nesterov SGD.
    /// (The limits, 2 (1 + mu) and 2 (1 + mu) / (1 + 2 mu), are the iteration's, found by
    /// bisection on the update rule too: 3.8 and 1.357 for mu 0.9.)
    #[test]
    fn a_weight_decay_beyond_the_limit_of_stability_is_refused() {
        for (momentum, nesterov, limit) in [
            (0.0, false, 2.0),
            (0.5, false, 3.0),
            (0.9, false, 3.8),
            (0.5, true, 1.5),
            (0.9, true, 1.9 * 2.0 / 2.8),
        ] {
            let config = |lr_wd: f64| {
                SgdConfig::new(1.0)
                    .momentum(momentum)
                    .nesterov(nesterov)
                    .weight_decay(lr_wd)
            };
            for beyond in [limit * (1.0 + 1e-12), limit * 1.01, 1e30] {
                let err = Sgd::<DenseGrads<f64, 1, 1>>::new(config(beyond)).unwrap_err();
                assert_eq!(err.name, "weight_decay", "{momentum} {nesterov} {beyond}");
            }
            let mut sgd = Sgd::new(config(0.97 * limit)).unwrap();
            let mut layer = one_weight(1.0);
            for _ in 0..3000 {
                assert!(sgd.step(&mut layer, &grads(0.0)).applied);
            }
            let w = layer.weight[0][0];
            assert!(w.abs() < 1e-3, "{momentum} {nesterov}: {w}");
        }
    }

    /// A zeroed SGD (a `static` made by `const_zeroed`) has lr 0: its steps are refused
    /// (they would do nothing and report success) until it is configured, momentum included
    /// (which a device without a heap cannot get from `Sgd::new`, whose velocity is built on
    /// the stack).
    #[test]
    fn a_zeroed_sgd_refuses_steps_until_configured() {
        let mut layer = one_weight(1.0);
        let mut sgd: Sgd<DenseGrads<f64, 1, 1>> = crate::memory::const_zeroed();
        let outcome = sgd.step(&mut layer, &grads(1.0));
        assert!(!outcome.applied);
        assert_eq!(outcome.invalid_config.map(|e| e.name), Some("lr"));
        assert_eq!(layer.weight[0][0], 1.0);
        let nesterov_alone = SgdConfig::new(0.1).nesterov(true);
        assert_eq!(sgd.configure(nesterov_alone).unwrap_err().name, "momentum");
        assert_eq!(sgd.config().lr, 0.0);
        sgd.configure(SgdConfig::new(0.1).momentum(0.9)).unwrap();
        assert!(sgd.step(&mut layer, &grads(1.0)).applied); // v = 1, w = 0.9
        assert!(sgd.step(&mut layer, &grads(1.0)).applied); // v = 1.9, w = 0.71
        assert!((layer.weight[0][0] - 0.71).abs() < 1e-12);
    }

    #[test]
    fn invalid_settings_are_refused() {
        type S = Sgd<DenseGrads<f32, 1, 1>>;
        assert_eq!(S::new(SgdConfig::new(-1.0)).unwrap_err().name, "lr");
        assert_eq!(S::new(SgdConfig::new(f64::NAN)).unwrap_err().name, "lr");
        assert_eq!(
            S::new(SgdConfig::new(0.1).momentum(1.0)).unwrap_err().name,
            "momentum"
        );
        assert!(S::new(SgdConfig::new(0.1).nesterov(true)).is_err());
        assert!(S::new(SgdConfig::new(0.1).weight_decay(-0.1)).is_err());
        // Valid in f64, but infinite, 0 or 1 once an f32 network applies them.
        for lr in [1e39, 1e-300] {
            assert_eq!(S::new(SgdConfig::new(lr)).unwrap_err().name, "lr");
        }
        let almost_one = SgdConfig::new(0.1).momentum(0.999_999_999_99);
        assert_eq!(S::new(almost_one).unwrap_err().name, "momentum");
        assert!(S::new(SgdConfig::new(0.1).weight_decay(1e39)).is_err());
        assert!(S::new(SgdConfig::new(3e38).momentum(0.999_999)).is_ok());
        // A decay that is 0 in f32 would silently be off.
        let tiny_decay = SgdConfig::new(0.1).weight_decay(1e-50);
        assert_eq!(S::new(tiny_decay).unwrap_err().name, "weight_decay");
        assert!(S::new(SgdConfig::new(0.1).weight_decay(0.0)).is_ok());
        // A clipping norm that is 0 in f32 would scale every step to nothing.
        let tiny_clip = SgdConfig::new(0.1).clip_grad_norm(1e-50);
        assert_eq!(S::new(tiny_clip).unwrap_err().name, "max_grad_norm");
        assert!(S::new(SgdConfig::new(0.1).clip_grad_norm(1e-30)).is_ok());
        let mut ok = S::new(SgdConfig::new(0.1)).unwrap();
        assert!(ok.set_lr(0.0).is_err());
        // A learning rate that would make the decay unstable is refused too.
        let mut decayed = S::new(SgdConfig::new(0.1).weight_decay(10.0)).unwrap();
        assert_eq!(decayed.set_lr(0.2).unwrap_err().name, "weight_decay");
        assert_eq!(decayed.config().lr, 0.1);
        assert!(ok.set_lr(1e39).is_err());
        assert_eq!(ok.config().lr, 0.1);
    }
}
