//! What a training run leaves behind: a [`History`] of epochs, per-layer gradient norms and
//! refused steps, filled in by [`crate::train::fit`] and exported as CSV.

use crate::diagnostics::GradientReport;
use std::string::String;
use std::vec::Vec;

/// What happened during training.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Index of each row of `grad_norms` in the `network!` list (layers with parameters).
    pub layers: Vec<usize>,
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
    /// `(step, per-layer gradient L2 norms)` every `grad_norms_every` steps.
    pub grad_norms: Vec<(usize, Vec<f64>)>,
    /// Steps refused, and why.
    pub refused: Vec<(usize, Refusal)>,
    /// Reports at the first step this run applies (after any refused ones; a resumed run's
    /// first) and at the last step, when asked for. The last step's report is kept when its
    /// gradient was refused (not finite, or too large): its verdict says so; a step refused
    /// before the backward pass (a non-finite input or loss) has none.
    pub first_report: Option<GradientReport>,
    /// See `first_report`.
    pub last_report: Option<GradientReport>,
    /// Steps counted (accepted or refused), from the start of training: a run resumed at
    /// epoch 2 of 3 with 4 steps an epoch counts 12, of which it ran 4.
    pub steps: usize,
}

/// One epoch's results.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's accepted steps (NaN if none was accepted).
    pub train_loss: f64,
    /// Accuracy on the training samples after the epoch.
    pub train_accuracy: f64,
    /// Accuracy on the test samples after the epoch (NaN without test samples).
    pub test_accuracy: f64,
    /// Wall-clock seconds since training started.
    pub seconds: f64,
}

/// Why a step was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The input batch held a NaN or infinite value.
    NonFiniteInput,
    /// The loss was NaN or infinite.
    NonFiniteLoss,
    /// A gradient was NaN or infinite.
    NonFiniteGradient,
    /// The gradient was finite but too large for the element type
    /// ([`crate::optim::max_grad_norm_for`]), or, with weight decay, the gradient plus
    /// `weight_decay * w` was.
    GradientTooLarge,
}

impl core::fmt::Display for Refusal {
    /// What was not finite or too large, in words: "the loss was not finite".
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Refusal::NonFiniteInput => "the input batch held a NaN or an infinity",
            Refusal::NonFiniteLoss => "the loss was not finite",
            Refusal::NonFiniteGradient => "the gradient was not finite",
            Refusal::GradientTooLarge => "the gradient was too large for the element type",
        })
    }
}

impl History {
    /// The epochs as CSV: `epoch,train_loss,train_accuracy,test_accuracy,seconds`.
    pub fn epochs_csv(&self) -> String {
        let mut out = String::from("epoch,train_loss,train_accuracy,test_accuracy,seconds\n");
        for e in &self.epochs {
            out += &std::format!(
                "{},{},{},{},{:.3}\n",
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                e.test_accuracy,
                e.seconds
            );
        }
        out
    }

    /// The gradient norms as CSV: `step,layer_<i>,...`.
    pub fn grad_norms_csv(&self) -> String {
        let mut out = String::from("step");
        for l in &self.layers {
            out += &std::format!(",layer_{l}");
        }
        out.push('\n');
        for (step, norms) in &self.grad_norms {
            out += &std::format!("{step}");
            for n in norms {
                out += &std::format!(",{n:e}");
            }
            out.push('\n');
        }
        out
    }

    /// Writes `epochs.csv` and `grad_norms.csv` into `dir` (created if missing). An error
    /// names the folder or file it concerns.
    pub fn write_csv(&self, dir: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        fn at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> std::io::Error + '_ {
            move |e| std::io::Error::new(e.kind(), std::format!("{}: {e}", path.display()))
        }
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(at(dir))?;
        for (name, text) in [
            ("epochs.csv", self.epochs_csv()),
            ("grad_norms.csv", self.grad_norms_csv()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(at(&path))?;
        }
        Ok(())
    }
}
