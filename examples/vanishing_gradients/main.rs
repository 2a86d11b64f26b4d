//! The vanishing-gradient study: one deep network trained on the real digits data in seven
//! configurations, from the classic failure (sigmoid, tiny weights) to every cure, with
//! gradient health measured layer by layer.
//!
//! ```text
//! cargo run --release --example vanishing_gradients [-- --depth 20 --width 64 --epochs 30 --seed 42]
//! ```
//!
//! Depth and width are runtime choices among the sizes this program instantiates at compile
//! time (`network!` types have fixed shapes): depth 10, 20 or 30 and width 32 or 64.
//!
//! `--paper NAME` reproduces a published result instead: `he2015`, `glorot2010`,
//! `ioffe2015`, `resnet2016`, `cnn` (a deep plain CNN against its residual version),
//! `input-scale`, or `all`.

mod args;
mod papers;
mod study;

use gradflow::prelude::*;
use std::process::ExitCode;

include!("../shared/say.rs");

use args::{parse_args, utf8_args, Args, Command, USAGE};
use study::{
    diverged, last_epochs, load_digits, mostly_refused, run, stalled, summary_table, write_report,
    Budget, Outcome,
};

/// Defines the seven configurations at one depth and width, and a function running them all.
/// `$blocks` is `($depth - 2) / 2`: the residual network is one dense layer, that many blocks
/// of two layers, and one more dense layer.
macro_rules! configurations {
    ($module:ident, $depth:tt, $width:tt, $blocks:tt) => {
        mod $module {
            use super::*;

            network! {
                /// 1. sigmoid + small_normal: the classic failure.
                pub struct SigmoidSmall<f32> { input 64, repeat $depth { dense $width [small_normal, sigmoid] }, dense 10 }
            }
            network! {
                /// 2. tanh + xavier_init.
                pub struct TanhXavier<f32> { input 64, repeat $depth { dense $width [xavier_init, tanh] }, dense 10 }
            }
            network! {
                /// 3. relu + xavier_init.
                pub struct ReluXavier<f32> { input 64, repeat $depth { dense $width [xavier_init, relu] }, dense 10 }
            }
            network! {
                /// 4. relu + he_init.
                pub struct ReluHe<f32> { input 64, repeat $depth { dense $width [he_init, relu] }, dense 10 }
            }
            network! {
                /// 5. relu + he_init + batchnorm.
                pub struct ReluHeBn<f32> { input 64, repeat $depth { dense $width [he_init, batchnorm, relu] }, dense 10 }
            }
            network! {
                /// 6. relu + he_init + batchnorm + residual blocks of two layers.
                pub struct Residual<f32> {
                    input 64,
                    dense $width [he_init, batchnorm, relu],
                    repeat $blocks residual {
                        dense $width [he_init, batchnorm, relu],
                        dense $width [he_init, batchnorm],
                    } relu,
                    dense $width [he_init, batchnorm, relu],
                    dense 10,
                }
            }
            network! {
                /// 7. sigmoid + xavier_init + batchnorm: batchnorm alone rescues a saturating activation.
                pub struct SigmoidBn<f32> { input 64, repeat $depth { dense $width [xavier_init, batchnorm, sigmoid] }, dense 10 }
            }

            pub fn run_all(
                data: &(gradflow::data::Dataset<64>, gradflow::data::Dataset<64>),
                budget: &Budget,
            ) -> Result<Vec<Outcome>, Box<dyn std::error::Error>> {
                Ok(vec![
                    run("1 sigmoid + small_normal", SigmoidSmall::new_boxed, data, budget)?,
                    run("2 tanh + xavier", TanhXavier::new_boxed, data, budget)?,
                    run("3 relu + xavier", ReluXavier::new_boxed, data, budget)?,
                    run("4 relu + he", ReluHe::new_boxed, data, budget)?,
                    run("5 relu + he + batchnorm", ReluHeBn::new_boxed, data, budget)?,
                    run("6 relu + he + batchnorm + residual", Residual::new_boxed, data, budget)?,
                    run("7 sigmoid + xavier + batchnorm", SigmoidBn::new_boxed, data, budget)?,
                ])
            }
        }
    };
}

configurations!(d10_w32, 10, 32, 4);
configurations!(d10_w64, 10, 64, 4);
configurations!(d20_w32, 20, 32, 9);
configurations!(d20_w64, 20, 64, 9);
configurations!(d30_w32, 30, 32, 14);
configurations!(d30_w64, 30, 64, 14);

/// The networks of the reproductions, at the papers' (reduced) scale.
mod paper_nets {
    use super::*;

    network! {
        /// Glorot and Bengio: sigmoid, standard initialization.
        pub struct GlorotSigmoid<f32> { input 64, repeat 5 { dense 64 [standard_init, sigmoid] }, dense 10 }
    }
    network! {
        /// Glorot and Bengio: tanh, standard initialization.
        pub struct GlorotTanhStandard<f32> { input 64, repeat 5 { dense 64 [standard_init, tanh] }, dense 10 }
    }
    network! {
        /// Glorot and Bengio: tanh, normalized (Xavier) initialization.
        pub struct GlorotTanhXavier<f32> { input 64, repeat 5 { dense 64 [xavier_uniform, tanh] }, dense 10 }
    }
    network! {
        /// Ioffe and Szegedy: three hidden layers of 100 sigmoid units.
        pub struct IoffePlain<f32> { input 64, repeat 3 { dense 100 [xavier_normal, sigmoid] }, dense 10 }
    }
    network! {
        /// Ioffe and Szegedy: the same with batchnorm before each sigmoid.
        pub struct IoffeBn<f32> { input 64, repeat 3 { dense 100 [xavier_normal, batchnorm, sigmoid] }, dense 10 }
    }
    network! {
        /// He et al. 2016: a 56-layer plain network with batchnorm and He initialization.
        pub struct Plain56<f32> { input 64, repeat 56 { dense 64 [he_init, batchnorm, relu] }, dense 10 }
    }
    network! {
        /// He et al. 2016: its residual version (1 + 27 x 2 + 1 = 56 layers).
        pub struct Residual56<f32> {
            input 64,
            dense 64 [he_init, batchnorm, relu],
            repeat 27 residual {
                dense 64 [he_init, batchnorm, relu],
                dense 64 [he_init, batchnorm],
            } relu,
            dense 64 [he_init, batchnorm, relu],
            dense 10,
        }
    }
    network! {
        /// Input scale: tanh on breast_cancer's raw features.
        pub struct RawTanh<f32> { input 30, dense 32 [xavier_init, tanh], dense 32 [xavier_init, tanh], dense 2 }
    }
    network! {
        /// Input scale: the same behind a fitted standardizer.
        pub struct ScaledTanh<f32> {
            input 30,
            standardize,
            dense 32 [xavier_init, tanh],
            dense 32 [xavier_init, tanh],
            dense 2,
        }
    }

    network! {
        /// The convolutional variant: a plain CNN of 15 convolutions on 8x8 images.
        pub struct PlainCnn<f32> {
            input [8, 8, 1],
            repeat 15 { conv2d 8 k3 same [he_init, batchnorm, relu] },
            global_avg_pool,
            dense 10,
        }
    }
    network! {
        /// Its residual version: one convolution and seven residual blocks of two.
        pub struct ResidualCnn<f32> {
            input [8, 8, 1],
            conv2d 8 k3 same [he_init, batchnorm, relu],
            repeat 7 residual {
                conv2d 8 k3 same [he_init, batchnorm, relu],
                conv2d 8 k3 same [he_init, batchnorm],
            } relu,
            global_avg_pool,
            dense 10,
        }
    }

    /// Fits the standardizer on the training features.
    pub fn fit_standardizer(net: &mut ScaledTanh, train: &gradflow::data::Dataset<30>) {
        net.standardize_0.fit(&train.features);
    }
}

/// `1 epoch`, `30 epochs`.
fn epochs(n: usize) -> String {
    format!("{n} epoch{}", if n == 1 { "" } else { "s" })
}

/// The optimizer and budget of a run: `SGD lr 0.005 momentum 0.9, batch 32, 30 epochs`.
fn sgd(b: &Budget) -> String {
    format!(
        "SGD lr {} momentum {}, batch {}, {}",
        fmt_lr(b.lr),
        b.momentum,
        study::BATCH,
        epochs(b.epochs)
    )
}

/// The setting a reproduction runs with, printed before it runs: its seed, optimizer and
/// budget, which `--seed`, `--lr` and `--epochs` change.
fn say_setting(b: &Budget) {
    say!("\nseed {}; {}", b.seed, sgd(b));
}

/// Each reproduction's learning rate unless `--lr` is given: the 30-layer plain ReLU networks
/// of He et al. 2015 need a smaller step, and Glorot and Bengio's saturation shows within the
/// budget at a larger one.
fn paper_budget(budget: &Budget, lr_given: bool, default_lr: f64) -> Budget {
    Budget {
        lr: if lr_given { budget.lr } else { default_lr },
        ..*budget
    }
}

fn run_paper(
    name: &str,
    budget: &Budget,
    lr_given: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    use paper_nets::*;
    let all = name == "all";
    // The digits as flat features, for the four reproductions that use them (`cnn` reads them
    // as images, `input-scale` reads breast_cancer): loaded only then, so that each runs
    // with only the data it needs.
    let digits = match name {
        "cnn" | "input-scale" => None,
        _ => Some(load_digits()?),
    };
    let digits = || {
        digits
            .as_ref()
            .expect("loaded for every reproduction that uses it")
    };
    let mut matched = false;
    if all || name == "he2015" {
        matched = true;
        let budget = &paper_budget(budget, lr_given, 0.002);
        say_setting(budget);
        let r = papers::he2015(
            d30_w64::ReluXavier::new_boxed,
            d30_w64::ReluHe::new_boxed,
            digits(),
            budget,
        )?;
        say!("\n{}", r.report());
        refusals(&[&r.xavier_run, &r.he_run]);
    }
    if all || name == "glorot2010" {
        matched = true;
        let budget = &paper_budget(budget, lr_given, 0.05);
        say_setting(budget);
        let r = papers::glorot2010(
            GlorotSigmoid::new_boxed,
            GlorotTanhStandard::new_boxed,
            GlorotTanhXavier::new_boxed,
            digits(),
            budget,
        )?;
        say!("\n{}", r.report());
        refusals(&[&r.sigmoid_run]);
    }
    if all || name == "ioffe2015" {
        matched = true;
        say_setting(budget);
        let r = papers::ioffe2015(IoffePlain::new_boxed, IoffeBn::new_boxed, digits(), budget)?;
        say!("\n{}", r.report());
        refusals(&[&r.plain.0, &r.normalized.0]);
    }
    if all || name == "resnet2016" {
        matched = true;
        let names = ["plain 20 layers", "plain 56 layers", "residual 56 layers"];
        say_setting(budget);
        let r = papers::he2016(
            d20_w64::ReluHeBn::new_boxed,
            Plain56::new_boxed,
            Residual56::new_boxed,
            names,
            digits(),
            budget,
        )?;
        say!("\n{}", r.report());
        refusals(&[&r.shallow, &r.deep, &r.residual]);
    }
    if all || name == "cnn" {
        matched = true;
        let images = study::load_digit_images()?;
        let names = [
            "plain CNN, 15 convolutions",
            "residual CNN, 15 convolutions",
        ];
        say_setting(budget);
        let r = papers::conv_depth(
            PlainCnn::new_boxed,
            ResidualCnn::new_boxed,
            names,
            &images,
            budget,
        )?;
        say!("\n{}", r.report());
        refusals(&[&r.plain, &r.residual]);
    }
    if all || name == "input-scale" {
        matched = true;
        let cancer = study::load_breast_cancer()?;
        say_setting(budget);
        let r = papers::input_scale(
            RawTanh::new_boxed,
            ScaledTanh::new_boxed,
            fit_standardizer,
            &cancer,
            budget,
        )?;
        say!("\n{}", r.report());
        refusals(&[&r.raw, &r.standardized]);
    }
    if !matched {
        return Err(format!("unknown paper `{name}`\n{USAGE}").into());
    }
    Ok(())
}

/// A line for each run of which the training loop refused steps (a loss or gradient that was
/// not finite, or too large): its train loss averages the accepted steps only, so without
/// this line a run of 43 refused steps out of 44 reads like an ordinary untrained one.
fn refusals(outcomes: &[&Outcome]) {
    for o in outcomes {
        let refused = &o.history.refused;
        if let Some((step, reason)) = refused.first() {
            say!(
                "{}: {} of {} steps were refused (the first, step {step}: {reason}); its train \
                 loss averages the accepted steps only (`-` when the last epoch accepted none)",
                o.name,
                refused.len(),
                o.history.steps
            );
        }
    }
}

/// The diagnosis of a configuration that failed (test accuracy below 0.9) or whose gradients
/// were unhealthy at the first step: that step's verdict and, for a failure, the last step's
/// too, since what holds a network back can change over training (units that die, a rate that
/// diverges later). Refused steps are listed under the table ([`refusals`]).
fn diagnose(o: &Outcome) {
    let first = o.first.verdict();
    let failed = o.test_accuracy().is_nan() || o.test_accuracy() < 0.9;
    if !failed && first.healthy() {
        return;
    }
    say!(
        "\n{} (test accuracy {:.4}), at the first step:\n{first}",
        o.name,
        o.test_accuracy()
    );
    if !failed {
        return;
    }
    let last = o.last.as_ref().map(|r| (r.step, r.verdict()));
    match &last {
        Some((step, verdict)) => say!("at the last step (step {step}):\n{verdict}"),
        None => say!("    no report from the last step: it was refused before its gradient"),
    }
    // Whatever the verdicts say, a run that refused most of its steps barely trained, one
    // whose last steps were all refused diverged, and one whose updates did not move its
    // weights was not trained at all: the learning rate, each time.
    let learning_rate = mostly_refused(&o.history)
        .or_else(|| diverged(&o.history))
        .or_else(|| o.last.as_ref().and_then(stalled));
    if let Some(line) = learning_rate {
        say!("    {line}");
        return;
    }
    let last_healthy = last.is_none_or(|(_, v)| v.healthy());
    if first.healthy() && !last_healthy {
        say!(
            "    its first step was healthy, so training brought this on: a lower learning \
             rate (`--lr`) may keep it from happening"
        );
    } else if first.healthy() {
        let ran = o.history.epochs.len();
        if let Some(line) = last_epochs(&o.history) {
            say!("    {line}");
        } else if ran < 10 {
            say!(
                "    neither step's gradients explain the failure: {} may be too few \
                 (`--epochs`); look at the loss curve",
                epochs(ran)
            );
        } else {
            say!(
                "    neither step's gradients explain the failure: look at the learning rate \
                 and the loss curve"
            );
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2, failures while running with 1.
    let args = match utf8_args(std::env::args_os().skip(1)).and_then(parse_args) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            say!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match try_main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A learning rate as people write it: `0.005`, `1e-30` (not thirty decimals).
fn fmt_lr(lr: f64) -> String {
    if (1e-4..1e4).contains(&lr) {
        format!("{lr}")
    } else {
        format!("{lr:e}")
    }
}

fn try_main(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(paper) = &args.paper {
        return run_paper(paper, &args.budget, args.lr_given);
    }
    let data = load_digits()?;
    let b = &args.budget;
    say!(
        "digits: {} training, {} test samples; depth {}, width {}; {}, seed {}",
        data.0.len(),
        data.1.len(),
        args.depth,
        args.width,
        sgd(b),
        b.seed
    );
    let outcomes = match (args.depth, args.width) {
        (10, 32) => d10_w32::run_all(&data, b)?,
        (10, 64) => d10_w64::run_all(&data, b)?,
        (20, 32) => d20_w32::run_all(&data, b)?,
        (20, 64) => d20_w64::run_all(&data, b)?,
        (30, 32) => d30_w32::run_all(&data, b)?,
        (30, 64) => d30_w64::run_all(&data, b)?,
        (d, w) => {
            return Err(format!(
                "depth {d} and width {w} are not built in: depth 10, 20 or 30; width 32 or 64"
            )
            .into())
        }
    };
    let table = summary_table(&outcomes);
    say!("\n{table}");
    say!("ratio = gradient L2 norm (all its parameters) of the first layer / of the output layer; dead and saturated: mean over layers at the last step");
    refusals(&outcomes.iter().collect::<Vec<_>>());
    for o in outcomes.iter().filter(|o| o.last.is_none()) {
        say!(
            "{}: no report from the last step (refused before its gradient), so '-' for ratio end, dead and saturated",
            o.name
        );
    }
    for o in &outcomes {
        diagnose(o);
    }
    // Under the target folder cargo built this program into, wherever that is
    // (CARGO_TARGET_DIR, `--target-dir`, a config's `build.target-dir`): the program sits in
    // `<target>/<profile>/examples/`. A copy run from elsewhere writes under the project's
    // `target`.
    let built_in = std::env::current_exe().ok().and_then(|exe| {
        let examples = exe.parent()?;
        let target = examples.parent()?.parent()?;
        (examples.file_name()? == "examples").then(|| target.to_path_buf())
    });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = built_in.unwrap_or_else(|| root.join("target"));
    // One folder per setting, so that runs of other seeds or sizes, also at the same time,
    // each keep their own report.
    let dir = target.join("gradflow-report").join(format!(
        "depth{}-width{}-seed{}-lr{}-epochs{}",
        args.depth,
        args.width,
        b.seed,
        fmt_lr(b.lr),
        b.epochs
    ));
    write_report(
        &dir,
        &format!(
            "vanishing gradients: depth {}, width {}, seed {}, lr {}, {}",
            args.depth,
            args.width,
            b.seed,
            fmt_lr(b.lr),
            epochs(b.epochs)
        ),
        &outcomes,
        &table,
    )?;
    say!("\nreport: {}", dir.join("index.html").display());
    Ok(())
}
