//! The digits examples' command line (`examples/shared/args.rs`): defaults, both flags,
//! `--help`, and every malformed line refused with the usage.

include!("../examples/shared/args.rs");

const USAGE: &str = "usage: digits [--seed N] [--bake DIR]";

fn parse(line: &[&str]) -> Result<Command, String> {
    parse_digits_args(line.iter().map(std::ffi::OsString::from), USAGE)
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

#[test]
fn main_runs_only_a_well_formed_line_and_maps_outcomes_to_statuses() {
    use std::process::ExitCode;
    let args = |line: &[&str]| {
        line.iter()
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>()
    };
    let mut ran = None;
    let status = digits_main(USAGE, args(&["--seed", "9"]), |seed, bake| {
        ran = Some((seed, bake));
        Ok(())
    });
    assert_eq!(status, ExitCode::SUCCESS);
    assert_eq!(ran, Some((9, None)));
    let failed = digits_main(USAGE, args(&[]), |_, _| Err("no data".into()));
    assert_eq!(failed, ExitCode::FAILURE);
    // A flag or seed that is not UTF-8 is a usage error, not a panic; a folder that is not
    // is the path it names.
    #[cfg(unix)]
    {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(b"out\xff".to_vec());
        for line in [vec![bad()], vec!["--seed".into(), bad()]] {
            let status = digits_main(USAGE, line, |_, _| panic!("ran"));
            assert_eq!(status, ExitCode::from(2));
        }
        let mut baked = None;
        let status = digits_main(USAGE, vec!["--bake".into(), bad()], |_, bake| {
            baked = bake;
            Ok(())
        });
        assert_eq!(status, ExitCode::SUCCESS);
        assert_eq!(baked, Some(std::path::PathBuf::from(bad())));
    }
    for line in [&["--seed", "1", "--seed", "1"][..], &["--help"][..]] {
        let status = digits_main(USAGE, args(line), |_, _| panic!("{line:?} ran"));
        let expected = if line == ["--help"] {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
        assert_eq!(status, expected, "{line:?}");
    }
}
