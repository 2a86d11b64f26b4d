//! Optimizers: SGD (momentum, Nesterov, weight decay) and Adam.
//!
//! An optimizer's state is a value of the model's own `Grads` type, so the model's
//! `visit_params` hands it every parameter with its gradient and its state slices together.

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::layer::Trainable;
use core::fmt;
use gradflow_tensor::Scalar;

/// Updates a model's trainable parameters from their accumulated gradients.
pub trait Optimizer<T: Scalar, M: Trainable<T> + ?Sized> {
    /// One update. Gradients are read, not cleared.
    ///
    /// When any gradient is NaN or infinite the step is refused: parameters and optimizer
    /// state stay exactly as they were, and the outcome says so (`applied == false`).
    fn step(&mut self, model: &mut M, grads: &M::Grads) -> StepOutcome;
}

/// What an optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a step with a non-finite gradient is refused; check `applied`"]
pub struct StepOutcome {
    /// Global L2 norm of the gradients before clipping (NaN or infinite if any gradient was).
    pub grad_norm: f64,
    /// Factor the gradients were scaled by (1 unless clipping applied).
    pub scale: f64,
    /// Whether the parameters were updated.
    pub applied: bool,
}

impl StepOutcome {
    fn refused(grad_norm: f64) -> Self {
        Self {
            grad_norm,
            scale: 1.0,
            applied: false,
        }
    }
}

/// Global L2 norm of all of a model's trainable gradients, accumulated in f64.
pub fn grad_norm<T: Scalar, M: Trainable<T> + ?Sized>(model: &mut M, grads: &M::Grads) -> f64 {
    let mut sum = 0.0f64;
    model.visit_params::<0>(grads, [], &mut |p| {
        for &g in p.grad {
            let g = g.to_f64();
            sum += g * g;
        }
    });
    libm::sqrt(sum)
}

/// The gradient scale for clipping to global norm `max_norm` (0 means no clipping): the norm
/// and factor, or `None` when the gradient is not finite.
pub(crate) fn clip_scale<T: Scalar, M: Trainable<T> + ?Sized>(
    model: &mut M,
    grads: &M::Grads,
    max_norm: f64,
) -> Result<(f64, f64), f64> {
    let norm = grad_norm(model, grads);
    if !norm.is_finite() {
        return Err(norm);
    }
    let scale = if max_norm > 0.0 && norm > max_norm {
        max_norm / norm
    } else {
        1.0
    };
    Ok((norm, scale))
}

/// A hyperparameter outside its valid range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigError {
    /// The hyperparameter's name.
    pub name: &'static str,
    /// The value given.
    pub value: f64,
    /// What the value must satisfy.
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "optimizer setting `{}` = {} is invalid: it must be {}",
            self.name, self.value, self.expected
        )
    }
}

impl core::error::Error for ConfigError {}

pub(crate) fn require(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError {
            name,
            value,
            expected,
        })
    }
}
