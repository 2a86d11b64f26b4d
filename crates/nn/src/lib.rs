//! gradflow-nn: layers, initializers, losses and optimizers over gradflow-tensor.
//!
//! Everything here is `no_std` and allocation-free; the `alloc` feature adds heap
//! constructors for networks too big for the stack, and `std` adds gradient-check helpers.
//! The `network!` macro of the `gradflow` crate strings these layers together.
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod activation;
pub mod batchnorm;
pub mod bytes;
pub mod dense;
#[cfg(feature = "alloc")]
pub mod diagnostics;
#[cfg(feature = "std")]
pub mod gradcheck;
#[cfg(feature = "std")]
mod history;
pub mod init;
pub mod layer;
pub mod loss;
pub mod memory;
pub mod network;
pub mod optim;
#[cfg(feature = "plot")]
pub mod plot;
pub mod standardize;
#[cfg(feature = "std")]
pub mod train;
#[cfg(feature = "alloc")]
mod verdict;

pub use activation::{Activation, ActivationFn, Gelu, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
pub use batchnorm::{BatchNorm, BatchNormGrads};
pub use dense::{Dense, DenseGrads};
pub use gradflow_tensor::Scalar;
pub use init::Init;
pub use layer::{
    Backward, Forward, Param, Setting, SettingMut, Tensor, TensorKind, TensorMut, Trainable,
};
#[cfg(feature = "alloc")]
pub use network::check_params_layout;
pub use network::{
    check_layout, check_layout_mut, check_trainable_layout, Activations, LayerInfo, LayoutError,
    LayoutProblem, Network, TrainableNetwork,
};
#[cfg(feature = "alloc")]
pub use optim::OptimizerState;
pub use optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig, StateTensor, StepOutcome};
pub use standardize::Standardize;
pub mod conv;
pub use conv::{
    AvgPool1d, AvgPool2d, BatchNorm2d, Conv1d, Conv1dGrads, Conv2d, Conv2dGrads, Flatten1d,
    Flatten2d, GlobalAvgPool1d, GlobalAvgPool2d, MaxPool1d, MaxPool2d,
};
