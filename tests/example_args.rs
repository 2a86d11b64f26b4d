//! The digits examples' command line (`examples/shared/args.rs`): defaults, both flags,
//! `--help`, and every malformed line refused with the usage.

include!("../examples/shared/args.rs");

const USAGE: &str = "usage: digits [--seed N] [--bake DIR]";

fn parse(line: &[&str]) -> Result<Command, String> {
    parse_digits_args(line.iter().map(|s| s.to_string()), USAGE)
}

#[test]
fn defaults_flags_and_help() {
    assert_eq!(
        parse(&[]),
        Ok(Command::Run {
            seed: 42,
            bake: None
        })
    );
    assert_eq!(
        parse(&["--bake", "out", "--seed", "7"]),
        Ok(Command::Run {
            seed: 7,
            bake: Some("out".into())
        })
    );
    assert_eq!(parse(&["--seed", "3", "--help"]), Ok(Command::Help));
    assert_eq!(parse(&["-h"]), Ok(Command::Help));
}

#[test]
fn malformed_lines_are_refused_with_the_usage() {
    for (line, message) in [
        (&["--seed", "1", "--seed", "2"][..], "--seed is given twice"),
        (&["--bake", "a", "--bake", "b"][..], "--bake is given twice"),
        (&["--seed"][..], "--seed needs a value"),
        (&["--seed", "-1"][..], "--seed: `-1` is not a whole number"),
        (
            &["--seed", "1.5"][..],
            "--seed: `1.5` is not a whole number",
        ),
        (&["--epochs", "3"][..], "unknown argument `--epochs`"),
        (&["7"][..], "unknown argument `7`"),
    ] {
        let error = parse(line).expect_err(&format!("{line:?} accepted"));
        assert!(error.starts_with(message), "{line:?}: {error}");
        assert!(error.ends_with(USAGE), "{line:?}: {error}");
    }
}
