//! Reduced-size runs of the vanishing-gradient study and its reproductions
//! (`examples/vanishing_gradients`), asserting the qualitative results on real data.

#[allow(dead_code)]
#[path = "../examples/vanishing_gradients/study.rs"]
mod study;

#[allow(dead_code)]
#[path = "../examples/vanishing_gradients/papers/mod.rs"]
mod papers;

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
        .contains("the top hidden layer is driven toward 0, the sigmoid's flat lower tail"));
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
        report.contains("did not train") && !report.contains("not the size of its gradients"),
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
