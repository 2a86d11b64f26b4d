//! The convolutional variant: a deep plain CNN against its residual version, both with
//! batchnorm and He initialization, on the digits as 8x8 one-channel images.

use super::Error;
use crate::study::{run_samples, Budget, Images, Outcome};
use gradflow::nn::train::Samples;
use gradflow::prelude::*;
use std::fmt::Write as _;

/// One digit, channels-last: 8 rows of 8 pixels of 1 channel.
type Image = [[[f32; 1]; 8]; 8];

/// A plain and a residual CNN of the same depth, trained on the same budget.
pub struct ConvDepth {
    /// The plain network.
    pub plain: Outcome,
    /// Its residual version.
    pub residual: Outcome,
}

/// Trains `P` (plain) and `R` (residual) on the digit images.
pub fn conv_depth<P, R>(
    make_plain: fn(&mut gradflow::Rng) -> Box<P>,
    make_residual: fn(&mut gradflow::Rng) -> Box<R>,
    names: [&str; 2],
    data: &(Images, Images),
    budget: &Budget,
) -> Result<ConvDepth, Error>
where
    P: TrainableNetwork<f32, Input = Image, Output = [f32; 10]>,
    R: TrainableNetwork<f32, Input = Image, Output = [f32; 10]>,
{
    let ((train_x, train_y), (test_x, test_y)) = data;
    let (train, test) = (
        Samples::new(&train_x[..], &train_y[..]),
        Samples::new(&test_x[..], &test_y[..]),
    );
    Ok(ConvDepth {
        plain: run_samples(names[0], make_plain, train, test, budget)?,
        residual: run_samples(names[1], make_residual, train, test, budget)?,
    })
}

impl ConvDepth {
    /// The side-by-side table.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Deep CNNs on the digits (8x8, 1 channel), batchnorm and He init in both:"
        );
        let _ = writeln!(
            out,
            "{:<28}  {:>10}  {:>8}  {:>14}  {:>14}",
            "network", "train loss", "test acc", "grad ratio t=0", "grad ratio end"
        );
        for o in [&self.plain, &self.residual] {
            let ratio = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2e}"));
            let _ = writeln!(
                out,
                "{:<28}  {:>10}  {:>8.4}  {:>14}  {:>14}",
                o.name,
                crate::study::fmt_loss(o.final_loss()),
                o.test_accuracy(),
                ratio(o.first.first_to_last_ratio()),
                ratio(o.last_ratio())
            );
        }
        out
    }
}
