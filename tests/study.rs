//! Reduced-size runs of the vanishing-gradient study and its reproductions
//! (`examples/vanishing_gradients`), asserting the qualitative results on real data.

#[allow(dead_code)]
#[path = "../examples/vanishing_gradients/study.rs"]
mod study;

#[allow(dead_code)]
#[path = "../examples/vanishing_gradients/papers/mod.rs"]
mod papers;

#[path = "../examples/vanishing_gradients/args.rs"]
mod args;

use gradflow::prelude::*;
use study::{load_breast_cancer, load_digits, run, Budget};

fn budget(epochs: usize) -> Budget {
    Budget {
        epochs,
        progress: false,
        ..Budget::default()
    }
}

network! {
    struct SigmoidSmall<f32> { input 64, repeat 10 { dense 32 [small_normal, sigmoid] }, dense 10 }
}
network! {
    struct ReluHe<f32> { input 64, repeat 10 { dense 32 [he_init, relu] }, dense 10 }
}
network! {
    struct ReluXavier<f32> { input 64, repeat 10 { dense 32 [xavier_init, relu] }, dense 10 }
}
network! {
    struct Residual<f32> {
        input 64,
        dense 32 [he_init, batchnorm, relu],
        repeat 4 residual { dense 32 [he_init, batchnorm, relu], dense 32 [he_init, batchnorm] } relu,
        dense 32 [he_init, batchnorm, relu],
        dense 10,
    }
}

#[test]
fn the_classic_failure_vanishes_and_the_cures_train() {
    let data = load_digits().unwrap();
    let b = budget(15);
    let failure = run("sigmoid + small_normal", SigmoidSmall::new_boxed, &data, &b).unwrap();
    let ratio = failure.first.first_to_last_ratio().unwrap();
    assert!(ratio < 1e-4, "first/last gradient ratio {ratio:e}");
    assert!(
        failure.test_accuracy() < 0.2,
        "near chance: {}",
        failure.test_accuracy()
    );
    assert!(failure.first.verdict().vanishing());
    for o in [
        run("relu + he", ReluHe::new_boxed, &data, &b).unwrap(),
        run("residual", Residual::new_boxed, &data, &b).unwrap(),
    ] {
        assert!(o.test_accuracy() > 0.9, "{}: {}", o.name, o.test_accuracy());
    }
    let table = study::summary_table(std::slice::from_ref(&failure));
    assert!(table.contains("sigmoid + small_normal"), "{table}");
}

/// The report replaces the folder whole: nothing of an earlier report stays, and no staging
/// folder is left beside it. A run whose last step is refused before its gradient (a learning
/// rate that makes the loss overflow) has no last report, and the table says `-` for it.
#[test]
fn the_report_replaces_the_folder_and_a_refused_last_step_shows_as_missing() {
    let data = load_digits().unwrap();
    let diverging = Budget {
        lr: 1e30,
        ..budget(1)
    };
    let o = run("diverging", ReluHe::new_boxed, &data, &diverging).unwrap();
    assert!(o.last.is_none(), "{:?}", o.history.refused.last());
    assert_eq!((o.last_ratio(), o.dead()), (None, None));
    let table = study::summary_table(std::slice::from_ref(&o));
    let row = table.lines().nth(1).unwrap();
    assert_eq!(
        row.split_whitespace().filter(|&c| c == "-").count(),
        3,
        "{row}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path();
    let dir = parent.join("report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stale.txt"), "from an earlier run").unwrap();
    study::write_report(&dir, "test", std::slice::from_ref(&o), &table).unwrap();
    assert!(dir.join("index.html").exists());
    assert!(!dir.join("stale.txt").exists());
    let entries: Vec<_> = std::fs::read_dir(parent).unwrap().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // A report that cannot replace what is there (a file of that name) fails, leaving the
    // file as it was and no staging folder beside it.
    let blocked = parent.join("blocked");
    std::fs::write(&blocked, "not a folder").unwrap();
    let err = study::write_report(&blocked, "test", std::slice::from_ref(&o), &table).unwrap_err();
    assert!(err.to_string().contains("blocked"), "{err}");
    assert_eq!(std::fs::read_to_string(&blocked).unwrap(), "not a folder");
    let mut names: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blocked", "report"]);

    // Reports written to one folder at once (two runs of the same settings) all succeed, and
    // leave one whole report and nothing else: removing the old report in place, a second
    // writer's folder arriving in between made the rename fail with "Directory not empty".
    let shared = parent.join("shared");
    std::thread::scope(|s| {
        for k in 0..4 {
            let (shared, o, table) = (&shared, &o, &table);
            s.spawn(move || {
                for round in 0..5 {
                    let title = format!("writer {k} round {round}");
                    study::write_report(shared, &title, std::slice::from_ref(o), table).unwrap();
                }
            });
        }
    });
    let index = std::fs::read_to_string(shared.join("index.html")).unwrap();
    assert!(index.contains("round 4"), "{index}");
    let mut names: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blocked", "report", "shared"]);

    // What a run killed while writing leaves (staging and set-aside folders of this name) is
    // removed once it last changed longer ago than the limit; another report's is not this
    // one's to remove.
    let leftover = |name: &str| {
        let path = parent.join(name);
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("index.html"), "half").unwrap();
    };
    leftover("shared.partial-Ab12Cd");
    leftover("shared.old-Ef34Gh");
    leftover("report.partial-Ij56Kl");
    let names = || {
        let mut names: Vec<_> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    // Younger than an hour: kept, as a live run's would be.
    study::write_report(&shared, "again", std::slice::from_ref(&o), &table).unwrap();
    assert_eq!(names().len(), 6, "{:?}", names());
    std::thread::sleep(std::time::Duration::from_millis(20));
    study::remove_abandoned(parent, "shared", std::time::Duration::from_millis(10));
    // (Set-aside folders are judged by the status-change time, which only Unix has.)
    let mut expected = vec!["blocked", "report", "report.partial-Ij56Kl", "shared"];
    if !cfg!(unix) {
        expected.push("shared.old-Ef34Gh");
    }
    assert_eq!(names(), expected);
    // A live run's set-aside folder is the previous report renamed: its modification time
    // is that report's, however old, but the rename makes it a change of now, so it stays.
    let previous = parent.join("previous");
    leftover("previous");
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    std::fs::File::open(&previous)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let aside = parent.join("shared.old-Mn78Op");
    std::fs::rename(&previous, &aside).unwrap();
    study::write_report(&shared, "once more", std::slice::from_ref(&o), &table).unwrap();
    assert!(aside.join("index.html").exists(), "{:?}", names());
}

/// A run that refused most of its steps is blamed on the learning rate, whatever else its
/// diagnosis says (at `--lr 5` a ReLU network refused 129 of 132); half or fewer is not. A
/// last epoch that accepted no step reads `-` for its loss, not NaN.
#[test]
fn a_run_that_refused_most_steps_is_blamed_on_the_learning_rate() {
    use gradflow::nn::train::{History, Refusal};
    let history = |steps: usize, refused: usize| History {
        steps,
        refused: (0..refused).map(|s| (s, Refusal::NonFiniteLoss)).collect(),
        ..History::default()
    };
    let line = study::mostly_refused(&history(132, 129)).expect("blamed");
    assert!(
        line.starts_with("129 of 132 steps were refused") && line.contains("(`--lr`)"),
        "{line}"
    );
    assert_eq!(study::mostly_refused(&history(132, 66)), None);
    assert_eq!(study::mostly_refused(&history(0, 0)), None);
    assert_eq!(study::fmt_loss(f64::NAN), "-");
    assert_eq!(study::fmt_loss(2.30261), "2.3026");
}

/// A run whose last steps were all refused diverged, however few they were beside the
/// accepted ones: the learning rate is blamed. Refusals that stop before the end, or a single
/// refused last step, are not a divergence.
#[test]
fn a_run_refused_to_the_end_diverged() {
    use gradflow::nn::train::{History, Refusal};
    let history = |steps: usize, refused: &[usize]| History {
        steps,
        refused: refused
            .iter()
            .map(|&s| (s, Refusal::NonFiniteLoss))
            .collect(),
        ..History::default()
    };
    // `--lr 0.05`: steps 955-1319 of 1320 refused.
    let line = study::diverged(&history(1320, &(955..1320).collect::<Vec<_>>())).expect("diverged");
    assert!(
        line.starts_with("every step from step 955 to the last (365 steps) was refused")
            && line.contains("(`--lr`)"),
        "{line}"
    );
    assert!(study::mostly_refused(&history(1320, &(955..1320).collect::<Vec<_>>())).is_none());
    assert_eq!(study::diverged(&history(1320, &[10, 11, 12])), None);
    assert_eq!(study::diverged(&history(1320, &[1319])), None);
    assert!(study::diverged(&history(1320, &[3, 1318, 1319])).is_some());
    assert_eq!(study::diverged(&history(0, &[])), None);
    // Batches holding a NaN are the data's fault, not a divergence.
    let bad_data = History {
        steps: 10,
        refused: (5..10).map(|s| (s, Refusal::NonFiniteInput)).collect(),
        ..History::default()
    };
    assert_eq!(study::diverged(&bad_data), None);
}

/// A learning rate too small to move the weights (`--lr 1e-30`: f32 weights stay bit for bit
/// as initialized) is named from the last step's update ratios; a real step is not.
#[test]
fn a_run_whose_updates_do_not_move_the_weights_is_blamed_on_the_learning_rate() {
    use gradflow::nn::diagnostics::{snapshot, GradientReport};
    network! { struct Small<f32> { input 4, dense 8 [he_init, relu], dense 3 } }
    let after_one_step = |lr: f64| {
        let mut net = Small::new(&mut gradflow::rng(5));
        let mut cache = SmallCache::<4>::zeroed();
        let mut grads = SmallGrads::zeroed();
        let mut dy = [[0.0f32; 3]; 4];
        let x = [
            [0.1, 0.9, -0.3, 0.4],
            [0.5, -0.2, 0.8, 0.0],
            [-0.7, 0.3, 0.2, 0.6],
            [0.0, 0.1, -0.9, 0.2],
        ];
        let logits = net.forward_train(&x, &mut cache);
        softmax_cross_entropy(logits, &[0, 1, 2, 1], &mut dy).unwrap();
        net.backward(&mut cache, &dy, &mut grads);
        let mut report = GradientReport::capture::<f32, Small, 4>(7, &mut net, &cache, &grads);
        let before = snapshot(&mut net, &grads);
        assert!(
            Sgd::new(SgdConfig::new(lr))
                .unwrap()
                .step(&mut net, &grads)
                .applied
        );
        report.record_update(&before, &mut net, &grads);
        report
    };
    let line = study::stalled(&after_one_step(1e-30)).expect("stalled");
    // The update is measured as the optimizer's step over the weights: about 1e-31 here.
    let largest: f64 = line
        .split("more than ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(largest < 1e-25, "{line}");
    assert!(
        line.contains("too small") && line.contains("(`--lr`)"),
        "{line}"
    );
    assert_eq!(study::stalled(&after_one_step(0.1)), None);
    // Gradients at a minimum (a fitted batch) move nothing at any rate: not the rate's fault.
    let mut fitted = after_one_step(1e-30);
    fitted.layers.iter_mut().for_each(|l| l.grad_norm *= 1e-12);
    assert_eq!(study::stalled(&fitted), None, "{}", fitted.verdict());
    // Without a recorded update there is nothing to judge.
    let mut unrecorded = after_one_step(0.1);
    unrecorded
        .layers
        .iter_mut()
        .for_each(|l| l.update_ratio = None);
    assert_eq!(study::stalled(&unrecorded), None);
}

/// Healthy gradients and a failed run: a test accuracy that fell from its best of the last
/// five epochs is instability (seed 2's ReLU + He fell from 0.964 to 0.900 with a low
/// epoch-mean loss), a training set fitted is a generalization gap, neither is `None`.
#[test]
fn the_last_epochs_tell_instability_from_a_generalization_gap() {
    use gradflow::nn::train::{EpochRecord, History};
    let history = |rows: &[(f64, f64)]| History {
        epochs: rows
            .iter()
            .enumerate()
            .map(|(k, &(train_accuracy, test_accuracy))| EpochRecord {
                epoch: k + 1,
                train_loss: 0.1,
                train_accuracy,
                test_accuracy,
                seconds: 0.0,
            })
            .collect(),
        ..History::default()
    };
    let swing = history(&[
        (0.99, 0.95),
        (0.994, 0.964),
        (0.97, 0.93),
        (0.974, 0.922),
        (0.958, 0.900),
    ]);
    let line = study::last_epochs(&swing).expect("unstable");
    assert!(
        line.starts_with("its test accuracy fell from 0.9640 after epoch 2 to 0.9000")
            && line.contains("lower learning rate"),
        "{line}"
    );
    let fitted = history(&[(0.995, 0.87), (0.999, 0.88), (1.0, 0.875)]);
    let line = study::last_epochs(&fitted).expect("generalization");
    assert!(
        line.contains("train accuracy 1.0000") && line.contains("generalization"),
        "{line}"
    );
    assert_eq!(
        study::last_epochs(&history(&[(0.8, 0.7), (0.85, 0.8)])),
        None
    );
    // The drop is judged within the last five epochs only: an early best does not count.
    let early = history(&[
        (0.9, 0.95),
        (0.8, 0.8),
        (0.8, 0.8),
        (0.8, 0.8),
        (0.8, 0.8),
        (0.8, 0.8),
    ]);
    assert_eq!(study::last_epochs(&early), None);
    // Three points are three points, though 0.95 - 0.92 rounds below 0.03.
    let three = history(&[(0.97, 0.95), (0.96, 0.92)]);
    assert!(study::last_epochs(&three).is_some_and(|l| l.contains("fell from 0.9500")));
    // Without a test set there is no gap to call generalization.
    assert_eq!(study::last_epochs(&history(&[(1.0, f64::NAN)])), None);
    assert_eq!(study::last_epochs(&History::default()), None);
}

/// An argument that is not UTF-8 is a usage error naming it (`std::env::args` panicked on
/// it); text arguments pass through in order.
#[cfg(unix)]
#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let line = [
        OsString::from("--seed"),
        OsString::from_vec(b"4\xff2".to_vec()),
    ];
    let err = args::utf8_args(line).unwrap_err();
    assert!(
        err.starts_with("argument \"4\\xFF2\" is not valid UTF-8\nusage: vanishing_gradients"),
        "{err}"
    );
    let text = args::utf8_args(["--seed", "7"].map(OsString::from)).unwrap();
    assert_eq!(text, ["--seed", "7"]);
}

/// The command line: defaults, every flag, and each malformed line refused with a message
/// saying what is allowed, before any data is read.
#[test]
fn the_study_command_line_is_checked_before_the_run() {
    use args::{parse_args, Command};
    let parse = |line: &[&str]| parse_args(line.iter().map(|s| s.to_string()));
    let Ok(Command::Run(a)) = parse(&[]) else {
        panic!("no arguments")
    };
    assert_eq!(
        (a.depth, a.width, a.paper, a.lr_given),
        (20, 64, None, false)
    );
    assert_eq!(
        (a.budget.epochs, a.budget.seed, a.budget.lr),
        (30, 42, 0.005)
    );
    let Ok(Command::Run(a)) = parse(&[
        "--depth", "30", "--width", "32", "--epochs", "7", "--seed", "9", "--lr", "1e-3",
    ]) else {
        panic!("every flag")
    };
    assert_eq!((a.depth, a.width, a.lr_given), (30, 32, true));
    assert_eq!((a.budget.epochs, a.budget.seed, a.budget.lr), (7, 9, 1e-3));
    let Ok(Command::Run(a)) = parse(&["--paper", "cnn", "--seed", "3"]) else {
        panic!("a paper")
    };
    assert_eq!(a.paper.as_deref(), Some("cnn"));
    assert!(matches!(
        parse(&["--seed", "1", "--help"]),
        Ok(Command::Help)
    ));
    assert!(args::USAGE.contains("defaults: --depth 20 --width 64 --epochs 30"));

    for (line, message) in [
        (
            &["--depth", "15"][..],
            "--depth: `15` is not a depth built in: 10, 20 or 30",
        ),
        (
            &["--depth", "-10"][..],
            "--depth: `-10` is not a depth built in",
        ),
        (
            &["--width", "128"][..],
            "--width: `128` is not a width built in: 32 or 64",
        ),
        (
            &["--epochs", "0"][..],
            "--epochs: `0` is not a whole number from 1 to 100000",
        ),
        (
            &["--epochs", "-1"][..],
            "--epochs: `-1` is not a whole number from 1 to 100000",
        ),
        (
            &["--epochs", "1.5"][..],
            "--epochs: `1.5` is not a whole number",
        ),
        (&["--epochs", "100001"][..], "--epochs: `100001` is not"),
        (
            &["--seed", "x"][..],
            "--seed: `x` is not a whole number from 0 to 18446744073709551615",
        ),
        (&["--lr", "0"][..], "--lr: `0` is not a positive number"),
        (
            &["--lr", "1e39"][..],
            "--lr: `1e39` is not a positive number",
        ),
        (&["--lr", "NaN"][..], "--lr: `NaN` is not a positive number"),
        (&["--paper", "lecun1998"][..], "unknown paper `lecun1998`"),
        (
            &["--paper", "cnn", "--depth", "10"][..],
            "--depth and --width size the study's networks",
        ),
        (&["--seed", "+5"][..], "--seed: `+5` is not a whole number"),
        (&["--seed", "1", "--seed", "2"][..], "--seed is given twice"),
        (&["--seed"][..], "--seed needs a value"),
        (&["--epoch", "3"][..], "unknown flag --epoch"),
    ] {
        let error = parse(line).expect_err(&format!("{line:?} accepted"));
        assert!(error.starts_with(message), "{line:?}: {error}");
        assert!(error.ends_with(args::USAGE), "{line:?}: {error}");
    }
}

#[test]
fn he2015_forward_and_backward_factors_follow_the_theory() {
    let data = load_digits().unwrap();
    let seed = 42;
    let xavier = papers::depth_profile(ReluXavier::new_boxed, &data.0, seed).unwrap();
    let he = papers::depth_profile(ReluHe::new_boxed, &data.0, seed).unwrap();
    assert_eq!(xavier.forward_std.len(), 10);
    // Theory: 1/sqrt(2) per layer under Xavier with ReLU, 1 under He.
    let (fx, bx) = (xavier.forward_factor(), xavier.backward_factor());
    let (fh, bh) = (he.forward_factor(), he.backward_factor());
    assert!(
        (0.6..0.8).contains(&fx) && (0.6..0.8).contains(&bx),
        "Xavier {fx} {bx}"
    );
    assert!(
        (0.85..1.2).contains(&fh) && (0.85..1.2).contains(&bh),
        "He {fh} {bh}"
    );
}

network! {
    struct GlorotSigmoid<f32> { input 64, repeat 4 { dense 32 [standard_init, sigmoid] }, dense 10 }
}
network! {
    struct GlorotTanhStandard<f32> { input 64, repeat 4 { dense 32 [standard_init, tanh] }, dense 10 }
}
network! {
    struct GlorotTanhXavier<f32> { input 64, repeat 4 { dense 32 [xavier_uniform, tanh] }, dense 10 }
}

#[test]
fn glorot2010_top_layer_saturates_and_normalized_init_keeps_the_spread() {
    let data = load_digits().unwrap();
    let b = Budget {
        lr: 0.05,
        ..budget(8)
    };
    let r = papers::glorot2010(
        GlorotSigmoid::new_boxed,
        GlorotTanhStandard::new_boxed,
        GlorotTanhXavier::new_boxed,
        &data,
        &b,
    )
    .unwrap();
    let (top, below) = r.top_layer_drop();
    assert!(
        top < 0.35 && below > 0.4 && r.top_layer_saturates(),
        "top {top}, below {below}\n{}",
        r.report()
    );
    assert!(r
        .report()
        .contains("the top hidden layer is driven toward 0"));
    // A run too short to show it says so, rather than printing the paper's conclusion.
    let short = Budget {
        lr: 0.0001,
        ..budget(1)
    };
    let r0 = papers::glorot2010(
        GlorotSigmoid::new_boxed,
        GlorotTanhStandard::new_boxed,
        GlorotTanhXavier::new_boxed,
        &data,
        &short,
    )
    .unwrap();
    assert!(!r0.top_layer_saturates(), "{}", r0.report());
    let report = r0.report();
    assert!(
        report.contains("this run does not show the top hidden layer driven toward 0")
            && !report.contains("is driven toward 0"),
        "{report}"
    );
    // Standard init: the spread shrinks with depth (activations going up, gradients going
    // down); normalized init keeps it far more level.
    assert!(
        r.standard.activation_ratio() < 0.5 * r.normalized.activation_ratio(),
        "{}",
        r.report()
    );
    assert!(
        r.standard.gradient_ratio() < 0.5 * r.normalized.gradient_ratio(),
        "{}",
        r.report()
    );
}

network! {
    struct IoffePlain<f32> { input 64, repeat 3 { dense 32 [xavier_normal, sigmoid] }, dense 10 }
}
network! {
    struct IoffeBn<f32> { input 64, repeat 3 { dense 32 [xavier_normal, batchnorm, sigmoid] }, dense 10 }
}

#[test]
fn ioffe2015_batchnorm_steadies_the_sigmoid_input_and_trains_faster() {
    let data = load_digits().unwrap();
    let b = Budget {
        lr: 0.05,
        ..budget(8)
    };
    let r = papers::ioffe2015(IoffePlain::new_boxed, IoffeBn::new_boxed, &data, &b).unwrap();
    let (plain, bn) = (r.plain.1.drift(), r.normalized.1.drift());
    assert!(
        plain > bn,
        "drift without batchnorm {plain}, with {bn}\n{}",
        r.report()
    );
    assert!(
        r.normalized.0.test_accuracy() > r.plain.0.test_accuracy() + 0.1,
        "{}",
        r.report()
    );
}

network! {
    struct Plain8<f32> { input 64, repeat 8 { dense 32 [he_init, batchnorm, relu] }, dense 10 }
}
network! {
    struct Plain40<f32> { input 64, repeat 40 { dense 32 [he_init, batchnorm, relu] }, dense 10 }
}
network! {
    struct Residual40<f32> {
        input 64,
        dense 32 [he_init, batchnorm, relu],
        repeat 19 residual { dense 32 [he_init, batchnorm, relu], dense 32 [he_init, batchnorm] } relu,
        dense 32 [he_init, batchnorm, relu],
        dense 10,
    }
}

#[test]
fn he2016_deeper_plain_network_trains_worse_and_its_residual_version_does_not() {
    let data = load_digits().unwrap();
    let names = ["plain 8", "plain 40", "residual 40"];
    let r = papers::he2016(
        Plain8::new_boxed,
        Plain40::new_boxed,
        Residual40::new_boxed,
        names,
        &data,
        &budget(8),
    )
    .unwrap();
    assert!(r.degrades(), "{}", r.report());
    // At initialization the deep plain network's bottom gradients are far larger than its top
    // ones (batchnorm without skips), and the report quotes the verdict that says so.
    let report = r.report();
    assert!(
        report.contains("the explosion batchnorm causes in deep networks without skips")
            && (report.contains("`exploding gradients: layers 0-")
                || report.contains("`gradients grow toward the input")),
        "{report}"
    );
    // Then the paper's reading (healthy gradients, an optimization difficulty) is not claimed
    // for this run; its difference from the paper is said instead.
    assert!(
        report.contains("Unlike in the paper") && !report.contains("As the paper says"),
        "{report}"
    );
    // Nothing trained (lr 1e-4, one epoch): no ordering, and no conclusion, is read into the
    // noise between three losses near chance.
    let short = Budget {
        lr: 0.0001,
        ..budget(1)
    };
    let r0 = papers::he2016(
        Plain8::new_boxed,
        Plain40::new_boxed,
        Residual40::new_boxed,
        names,
        &data,
        &short,
    )
    .unwrap();
    let report = r0.report();
    assert!(!r0.trained() && !r0.degrades(), "{report}");
    assert!(
        report.contains("did not train")
            && !report.contains("not the size of its gradients")
            && !report.contains("As the paper says")
            && !report.contains("Unlike in the paper"),
        "{report}"
    );
}

network! {
    struct RawTanh<f32> { input 30, dense 16 [xavier_init, tanh], dense 2 }
}
network! {
    struct ScaledTanh<f32> { input 30, standardize, dense 16 [xavier_init, tanh], dense 2 }
}

fn fit_standardizer(net: &mut ScaledTanh, train: &gradflow::data::Dataset<30>) {
    net.standardize_0.fit(&train.features);
}

#[test]
fn standardized_inputs_beat_raw_ones_on_breast_cancer() {
    let data = load_breast_cancer().unwrap();
    let r = papers::input_scale(
        RawTanh::new_boxed,
        ScaledTanh::new_boxed,
        fit_standardizer,
        &data,
        &budget(15),
    )
    .unwrap();
    assert!(papers::first_saturation(&r.raw) > 0.5, "{}", r.report());
    assert!(
        papers::first_saturation(&r.standardized) < 0.1,
        "{}",
        r.report()
    );
    assert!(
        r.standardized.test_accuracy() > r.raw.test_accuracy() + 0.1,
        "{}",
        r.report()
    );
}

network! {
    struct PlainCnn<f32> {
        input [8, 8, 1],
        repeat 7 { conv2d 8 k3 same [he_init, batchnorm, relu] },
        global_avg_pool,
        dense 10,
    }
}
network! {
    struct ResidualCnn<f32> {
        input [8, 8, 1],
        conv2d 8 k3 same [he_init, batchnorm, relu],
        repeat 3 residual { conv2d 8 k3 same [he_init, batchnorm, relu], conv2d 8 k3 same [he_init, batchnorm] } relu,
        global_avg_pool,
        dense 10,
    }
}

#[test]
fn the_convolutional_variant_trains_both_and_the_residual_one_no_worse() {
    let images = study::load_digit_images().unwrap();
    assert_eq!(images.0 .0.len(), 1438);
    let names = ["plain CNN", "residual CNN"];
    let r = papers::conv_depth(
        PlainCnn::new_boxed,
        ResidualCnn::new_boxed,
        names,
        &images,
        &Budget {
            lr: 0.02,
            ..budget(6)
        },
    )
    .unwrap();
    assert!(r.residual.test_accuracy() > 0.7, "{}", r.report());
    assert!(
        r.residual.final_loss() < r.plain.final_loss() * 1.2,
        "{}",
        r.report()
    );
    assert!(r.report().contains("residual CNN"));
}
