//! Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay,
//! with PyTorch's update rule:
//! `g = grad + wd * w; v = mu * v + g; w -= lr * (nesterov ? g + mu * v : v)`.

use super::{require, ConfigError, Optimizer};
use crate::layer::Trainable;
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;

/// SGD hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Zeroable)]
pub struct SgdConfig {
    /// Learning rate (> 0).
    pub lr: f64,
    /// Momentum `mu` in `[0, 1)`; 0 is plain SGD.
    pub momentum: f64,
    /// Nesterov momentum (needs `momentum > 0`).
    pub nesterov: bool,
    /// L2 penalty added to the gradient (>= 0).
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self { lr, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
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
        Self { weight_decay, ..self }
    }
    fn validate(&self) -> Result<(), ConfigError> {
        require("lr", self.lr, self.lr > 0.0, "positive and finite")?;
        require("momentum", self.momentum, (0.0..1.0).contains(&self.momentum), "in [0, 1)")?;
        require("weight_decay", self.weight_decay, self.weight_decay >= 0.0, "non-negative and finite")?;
        if self.nesterov && self.momentum == 0.0 {
            return Err(ConfigError { name: "momentum", value: 0.0, expected: "positive when nesterov is on" });
        }
        Ok(())
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
        Ok(Self { config, velocity: G::zeroed() })
    }

    /// Like [`Sgd::new`], with the state allocated zeroed on the heap.
    #[cfg(feature = "alloc")]
    pub fn new_boxed(config: SgdConfig) -> Result<alloc::boxed::Box<Self>, ConfigError> {
        config.validate()?;
        let mut sgd = crate::memory::zeroed_box::<Self>();
        sgd.config = config;
        Ok(sgd)
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Changes the learning rate (for schedules); invalid values are refused.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), ConfigError> {
        require("lr", lr, lr > 0.0, "positive and finite")?;
        self.config.lr = lr;
        Ok(())
    }
}

impl<T: Scalar, M: Trainable<T, Grads = G> + ?Sized, G> Optimizer<T, M> for Sgd<G> {
    fn step(&mut self, model: &mut M, grads: &G) {
        let c = self.config;
        let (lr, mu, wd) = (T::from_f64(c.lr), T::from_f64(c.momentum), T::from_f64(c.weight_decay));
        if c.momentum == 0.0 {
            model.visit_params::<0>(grads, [], &mut |p| {
                for (w, &g) in p.value.iter_mut().zip(p.grad) {
                    *w -= lr * (g + wd * *w);
                }
            });
            return;
        }
        model.visit_params(grads, [&mut self.velocity], &mut |p| {
            let [v] = p.state;
            for ((w, &g), v) in p.value.iter_mut().zip(p.grad).zip(v.iter_mut()) {
                let g = g + wd * *w;
                *v = mu * *v + g;
                *w -= lr * if c.nesterov { g + mu * *v } else { *v };
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::{Dense, DenseGrads};

    fn one_weight(w: f64) -> Dense<f64, 1, 1> {
        Dense { weight: [[w]], bias: [0.0] }
    }

    fn grads(g: f64) -> DenseGrads<f64, 1, 1> {
        DenseGrads { weight: [[g]], bias: [0.0] }
    }

    #[test]
    fn momentum_and_nesterov_follow_the_reference_rule() {
        // Hand-computed with PyTorch's rule: lr 0.1, mu 0.9, wd 0.5, grads 1 then 2.
        let mut layer = one_weight(1.0);
        let mut sgd = Sgd::new(SgdConfig::new(0.1).momentum(0.9).weight_decay(0.5)).unwrap();
        sgd.step(&mut layer, &grads(1.0)); // g = 1.5, v = 1.5, w = 0.85
        assert!((layer.weight[0][0] - 0.85).abs() < 1e-12);
        sgd.step(&mut layer, &grads(2.0)); // g = 2.425, v = 3.775, w = 0.4725
        assert!((layer.weight[0][0] - 0.4725).abs() < 1e-12);

        let mut layer = one_weight(1.0);
        let mut nag = Sgd::new(SgdConfig::new(0.1).momentum(0.9).nesterov(true)).unwrap();
        nag.step(&mut layer, &grads(1.0)); // v = 1, step = 1 + 0.9 = 1.9
        assert!((layer.weight[0][0] - 0.81).abs() < 1e-12);
    }

    #[test]
    fn plain_sgd_moves_against_the_gradient() {
        let mut layer = one_weight(1.0);
        let mut sgd = Sgd::new(SgdConfig::new(0.5)).unwrap();
        sgd.step(&mut layer, &grads(0.2));
        assert!((layer.weight[0][0] - 0.9).abs() < 1e-12);
    }

    #[test]
    fn invalid_settings_are_refused() {
        type S = Sgd<DenseGrads<f32, 1, 1>>;
        assert_eq!(S::new(SgdConfig::new(-1.0)).unwrap_err().name, "lr");
        assert_eq!(S::new(SgdConfig::new(f64::NAN)).unwrap_err().name, "lr");
        assert_eq!(S::new(SgdConfig::new(0.1).momentum(1.0)).unwrap_err().name, "momentum");
        assert!(S::new(SgdConfig::new(0.1).nesterov(true)).is_err());
        assert!(S::new(SgdConfig::new(0.1).weight_decay(-0.1)).is_err());
        let mut ok = S::new(SgdConfig::new(0.1)).unwrap();
        assert!(ok.set_lr(0.0).is_err());
        assert_eq!(ok.config().lr, 0.1);
    }
}
