// The command line of the digits examples (`digits`, `digits_cnn`): `--seed N` and
// `--bake DIR`, each at most once. Included by both examples and by `tests/example_args.rs`.

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// `--help` or `-h`: print the usage and stop.
    Help,
    /// Train with this seed, and write the firmware's fixtures into the directory if given.
    Run {
        seed: u64,
        bake: Option<std::path::PathBuf>,
    },
}

/// Parses the arguments after the program name. `usage` is the example's usage line, repeated
/// in every error. A flag given twice is refused rather than letting the last one win.
/// `--bake`'s folder may be any path the system allows; every other argument must be UTF-8
/// text (`std::env::args` would panic on one that is not).
pub fn parse_digits_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    usage: &str,
) -> Result<Command, String> {
    let (mut seed, mut bake) = (None, None);
    let mut args = args.into_iter();
    let text = |arg: std::ffi::OsString| {
        arg.into_string()
            .map_err(|bad| format!("argument {bad:?} is not valid UTF-8\n{usage}"))
    };
    while let Some(flag) = args.next() {
        let flag = text(flag)?;
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        if flag != "--seed" && flag != "--bake" {
            return Err(format!("unknown argument `{flag}`\n{usage}"));
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        let given_before = if flag == "--seed" {
            let value = text(value)?;
            let parsed = value
                .parse()
                .map_err(|_| format!("--seed: `{value}` is not a whole number\n{usage}"))?;
            seed.replace(parsed).is_some()
        } else {
            bake.replace(std::path::PathBuf::from(value)).is_some()
        };
        if given_before {
            return Err(format!("{flag} is given twice\n{usage}"));
        }
    }
    Ok(Command::Run {
        seed: seed.unwrap_or(42),
        bake,
    })
}

include!("say.rs");

/// An example's `main`: parses the command line, prints the usage for `--help`, and runs
/// `run(seed, bake)`. A malformed line exits with status 2, a failed run with status 1, each
/// with its message on stderr.
pub fn digits_main(
    usage: &str,
    args: impl IntoIterator<Item = std::ffi::OsString>,
    run: impl FnOnce(u64, Option<std::path::PathBuf>) -> Result<(), Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    match parse_digits_args(args, usage) {
        Ok(Command::Help) => {
            say!("{usage}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run { seed, bake }) => match run(seed, bake) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
