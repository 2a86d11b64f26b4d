//! Input scale: a saturating network on raw features (from 0.01 to 4000) against the same
//! network behind a fitted `standardize` layer.

use super::Error;
use crate::study::{run, run_observed, Budget, Outcome};
use gradflow::data::Dataset;
use gradflow::prelude::*;
use std::fmt::Write as _;

/// A saturating network on raw against standardized features.
pub struct InputScale {
    /// On raw features.
    pub raw: Outcome,
    /// With a fitted `standardize` first layer.
    pub standardized: Outcome,
}

/// Fraction of saturated outputs in the first layer that has any, at the first step.
pub fn first_saturation(o: &Outcome) -> f64 {
    o.first
        .layers
        .iter()
        .find_map(|l| l.saturated_fraction)
        .unwrap_or(f64::NAN)
}

/// Runs the input-scale comparison on `data`; `fit_standardizer` fits the second network's
/// `standardize` layer to the training features.
pub fn input_scale<R, S, const F: usize>(
    make_raw: fn(&mut gradflow::Rng) -> Box<R>,
    make_standardized: fn(&mut gradflow::Rng) -> Box<S>,
    fit_standardizer: fn(&mut S, &Dataset<F>),
    data: &(Dataset<F>, Dataset<F>),
    budget: &Budget,
) -> Result<InputScale, Error>
where
    R: TrainableNetwork<f32, Input = [f32; F], Output = [f32; 2]>,
    S: TrainableNetwork<f32, Input = [f32; F], Output = [f32; 2]>,
{
    Ok(InputScale {
        raw: run("tanh, raw features", make_raw, data, budget)?,
        standardized: run_observed(
            "tanh, standardized features",
            make_standardized,
            fit_standardizer,
            data,
            budget,
            &mut |_, _| {},
        )?,
    })
}

impl InputScale {
    /// Side by side.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Input scale on breast_cancer (features from 0.01 to 4000):"
        );
        let _ = writeln!(
            out,
            "{:<28}  {:>22}  {:>8}",
            "network", "saturated at step 0", "test acc"
        );
        for o in [&self.raw, &self.standardized] {
            let _ = writeln!(
                out,
                "{:<28}  {:>21.1}%  {:>8.4}",
                o.name,
                100.0 * first_saturation(o),
                o.test_accuracy()
            );
        }
        out
    }
}
