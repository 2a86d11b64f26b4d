//! The study's command line, parsed without reading any data, so that every malformed line is
//! refused (exit status 2) before the run starts. Tested in `tests/study.rs`.

use crate::study::Budget;

/// A well-formed command line.
#[derive(Debug)]
pub struct Args {
    pub depth: usize,
    pub width: usize,
    pub paper: Option<String>,
    /// Whether `--lr` was given: each reproduction has its own rate otherwise.
    pub lr_given: bool,
    pub budget: Budget,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Run(Args),
}

/// The `--paper` names.
pub const PAPERS: [&str; 7] = [
    "he2015",
    "glorot2010",
    "ioffe2015",
    "resnet2016",
    "cnn",
    "input-scale",
    "all",
];

/// The depths and widths the example instantiates at compile time.
pub const DEPTHS: [usize; 3] = [10, 20, 30];
pub const WIDTHS: [usize; 2] = [32, 64];

/// More epochs than anyone waits for (the default is 30, each a few seconds a configuration):
/// a larger count is a typing error, refused before the data is read.
pub const MAX_EPOCHS: usize = 100_000;

pub const USAGE: &str =
    "usage: vanishing_gradients [--depth 10|20|30] [--width 32|64] [--epochs N] [--seed N] [--lr X]
                           [--paper he2015|glorot2010|ioffe2015|resnet2016|cnn|input-scale|all]
defaults: --depth 20 --width 64 --epochs 30 (1 to 100000) --seed 42 --lr 0.005
--paper runs a reproduction at its paper's sizes (--depth and --width are refused with it),
with its own --lr unless given: he2015 0.002, glorot2010 0.05, the others 0.005";

/// The arguments after the program's name as text: one that is not UTF-8 is a usage error
/// (exit status 2), where `std::env::args` would panic.
pub fn utf8_args(
    line: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Vec<String>, String> {
    line.into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|bad| format!("argument {bad:?} is not valid UTF-8\n{USAGE}"))
        })
        .collect()
}

/// Parses the arguments after the program's name.
pub fn parse_args(line: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = Args {
        depth: 20,
        width: 64,
        paper: None,
        lr_given: false,
        budget: Budget::default(),
    };
    let mut size_given = false;
    let mut seen: Vec<String> = Vec::new();
    let mut it = line.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        const FLAGS: [&str; 6] = [
            "--depth", "--width", "--epochs", "--seed", "--paper", "--lr",
        ];
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown flag {flag}\n{USAGE}"));
        }
        if seen.contains(&flag) {
            return Err(format!("{flag} is given twice\n{USAGE}"));
        }
        seen.push(flag.clone());
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        // A whole number among `allowed` (described as `what`), else the error naming them.
        let number = |allowed: &dyn Fn(u64) -> bool, what: &str| {
            // Digits only: `u64::from_str` also takes a leading `+`.
            Some(&value)
                .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&n| allowed(n))
                .ok_or_else(|| format!("{flag}: `{value}` is not {what}\n{USAGE}"))
        };
        let built_in = |sizes: &'static [usize]| {
            move |n: u64| usize::try_from(n).is_ok_and(|n| sizes.contains(&n))
        };
        match flag.as_str() {
            "--depth" => {
                args.depth = number(&built_in(&DEPTHS), "a depth built in: 10, 20 or 30")? as usize;
                size_given = true;
            }
            "--width" => {
                args.width = number(&built_in(&WIDTHS), "a width built in: 32 or 64")? as usize;
                size_given = true;
            }
            "--epochs" => {
                let what = format!("a whole number from 1 to {MAX_EPOCHS}");
                args.budget.epochs =
                    number(&|n| (1..=MAX_EPOCHS as u64).contains(&n), &what)? as usize;
            }
            "--seed" => {
                let what = format!("a whole number from 0 to {}", u64::MAX);
                args.budget.seed = number(&|_| true, &what)?;
            }
            "--paper" => {
                if !PAPERS.contains(&value.as_str()) {
                    return Err(format!("unknown paper `{value}`\n{USAGE}"));
                }
                args.paper = Some(value)
            }
            "--lr" => {
                args.lr_given = true;
                args.budget.lr = value
                    .parse::<f64>()
                    .ok()
                    // The networks are f32: a rate the optimizer would refuse is refused here,
                    // before the data is read.
                    .filter(|lr| (f32::MIN_POSITIVE as f64..=f32::MAX as f64).contains(lr))
                    .ok_or_else(|| {
                        format!(
                            "--lr: `{value}` is not a positive number in f32's normal range \
                             ({:e} to {:e})\n{USAGE}",
                            // As f64, the exact bounds: `3.4028235e38`, f32::MAX printed
                            // as f32, lies above it.
                            f32::MIN_POSITIVE as f64,
                            f32::MAX as f64
                        )
                    })?
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.paper.is_some() && size_given {
        return Err(format!(
            "--depth and --width size the study's networks; each --paper reproduction has the \
             sizes of its paper (README)\n{USAGE}"
        ));
    }
    Ok(Command::Run(args))
}
