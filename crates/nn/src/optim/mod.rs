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
use gradflow_tensor::{sq, Scalar};

/// Updates a model's trainable parameters from their accumulated gradients.
pub trait Optimizer<T: Scalar, M: Trainable<T> + ?Sized> {
    /// One update. Gradients are read, not cleared.
    ///
    /// When any gradient is NaN or infinite the step is refused: parameters and optimizer
    /// state stay exactly as they were, and the outcome says so (`applied == false`).
    fn step(&mut self, model: &mut M, grads: &M::Grads) -> StepOutcome;
}

/// One buffer of an optimizer's state for one trainable tensor, as a checkpoint saves it.
#[derive(Debug)]
pub struct StateTensor<'a, T> {
    /// Field name of the layer in its network (`"dense_0"`).
    pub layer: &'static str,
    /// Name of the parameter tensor within its layer (`"weight"`).
    pub name: &'static str,
    /// Which state buffer: `"velocity"` (SGD), `"m"` or `"v"` (Adam).
    pub slot: &'static str,
    /// The state values, one per parameter value, row-major like the parameter.
    pub data: &'a mut [T],
}

/// The state an optimizer carries from step to step, opened up for checkpoints: every
/// buffer (named by the parameter it belongs to) and the step counter.
#[cfg(feature = "alloc")]
pub trait OptimizerState<T: Scalar, M: Trainable<T> + ?Sized> {
    /// Short name of the optimizer (`"sgd"`, `"adam"`), stored in checkpoints.
    const NAME: &'static str;

    /// Calls `f` once per state buffer of each trainable tensor of `model`, in a fixed
    /// order. The model is only read; it is `&mut` because its parameter visitor is.
    fn visit_state(&mut self, model: &mut M, f: &mut dyn FnMut(StateTensor<'_, T>));

    /// Steps taken so far (0 for an optimizer that does not count them).
    fn step_count(&self) -> u64 {
        0
    }

    /// Restores the step counter (ignored by an optimizer that does not count steps).
    fn set_step_count(&mut self, steps: u64) {
        let _ = steps;
    }
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
    fn applied(grad_norm: f64, scale: f64) -> Self {
        Self {
            grad_norm,
            scale,
            applied: true,
        }
    }

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
    model.visit_params::<0>(grads, [], &mut |p| sum += sum_of_squares(p.grad));
    libm::sqrt(sum)
}

/// `sum(g^2)` in f64, over eight independent accumulators: one running sum would chain every
/// addition on the previous one's latency, and this runs over every parameter every step.
fn sum_of_squares<T: Scalar>(values: &[T]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &g) in acc.iter_mut().zip(chunk) {
            let g = g.to_f64();
            *a += g * g;
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|g| sq(g.to_f64())).sum();
    acc.iter().sum::<f64>() + tail
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

/// `Ok` when `value` is finite and `ok` holds, else the error naming the setting.
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

/// The learning rate: positive and finite (at construction and in `set_lr`).
pub(crate) fn require_lr(lr: f64) -> Result<(), ConfigError> {
    require("lr", lr, lr > 0.0, "positive and finite")
}

/// A decay rate (SGD's momentum, Adam's betas): in `[0, 1)`.
pub(crate) fn require_decay_rate(name: &'static str, value: f64) -> Result<(), ConfigError> {
    require(name, value, (0.0..1.0).contains(&value), "in [0, 1)")
}

/// The settings every optimizer shares after its own: weight decay and gradient clipping.
pub(crate) fn require_weight_decay_and_clipping(
    weight_decay: f64,
    max_grad_norm: f64,
) -> Result<(), ConfigError> {
    require(
        "weight_decay",
        weight_decay,
        weight_decay >= 0.0,
        "non-negative and finite",
    )?;
    require(
        "max_grad_norm",
        max_grad_norm,
        max_grad_norm >= 0.0,
        "non-negative and finite (0 = off)",
    )
}

/// An optimizer allocated zeroed on the heap, for models whose gradient-sized state would not
/// fit on the stack; `configure` then sets its hyperparameters.
#[cfg(feature = "alloc")]
pub(crate) fn zeroed_boxed<O: bytemuck::Zeroable>(
    configure: impl FnOnce(&mut O),
) -> alloc::boxed::Box<O> {
    let mut optimizer = crate::memory::zeroed_box::<O>();
    configure(&mut optimizer);
    optimizer
}
