//! gradflow-tensor: allocation-free kernels over const-generic arrays.
//!
//! A sample is a plain array `[T; N]` and a batch is `[[T; N]; B]`. Every op lives in its own
//! module beside its backward and its tests, so the derivative can be read next to the function
//! it differentiates. Nothing here knows about layers or networks.
#![no_std]
#![warn(missing_docs)]

// Tests always have std: they detect the CPU at run time, so the fast kernels are tested
// whenever the machine has them, whatever the features.
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod bias;
pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod gradcheck;
pub mod matmul;
mod scalar;
pub mod simd;
pub mod softmax;

pub use scalar::{sq, Scalar};
