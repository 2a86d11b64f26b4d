//! He et al. 2016, "Deep Residual Learning for Image Recognition"
//! (<https://arxiv.org/abs/1512.03385>): the degradation problem, a deep plain network against a
//! shallow one and the deep residual one.

use super::Error;
use crate::study::{run, Budget, Outcome};
use gradflow::data::Dataset;
use gradflow::prelude::*;
use std::fmt::Write as _;

/// The degradation problem: a deep plain network, a shallow one, and the deep residual one.
pub struct Degradation {
    /// The shallow plain network.
    pub shallow: Outcome,
    /// The deep plain network.
    pub deep: Outcome,
    /// The deep residual network.
    pub residual: Outcome,
}

/// Runs the degradation comparison; all three with batchnorm and He initialization.
pub fn he2016<S, D, R>(
    make_shallow: fn(&mut gradflow::Rng) -> Box<S>,
    make_deep: fn(&mut gradflow::Rng) -> Box<D>,
    make_residual: fn(&mut gradflow::Rng) -> Box<R>,
    names: [&str; 3],
    data: &(Dataset<64>, Dataset<64>),
    budget: &Budget,
) -> Result<Degradation, Error>
where
    S: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    D: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
    R: TrainableNetwork<f32, Input = [f32; 64], Output = [f32; 10]>,
{
    Ok(Degradation {
        shallow: run(names[0], make_shallow, data, budget)?,
        deep: run(names[1], make_deep, data, budget)?,
        residual: run(names[2], make_residual, data, budget)?,
    })
}

impl Degradation {
    /// Whether the shallow network trained at all: its loss ends below 90% of chance
    /// (`ln 10`, the loss of a uniform guess over the ten digits).
    pub fn trained(&self) -> bool {
        self.shallow.final_loss() < 0.9 * core::f64::consts::LN_10
    }

    /// Whether the run shows the degradation problem: the shallow network trained, the deep
    /// plain one ends with a training loss at least 1.25 times the shallow one's, and the
    /// deep residual one at most 0.8 times the deep plain one's (margins, so that noise
    /// between similar losses is not read as an ordering).
    pub fn degrades(&self) -> bool {
        self.trained()
            && self.deep.final_loss() >= 1.25 * self.shallow.final_loss()
            && self.residual.final_loss() <= 0.8 * self.deep.final_loss()
    }

    /// The table and what it means.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "He et al. 2016, the degradation problem (batchnorm and He init everywhere):"
        );
        let _ = writeln!(
            out,
            "{:<22}  {:>10}  {:>8}  {:>14}  {:>14}",
            "network", "train loss", "test acc", "grad ratio t=0", "grad ratio end"
        );
        for o in [&self.shallow, &self.deep, &self.residual] {
            let ratio = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2e}"));
            let _ = writeln!(
                out,
                "{:<22}  {:>10}  {:>8.4}  {:>14}  {:>14}",
                o.name,
                crate::study::fmt_loss(o.final_loss()),
                o.test_accuracy(),
                ratio(o.first.first_to_last_ratio()),
                ratio(o.last_ratio())
            );
        }
        let _ = writeln!(
            out,
            "{}",
            if !self.trained() {
                "The shallow network did not train (its loss is not below 0.9 ln 10 = 2.07): this run shows nothing \
                 about degradation."
            } else if self.degrades() {
                "The deeper plain network ends with the higher training loss, and its residual version does not."
            } else {
                "This run does not show the degradation ordering (deep plain at least 1.25x the shallow network's \
                 loss, residual at most 0.8x the deep plain one's)."
            }
        );
        let (start, end) = (
            self.deep.first.first_to_last_ratio(),
            self.deep.last_ratio(),
        );
        let vanishing = [start, end].iter().any(|r| r.is_some_and(|r| r < 1e-3));
        let grows = |o: &Outcome| {
            o.first.verdict().findings.iter().any(|f| {
                matches!(
                    f,
                    gradflow::nn::diagnostics::Finding::Growing { .. }
                        | gradflow::nn::diagnostics::Finding::Exploding { .. }
                )
            })
        };
        let growing = grows(&self.deep);
        // The paper's reading, only where this run's numbers agree with it: a deeper plain
        // network that trains worse while its gradients stay healthy.
        let paper = if !self.trained() {
            // Nothing to compare with the paper: the shallow network did not train either.
            ""
        } else if vanishing {
            "Unlike in the paper, the deep plain network's gradients vanish in this run (below)."
        } else if growing {
            "Unlike in the paper, where the deeper plain network trains to a somewhat higher error with healthy \
             gradients, this one's gradients explode from the start (below): it fails to train, which is that \
             explosion rather than the paper's degradation."
        } else if self.degrades() {
            "As the paper says, with batchnorm and He initialization in place this is an optimization difficulty, \
             not vanishing gradients."
        } else {
            ""
        };
        if !paper.is_empty() {
            let _ = writeln!(out, "{paper}");
        }
        let residual_too = if grows(&self.residual) {
            "which the residual version shows too in this run"
        } else {
            "which the residual version does not have"
        };
        let _ = writeln!(
            out,
            "Here the deep plain network's first/last gradient ratio is {} at the start and {}: {}",
            start.map_or("-".to_string(), |r| format!("{r:.2e}")),
            end.map_or(
                "not measured at the end (its last step was refused)".to_string(),
                |r| { format!("{r:.2e} at the end") }
            ),
            if vanishing {
                "the first layers' gradients do fall below 1e-3 of the last layer's in this run."
                    .to_string()
            } else if growing {
                format!(
                    "the gradient reaching the first layer is not vanishingly small but far larger than the top \
                     layers': at the start the verdict reads `{}` -- the explosion batchnorm causes in deep \
                     networks without skips (Yang et al., ICLR 2019), {residual_too} (ratio {} at the start).",
                    self.deep
                        .first
                        .verdict()
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or_default(),
                    self.residual
                        .first
                        .first_to_last_ratio()
                        .map_or("-".to_string(), |r| format!("{r:.2e}"))
                )
            } else if self.degrades() {
                "the gradient reaching the first layer is not vanishingly small (a vanishing gradient shows as a ratio \
                 far below 1e-3), so what holds the deep network back is not the size of its gradients."
                    .to_string()
            } else {
                "the gradient reaching the first layer is not vanishingly small (a vanishing gradient shows as a ratio \
                 far below 1e-3)."
                    .to_string()
            }
        );
        out
    }
}
