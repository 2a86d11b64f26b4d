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
    fn step(&mut self, model: &mut M, grads: &M::Grads);
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
        write!(f, "optimizer setting `{}` = {} is invalid: it must be {}", self.name, self.value, self.expected)
    }
}

impl core::error::Error for ConfigError {}

pub(crate) fn require(name: &'static str, value: f64, ok: bool, expected: &'static str) -> Result<(), ConfigError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError { name, value, expected })
    }
}
