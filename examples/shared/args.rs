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
pub fn parse_digits_args(
    args: impl IntoIterator<Item = String>,
    usage: &str,
) -> Result<Command, String> {
    let (mut seed, mut bake) = (None, None);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
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
