//! The vanishing-gradient study's building blocks, generic over network types so that the
//! example (full size) and its tests (reduced size) run the same code.

use gradflow::data::{CsvOptions, DataError, Dataset};
use gradflow::nn::diagnostics::{Finding, GradientReport};
use gradflow::nn::train::{fit_observed, History, Refusal, Samples, TrainConfig};
use gradflow::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// The digits, scaled to [0, 1], split as everywhere in the project (seed 42, last 20% test).
pub fn load_digits() -> Result<(Dataset<64>, Dataset<64>), DataError> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let data = Dataset::<64>::load_csv(path, CsvOptions::new(10))?;
    Ok(data.map_features(|v| v / 16.0).split(42, 0.2))
}

/// The same optimizer and budget for every configuration.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Passes over the training set.
    pub epochs: usize,
    /// Seed of initialization and shuffling.
    pub seed: u64,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Show progress bars.
    pub progress: bool,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            epochs: 30,
            seed: 42,
            lr: 0.005,
            momentum: 0.9,
            progress: true,
        }
    }
}

/// The mini-batch size of every run.
pub const BATCH: usize = 32;

/// What one configuration did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The configuration's name.
    pub name: String,
    /// Loss, accuracy and gradient norms over training.
    pub history: History,
    /// Gradient health at the first step.
    pub first: GradientReport,
    /// Gradient health at the last step; `None` when that step was refused before its
    /// gradient was computed (a loss that was not finite).
    pub last: Option<GradientReport>,
    /// Wall-clock seconds of training.
    pub seconds: f64,
}

impl Outcome {
    /// Mean training loss in the last epoch.
    pub fn final_loss(&self) -> f64 {
        self.history
            .epochs
            .last()
            .map_or(f64::NAN, |e| e.train_loss)
    }
    /// Test accuracy after the last epoch.
    pub fn test_accuracy(&self) -> f64 {
        self.history
            .epochs
            .last()
            .map_or(f64::NAN, |e| e.test_accuracy)
    }
    /// Mean over layers of the fraction of dead ReLUs at the last step (None without ReLUs).
    pub fn dead(&self) -> Option<f64> {
        mean(
            self.last
                .as_ref()?
                .layers
                .iter()
                .filter_map(|l| l.dead_fraction),
        )
    }
    /// Mean over layers of the fraction of saturated outputs at the last step.
    pub fn saturated(&self) -> Option<f64> {
        mean(
            self.last
                .as_ref()?
                .layers
                .iter()
                .filter_map(|l| l.saturated_fraction),
        )
    }
    /// The first-layer / last-layer gradient norm ratio at the last step.
    pub fn last_ratio(&self) -> Option<f64> {
        self.last.as_ref()?.first_to_last_ratio()
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The breast cancer data (30 raw features on scales from 0.01 to 4000), split as the digits.
pub fn load_breast_cancer() -> Result<(Dataset<30>, Dataset<30>), DataError> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv");
    let data = Dataset::<30>::load_csv(path, CsvOptions::new(2).header(true))?;
    Ok(data.split(42, 0.2))
}

/// Trains a fresh `N` (from `make`) on `data` with `budget`, with reports at the first and
/// last steps.
pub fn run<N, const F: usize>(
    name: &str,
    make: impl FnOnce(&mut gradflow::Rng) -> Box<N>,
    data: &(Dataset<F>, Dataset<F>),
    budget: &Budget,
) -> Result<Outcome, Box<dyn std::error::Error>>
where
    N: TrainableNetwork<f32, Input = [f32; F]>,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    run_observed(name, make, |_, _| {}, data, budget, &mut |_, _| {})
}

/// [`run`], with `prepare(net, train)` called on the fresh network (to fit a standardizer,
/// say) and `observe(step, cache)` after every backward pass.
pub fn run_observed<N, const F: usize>(
    name: &str,
    make: impl FnOnce(&mut gradflow::Rng) -> Box<N>,
    prepare: impl FnOnce(&mut N, &Dataset<F>),
    data: &(Dataset<F>, Dataset<F>),
    budget: &Budget,
    observe: &mut dyn FnMut(usize, &N::Cache<BATCH>),
) -> Result<Outcome, Box<dyn std::error::Error>>
where
    N: TrainableNetwork<f32, Input = [f32; F]>,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    let (train, test) = data;
    let mut net = make(&mut gradflow::rng(budget.seed));
    prepare(&mut net, train);
    train_samples(name, net, train.samples(), test.samples(), budget, observe)
}

/// Images of the digits: each row of 64 pixels as an 8x8 one-channel image (channels-last,
/// `[[[f32; 1]; 8]; 8]`), with the labels.
pub type Images = (Vec<[[[f32; 1]; 8]; 8]>, Vec<usize>);

/// The digits split as [`load_digits`] does, as 8x8 one-channel images.
pub fn load_digit_images() -> Result<(Images, Images), DataError> {
    let (train, test) = load_digits()?;
    let images = |d: &Dataset<64>| -> Images {
        let x = d
            .features
            .iter()
            .map(|row| core::array::from_fn(|r| core::array::from_fn(|c| [row[r * 8 + c]])));
        (x.collect(), d.labels.clone())
    };
    Ok((images(&train), images(&test)))
}

/// [`run`] for samples of any shape (images), from a fresh `N`.
pub fn run_samples<N>(
    name: &str,
    make: impl FnOnce(&mut gradflow::Rng) -> Box<N>,
    train: Samples<'_, N::Input>,
    test: Samples<'_, N::Input>,
    budget: &Budget,
) -> Result<Outcome, Box<dyn std::error::Error>>
where
    N: TrainableNetwork<f32>,
    N::Input: bytemuck::Pod,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    let net = make(&mut gradflow::rng(budget.seed));
    train_samples(name, net, train, test, budget, &mut |_, _| {})
}

fn train_samples<N>(
    name: &str,
    mut net: Box<N>,
    train: Samples<'_, N::Input>,
    test: Samples<'_, N::Input>,
    budget: &Budget,
    observe: &mut dyn FnMut(usize, &N::Cache<BATCH>),
) -> Result<Outcome, Box<dyn std::error::Error>>
where
    N: TrainableNetwork<f32>,
    N::Input: bytemuck::Pod,
    N::Output: AsRef<[f32]> + AsMut<[f32]>,
{
    let mut sgd = Sgd::new_boxed(SgdConfig::new(budget.lr).momentum(budget.momentum))?;
    let config = TrainConfig {
        epochs: budget.epochs,
        seed: budget.seed,
        progress: budget.progress,
        grad_norms_every: 5,
        reports: true,
        check_inputs: false,
        label: format!("{name:<34}"),
        start_epoch: 0,
        start_step: 0,
    };
    let history =
        fit_observed::<f32, N, _, BATCH>(&mut net, &mut *sgd, train, test, &config, observe)?;
    let seconds = history.epochs.last().map_or(0.0, |e| e.seconds);
    let first = history
        .first_report
        .clone()
        .unwrap_or_else(|| GradientReport {
            step: 0,
            layers: Vec::new(),
            same_samples: false,
        });
    let last = history.last_report.clone();
    Ok(Outcome {
        name: name.to_string(),
        history,
        first,
        last,
        seconds,
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

/// A loss in the table's 10 columns: 4 decimals, or 3 significant digits once it is too large
/// for them (a diverged run).
///
/// A mean loss is NaN only when it averages no step (an epoch whose every step was refused,
/// listed under the tables): `-`.
pub fn fmt_loss(v: f64) -> String {
    if v.is_nan() {
        return String::from("-");
    }
    fmt_decimals(v, 4)
}

/// The diagnosis of a run that refused more than half of its steps (a loss or gradient that
/// was not finite, or too large for the element type): it barely trained, whatever its
/// gradients looked like and however many epochs it had, and on the digits' inputs in
/// [0, 1] the cause is the step size. `None` otherwise.
pub fn mostly_refused(history: &History) -> Option<String> {
    let refused = history.refused.len();
    (refused * 2 > history.steps).then(|| {
        format!(
            "{refused} of {} steps were refused (a loss or gradient that was not finite or too \
             large), so it barely trained: the learning rate is too large for it (`--lr`)",
            history.steps
        )
    })
}

/// The diagnosis of a run whose last steps were all refused, two or more in an unbroken run
/// to the end: it diverged there and never recovered (its weights stayed as the last
/// accepted step left them). `None` otherwise.
pub fn diverged(history: &History) -> Option<String> {
    let mut start = history.steps;
    for &(step, why) in history.refused.iter().rev() {
        // A batch with a NaN in it is the data's fault, not a divergence.
        if step + 1 != start || why == Refusal::NonFiniteInput {
            break;
        }
        start = step;
    }
    let run = history.steps - start;
    (run >= 2).then(|| {
        format!(
            "every step from step {start} to the last ({run} steps) was refused: it diverged \
             and never recovered; the learning rate is too large for it (`--lr`)"
        )
    })
}

/// Below this, an update moved the weights by nothing that training could build on: 1320
/// such steps add up to 1.3e-4 of the weights.
const STALLED_UPDATE: f64 = 1e-7;

/// The diagnosis of a run whose updates barely moved its weights: every weighted layer's
/// update at the last step (the report's `update_ratio`) below 1e-7 of its weights. Dead or
/// vanishing units it shows are then the initialization's, not training's. `None`
/// otherwise, or when the report recorded no update.
pub fn stalled(last: &GradientReport) -> Option<String> {
    // Gradients at or near a minimum (a fitted batch) move nothing at any learning rate.
    let verdict = last.verdict();
    if verdict
        .findings
        .iter()
        .any(|f| matches!(f, Finding::AllSmall { .. }))
    {
        return None;
    }
    // A layer whose weights are all 0 has no ratio; the others still tell.
    let ratios: Vec<f64> = last
        .layers
        .iter()
        .filter(|l| l.params > 0)
        .filter_map(|l| l.update_ratio)
        .collect();
    let largest = ratios.iter().copied().fold(0.0, f64::max);
    (!ratios.is_empty() && largest < STALLED_UPDATE).then(|| {
        format!(
            "its last update moved no layer's weights by more than {largest:.1e} of their size: \
             the learning rate is too small to train it (`--lr`)"
        )
    })
}

/// How far the test accuracy may fall from its best of the last epochs before the end is
/// called unstable: 3 points, 11 of the digits' 359 test samples.
const UNSTABLE_DROP: f64 = 0.03;

/// The diagnosis of a run that healthy gradients do not explain, from its last epochs: one
/// that fits its training set (train accuracy of at least 0.99 after the last epoch) has a
/// generalization gap; one whose test accuracy fell 3 points or more below its best of the
/// last five epochs oscillated at the end (a batchnorm network's epoch-mean training loss
/// can look low while it does); otherwise `None`.
pub fn last_epochs(history: &History) -> Option<String> {
    let last = history.epochs.last()?;
    let recent = &history.epochs[history.epochs.len().saturating_sub(5)..];
    let best = recent
        .iter()
        .filter(|e| e.test_accuracy.is_finite())
        .max_by(|a, b| a.test_accuracy.total_cmp(&b.test_accuracy))?;
    // 0.95 - 0.92 is 0.0299..., three points all the same.
    if best.test_accuracy - last.test_accuracy >= UNSTABLE_DROP - 1e-9 {
        return Some(format!(
            "its test accuracy fell from {:.4} after epoch {} to {:.4} at the end (train \
             accuracy {:.4}): the last epochs were unstable, not its gradients; a lower \
             learning rate (`--lr`)",
            best.test_accuracy, best.epoch, last.test_accuracy, last.train_accuracy
        ));
    }
    (last.train_accuracy >= 0.99 && last.test_accuracy.is_finite()).then(|| {
        format!(
            "it fits its training set (train accuracy {:.4}) but not the test set: the gap is \
             generalization, not gradients",
            last.train_accuracy
        )
    })
}

/// `v` with `decimals` decimals, or in scientific notation from 1e5 on, so that a diverged
/// run's values (1e30) stay readable rather than thirty digits long.
pub fn fmt_decimals(v: f64, decimals: usize) -> String {
    if v.abs() < 1e5 || !v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1e}"))
}

/// The summary table: one row per configuration.
pub fn summary_table(outcomes: &[Outcome]) -> String {
    let w = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(13)
        .max(13);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<w$}  {:>10}  {:>8}  {:>12}  {:>12}  {:>6}  {:>9}  {:>7}",
        "configuration",
        "train loss",
        "test acc",
        "ratio start",
        "ratio end",
        "dead",
        "saturated",
        "time"
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "{:<w$}  {:>10}  {:>8.4}  {:>12}  {:>12}  {:>6}  {:>9}  {:>6.1}s",
            o.name,
            fmt_loss(o.final_loss()),
            o.test_accuracy(),
            fmt_ratio(o.first.first_to_last_ratio()),
            fmt_ratio(o.last_ratio()),
            fmt_opt(o.dead()),
            fmt_opt(o.saturated()),
            o.seconds
        );
    }
    out
}

/// Writes the loss curves of all runs on one chart, a gradient heat map per run, the
/// histories as CSV and an HTML page showing them, into `dir`.
pub fn write_report(
    dir: &Path,
    title: &str,
    outcomes: &[Outcome],
    table: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    // Written into a fresh folder beside `dir`, which then replaces it: a run that fails
    // half-way leaves the previous report whole, not half old and half new.
    let name = dir
        .file_name()
        .ok_or("the report folder needs a name")?
        .to_string_lossy();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let in_io = |path: &Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| format!("{path}: {e}")
    };
    std::fs::create_dir_all(parent).map_err(in_io(parent))?;
    remove_abandoned(parent, &name, ABANDONED_AFTER);
    // Random names (tempfile), removed when dropped: on an error, and once renamed away.
    let fresh = |kind: &str| {
        tempfile::Builder::new()
            .prefix(&format!("{name}.{kind}-"))
            .tempdir_in(parent)
            .map_err(in_io(parent))
    };
    let staging = fresh("partial")?;
    write_report_files(staging.path(), title, outcomes, table)?;
    // The previous report is moved aside whole (one rename onto an empty folder), the new one
    // renamed in, and only then the old one removed, best-effort. The move is retried if
    // another run writing the same report puts its folder in place between this run's two
    // renames (removing the old report in place, two runs at once failed with "Directory not
    // empty"); the last run to rename wins.
    for _ in 0..8 {
        let aside = fresh("old")?;
        if dir.is_dir() {
            match std::fs::rename(dir, aside.path()) {
                Ok(()) => {}
                // Moved by the other run first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(in_io(dir)(e).into()),
            }
        }
        match std::fs::rename(staging.path(), dir) {
            // `aside` and the now empty `staging` name are removed as they drop.
            Ok(()) => return Ok(()),
            // Another run's report arrived in between: move it aside in turn. (By the error,
            // too: that report may have been moved aside again before `is_dir` looks.)
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty || dir.is_dir() => continue,
            Err(e) => {
                // Put the previous report back, if this run moved it.
                if !dir.exists()
                    && aside
                        .path()
                        .read_dir()
                        .is_ok_and(|mut d| d.next().is_some())
                {
                    let _ = std::fs::rename(aside.path(), dir);
                }
                return Err(in_io(dir)(e).into());
            }
        }
    }
    Err(format!("{}: other runs kept replacing this report", dir.display()).into())
}

/// How long ago a staging or set-aside folder must have last changed before a later run takes
/// it for one that a killed run left behind: a run keeps its own for the second or so it
/// takes to write the files, so an hour cannot catch a live run's folder.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// When a folder last changed, a rename included. A set-aside folder is the previous report
/// renamed onto a fresh name, and a rename keeps a folder's modification time (that report's,
/// hours or days old), so on Unix this is the status-change time, which the rename sets.
/// Elsewhere it is the modification time, and [`remove_abandoned`] leaves set-aside folders
/// alone.
fn last_change(meta: &std::fs::Metadata) -> Option<std::time::SystemTime> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let since_epoch = std::time::Duration::new(
            u64::try_from(meta.ctime()).ok()?,
            u32::try_from(meta.ctime_nsec()).ok()?,
        );
        std::time::SystemTime::UNIX_EPOCH.checked_add(since_epoch)
    }
    #[cfg(not(unix))]
    {
        meta.modified().ok()
    }
}

/// Removes, best-effort, the `NAME.partial-*` and (on Unix) `NAME.old-*` folders in `parent`
/// that last changed more than `older_than` ago ([`ABANDONED_AFTER`] when [`write_report`]
/// calls it): what a run killed inside [`write_report`] leaves (its temporary folders are
/// removed only when it returns).
pub fn remove_abandoned(parent: &Path, name: &str, older_than: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let mut prefixes = vec![format!("{name}.partial-")];
    if cfg!(unix) {
        prefixes.push(format!("{name}.old-"));
    }
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let ours = prefixes.iter().any(|p| file_name.starts_with(p.as_str()));
        // Not following links: `file_type` and `metadata` of a `DirEntry` are the entry's own.
        let abandoned = entry.file_type().is_ok_and(|t| t.is_dir())
            && entry
                .metadata()
                .ok()
                .and_then(|m| last_change(&m))
                .is_some_and(|t| t.elapsed().is_ok_and(|age| age > older_than));
        if ours && abandoned {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The files of [`write_report`], into the existing folder `dir`.
fn write_report_files(
    dir: &Path,
    title: &str,
    outcomes: &[Outcome],
    table: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let runs: Vec<(&str, &History)> = outcomes
        .iter()
        .map(|o| (o.name.as_str(), &o.history))
        .collect();
    gradflow::nn::plot::loss_curves_svg(dir.join("loss_curves.svg"), title, &runs)?;
    let mut html = format!(
        "<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>\
         <pre>{table}</pre><img src=loss_curves.svg>"
    );
    for o in outcomes {
        let stem = slug(&o.name);
        gradflow::nn::plot::grad_heatmap_svg(
            dir.join(format!("{stem}_gradients.svg")),
            &o.name,
            &o.history,
        )?;
        o.history.write_csv(dir.join(&stem))?;
        let _ = write!(
            html,
            "<h2>{}</h2><pre>{}</pre><img src={stem}_gradients.svg>",
            o.name, o.first
        );
    }
    let index = dir.join("index.html");
    std::fs::write(&index, html).map_err(|e| format!("{}: {e}", index.display()))?;
    Ok(())
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
