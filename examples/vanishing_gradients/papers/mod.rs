//! Reproductions of published results, each generic over its networks so that the example
//! runs them at full size and the tests at reduced size: one module per reproduction, and here
//! the measurements they share.
//!
//! - `he2015`: He et al. 2015, "Delving Deep into Rectifiers"
//! - `glorot2010`: Glorot and Bengio 2010, "Understanding the difficulty of training deep
//!   feedforward neural networks"
//! - `ioffe2015`: Ioffe and Szegedy 2015, "Batch Normalization"
//! - `he2016`: He et al. 2016, "Deep Residual Learning for Image Recognition"
//! - `input_scale`: raw against standardized features

mod cnn;
mod glorot2010;
mod he2015;
mod he2016;
mod input_scale;
mod ioffe2015;

pub use cnn::*;
pub use glorot2010::*;
pub use he2015::*;
pub use he2016::*;
pub use input_scale::*;
pub use ioffe2015::*;

use crate::study::BATCH;
use gradflow::data::Dataset;
use gradflow::prelude::*;

type Error = Box<dyn std::error::Error>;

/// The `p`-th quantile (0..=1) of `values`, by nearest rank. NaN for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize]
}

fn std_dev(values: &[f32]) -> f64 {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    (values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

fn rms(values: &[f32]) -> f64 {
    (values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

/// A fixed first batch of the training set, as network input.
fn first_batch<const F: usize>(train: &Dataset<F>) -> ([[f32; F]; BATCH], [usize; BATCH]) {
    let x = core::array::from_fn(|i| train.features[i % train.len()]);
    let y = core::array::from_fn(|i| train.labels[i % train.len()]);
    (x, y)
}

/// Runs one forward and backward pass of a fresh `N` on the first training batch and hands
/// the filled cache to `inspect`.
fn inspect_first_step<N, const F: usize, R>(
    make: impl FnOnce(&mut gradflow::Rng) -> Box<N>,
    train: &Dataset<F>,
    seed: u64,
    inspect: impl FnOnce(&N::Cache<BATCH>) -> R,
) -> Result<R, Error>
where
    N: TrainableNetwork<f32, Input = [f32; F]>,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    let mut net = make(&mut gradflow::rng(seed));
    let (x, labels) = first_batch(train);
    let mut cache = gradflow::nn::memory::zeroed_box::<N::Cache<BATCH>>();
    let mut grads = gradflow::nn::memory::zeroed_box::<N::Grads>();
    let mut dy = gradflow::nn::memory::zeroed_box::<[N::Output; BATCH]>();
    let out = net.forward_train(&x, &mut cache);
    gradflow::nn::loss::softmax_cross_entropy_rows(out, &labels, &mut *dy)?;
    net.backward_into(&mut cache, &dy, None, &mut grads);
    Ok(inspect(&cache))
}
