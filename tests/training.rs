//! Whole-network behaviour: training reduces the loss, construction is reproducible,
//! and large networks never touch the stack.

use gradflow::prelude::*;

network! {
    struct Xor<f32> {
        input 2,
        dense 16 [he_init, relu],
        dense 2,
    }
}

network! {
    /// The W4 network: 2.6 MiB of f32 parameters.
    struct Wide<f32> {
        input 784,
        dense 512 [he_init, relu],
        dense 512 [he_init, relu],
        dense 10,
    }
}

#[test]
fn xor_batch_is_learned_below_a_stated_loss() {
    let x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let labels = [0, 1, 1, 0];
    let mut net = Xor::new(&mut gradflow::rng(7));
    let mut cache = XorCache::<4>::zeroed();
    let mut grads = XorGrads::zeroed();
    let mut sgd = Sgd::new(SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let mut dy = [[0.0; 2]; 4];
    let mut first = None;
    let mut loss = f32::NAN;
    for _ in 0..300 {
        grads.zero();
        let y = net.forward_train(&x, &mut cache);
        loss = softmax_cross_entropy(y, &labels, &mut dy).unwrap();
        first.get_or_insert(loss);
        net.backward(&mut cache, &dy, &mut grads);
        assert!(sgd.step(&mut net, &grads).applied);
    }
    assert!(loss < 0.05, "loss {loss} (started at {first:?})");
    assert_eq!(net.predict(&x), labels);
}

#[test]
fn same_seed_builds_the_same_network() {
    let a = Xor::new(&mut gradflow::rng(3));
    let b = Xor::new(&mut gradflow::rng(3));
    let c = Xor::new(&mut gradflow::rng(4));
    assert_eq!(a.dense_0.weight, b.dense_0.weight);
    assert_ne!(a.dense_0.weight, c.dense_0.weight);
    // ChaCha8 is portable: this value is the same on every platform.
    let first = a.dense_0.weight[0][0];
    assert!(first.is_finite() && first != 0.0);
}

/// Runs `f` on a thread with a 2 MiB stack (a rayon worker's), which a network built on the
/// stack would overflow.
fn on_a_two_mib_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow")
}

#[test]
fn wide_network_builds_and_trains_on_a_two_mib_stack() {
    let (loss, params) = on_a_two_mib_stack(|| {
        let mut net = Wide::new_boxed(&mut gradflow::rng(1));
        let mut cache = WideCache::<64>::new_boxed();
        let mut grads = WideGrads::new_boxed();
        let mut sgd = Sgd::new_boxed(SgdConfig::new(0.01).momentum(0.9)).unwrap();
        let mut x = gradflow::nn::memory::zeroed_box::<[[f32; 784]; 64]>();
        for (i, v) in x.as_flattened_mut().iter_mut().enumerate() {
            *v = (i % 7) as f32 / 7.0;
        }
        let labels: [usize; 64] = core::array::from_fn(|i| i % 10);
        let mut dy = gradflow::nn::memory::zeroed_box::<[[f32; 10]; 64]>();
        let logits = net.forward_train(&x, &mut cache);
        let loss = softmax_cross_entropy(logits, &labels, &mut dy).unwrap();
        net.backward(&mut cache, &dy, &mut grads);
        assert!(sgd.step(&mut *net, &grads).applied);
        (loss, Wide::PARAM_COUNT)
    });
    assert!(loss.is_finite());
    assert_eq!(params, 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10);
}

network! {
    /// Batch normalization over 131072 features: 2 MiB of `f32` per tensor set of four.
    struct WideBatchNorm<f32> {
        input 2,
        dense 131072 [batchnorm, relu],
        dense 2,
    }
}

network! {
    /// Standardization of 131072 inputs: 1 MiB of means and standard deviations.
    struct WideStandardize<f32> {
        input 131072,
        standardize,
        dense 2,
    }
}

/// `new_boxed` builds layers in place: batch normalization and standardization once reset
/// themselves by building a whole new layer on the stack, which overflowed it here.
#[test]
fn wide_batchnorm_and_standardize_layers_build_and_reset_on_a_two_mib_stack() {
    let (gamma, var, std) = on_a_two_mib_stack(|| {
        let mut bn = WideBatchNorm::new_boxed(&mut gradflow::rng(1));
        bn.batchnorm_0.gamma[7] = 3.0;
        bn.batchnorm_0.reset();
        let mut st = WideStandardize::new_boxed(&mut gradflow::rng(1));
        let samples: Vec<[f32; 131072]> = (0..3)
            .map(|i| core::array::from_fn(|j| (i * j % 5) as f32))
            .collect();
        st.standardize_0.fit(&samples);
        (
            bn.batchnorm_0.gamma[7],
            bn.batchnorm_0.running_var[9],
            st.standardize_0.std[3],
        )
    });
    assert_eq!((gamma, var), (1.0, 1.0));
    // Feature 3 over samples 0, 1, 2: values 0, 3, 1, population std sqrt(14/9).
    assert!((std - (14.0f32 / 9.0).sqrt()).abs() < 1e-6, "{std}");
}

/// An optimizer made by `const_zeroed` (a `static` on a device without a heap) has every
/// setting 0: `fit` refuses to start with it, naming the setting, instead of running steps
/// that are all refused (or, for Adam, that divided 0 by 0).
#[test]
fn fit_refuses_an_optimizer_that_was_never_configured() {
    use gradflow::nn::train::{fit, Samples, TrainConfig, TrainError};
    let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let labels = [0, 1, 1, 0];
    let mut net = Xor::new(&mut gradflow::rng(7));
    let before = net.dense_0.weight;
    let mut adam: Adam<XorGrads> = gradflow::nn::memory::const_zeroed();
    let config = TrainConfig {
        epochs: 1,
        progress: false,
        ..Default::default()
    };
    let samples = Samples::new(&x, &labels);
    let err = fit::<f32, _, _, 2>(&mut net, &mut adam, samples, samples, &config).unwrap_err();
    assert!(
        matches!(err, TrainError::Optimizer(ref e) if e.name == "lr"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`lr` = 0 is invalid"), "{err}");
    assert_eq!(net.dense_0.weight, before);
    adam.configure(AdamConfig::new(0.01)).unwrap();
    let history = fit::<f32, _, _, 2>(&mut net, &mut adam, samples, samples, &config).unwrap();
    assert_eq!((history.steps, history.refused.len()), (2, 0));
    // More steps than a usize counts: an error, not an overflow.
    let endless = TrainConfig {
        epochs: usize::MAX,
        ..config
    };
    let err = fit::<f32, _, _, 2>(&mut net, &mut adam, samples, samples, &endless).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::TooManyEpochs {
                epochs: usize::MAX,
                steps_per_epoch: 2
            }
        ),
        "{err:?}"
    );
}

network! {
    /// Nothing to train: the only weighted layer is frozen.
    struct FrozenXor<f32> {
        input 2,
        dense 2 [frozen],
    }
}

/// A run that could change nothing is an error, not an `Ok` history of steps that did
/// nothing: no epochs, or no trainable parameter.
#[test]
fn fit_refuses_a_run_that_trains_nothing() {
    use gradflow::nn::train::{fit, Samples, TrainConfig, TrainError};
    let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let labels = [0, 1, 1, 0];
    let samples = Samples::new(&x, &labels);
    let config = TrainConfig {
        epochs: 0,
        progress: false,
        ..Default::default()
    };
    let mut net = Xor::new(&mut gradflow::rng(7));
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let err = fit::<f32, _, _, 2>(&mut net, &mut sgd, samples, samples, &config).unwrap_err();
    assert_eq!(err, TrainError::NoEpochs);
    assert!(err.to_string().contains("`epochs` is 0"), "{err}");
    let config = TrainConfig {
        epochs: 1,
        ..config
    };
    let mut frozen = FrozenXor::new(&mut gradflow::rng(7));
    let before = frozen.dense_0.weight;
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let err = fit::<f32, _, _, 2>(&mut frozen, &mut sgd, samples, samples, &config).unwrap_err();
    assert_eq!(err, TrainError::NothingToTrain);
    assert!(err.to_string().contains("no trainable parameters"), "{err}");
    assert_eq!(frozen.dense_0.weight, before);
    // The same data and settings train the unfrozen network.
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let history = fit::<f32, _, _, 2>(&mut net, &mut sgd, samples, samples, &config).unwrap();
    assert_eq!((history.steps, history.refused.len()), (2, 0));
}

/// A run whose every step is refused returns `Ok`, as the README says: the parameters are
/// unchanged and `History::refused` lists each step with its reason.
#[test]
fn a_run_that_refuses_every_step_leaves_the_parameters_and_says_why() {
    use gradflow::nn::train::{fit, Refusal, Samples, TrainConfig};
    let nan = [[f32::NAN, 0.5]; 8];
    let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let (labels, test_labels) = ([0, 1, 1, 0, 0, 1, 1, 0], [0, 1, 1, 0]);
    let config = TrainConfig {
        epochs: 3,
        progress: false,
        ..Default::default()
    };
    let mut net = Xor::new(&mut gradflow::rng(7));
    let before = gradflow::weights::to_bytes(&net).unwrap();
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let (train, test) = (Samples::new(&nan, &labels), Samples::new(&x, &test_labels));
    let history = fit::<f32, _, _, 4>(&mut net, &mut sgd, train, test, &config).unwrap();
    assert_eq!(history.steps, 6);
    assert_eq!(
        history.refused,
        (0..6)
            .map(|s| (s, Refusal::NonFiniteInput))
            .collect::<Vec<_>>()
    );
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
    // A weight decay of 1e30 with a learning rate small enough to keep it stable (below
    // 2 / 1e30) passes the optimizer's checks; every step's decay term is then too large
    // for f32's gradient norm, and refused.
    let mut decayed = Sgd::new(SgdConfig::new(1e-31).weight_decay(1e30)).unwrap();
    let train = Samples::new(&x, &test_labels);
    let history = fit::<f32, _, _, 2>(&mut net, &mut decayed, train, train, &config).unwrap();
    assert_eq!(history.refused.len(), history.steps);
    assert!(history
        .refused
        .iter()
        .all(|&(_, r)| r == Refusal::GradientTooLarge));
    assert_eq!(gradflow::weights::to_bytes(&net).unwrap(), before);
}

/// A batch of 0 samples is refused as such: no number of samples is too few to fill it, so
/// "4 training samples cannot fill one batch of 0" would name the wrong problem; a batch
/// larger than the data still says that.
#[test]
fn fit_refuses_a_batch_of_zero_by_its_own_name() {
    use gradflow::nn::train::{fit, Samples, TrainConfig, TrainError};
    let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let labels = [0, 1, 1, 0];
    let samples = Samples::new(&x, &labels);
    let config = TrainConfig {
        epochs: 1,
        progress: false,
        ..Default::default()
    };
    let mut net = Xor::new(&mut gradflow::rng(7));
    let before = net.dense_0.weight;
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    let err = fit::<f32, _, _, 0>(&mut net, &mut sgd, samples, samples, &config).unwrap_err();
    assert_eq!(err, TrainError::ZeroBatch);
    assert!(err.to_string().contains("a batch of 0 samples"), "{err}");
    assert!(!err.to_string().contains("cannot fill"), "{err}");
    assert_eq!(net.dense_0.weight, before);
    let err = fit::<f32, _, _, 8>(&mut net, &mut sgd, samples, samples, &config).unwrap_err();
    assert_eq!(
        err,
        TrainError::TooFewSamples {
            samples: 4,
            batch: 8
        }
    );
    assert_eq!(
        err.to_string(),
        "4 training samples cannot fill one batch of 8"
    );
}

network! {
    struct BnXor<f32> {
        input 2,
        dense 8 [he_init, batchnorm, relu],
        dense 2,
    }
}

/// A batchnorm setting set by hand outside what it admits (a momentum of 2, or an `eps` of
/// 0) is refused before the first step, naming the
/// setting: trained with it, the running variance went negative (momentum 2: -0.86), which
/// inference turns into NaN and saving refuses, after an `Ok` run.
#[test]
fn fit_refuses_a_batchnorm_setting_outside_its_range() {
    use gradflow::nn::train::{fit, Samples, TrainConfig, TrainError};
    let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let labels = [0, 1, 1, 0];
    let samples = Samples::new(&x, &labels);
    let config = TrainConfig {
        epochs: 2,
        progress: false,
        ..Default::default()
    };
    /// How to spoil the network, the setting it spoils, its value, what the error requires.
    type Case = (fn(&mut BnXor), &'static str, f64, &'static str);
    let cases: [Case; 5] = [
        (
            |n| n.batchnorm_0.momentum = 2.0,
            "momentum",
            2.0,
            "between 0 and 1",
        ),
        (
            |n| n.batchnorm_0.momentum = -0.5,
            "momentum",
            -0.5,
            "between 0 and 1",
        ),
        (
            |n| n.batchnorm_0.momentum = f32::NAN,
            "momentum",
            f64::NAN,
            "between 0 and 1",
        ),
        (|n| n.batchnorm_0.eps = 0.0, "eps", 0.0, "positive"),
        (
            |n| n.batchnorm_0.eps = f32::INFINITY,
            "eps",
            f64::INFINITY,
            "positive",
        ),
    ];
    for (set, setting, value, requirement) in cases {
        let mut net = BnXor::new(&mut gradflow::rng(7));
        set(&mut net);
        let before = (net.dense_0.weight, net.batchnorm_0.running_var);
        let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
        let err = fit::<f32, _, _, 2>(&mut net, &mut sgd, samples, samples, &config).unwrap_err();
        let TrainError::Setting {
            name, value: got, ..
        } = &err
        else {
            panic!("{setting} = {value}: {err:?}");
        };
        assert_eq!(name, &format!("batchnorm_0.{setting}"));
        assert!(got == &value || (got.is_nan() && value.is_nan()), "{got}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("setting `batchnorm_0.{setting}` is ")),
            "{text}"
        );
        assert!(text.contains(requirement), "{text}");
        assert_eq!((net.dense_0.weight, net.batchnorm_0.running_var), before);
    }
    // The bounds themselves train.
    for momentum in [0.0, 1.0] {
        let mut net = BnXor::new(&mut gradflow::rng(7));
        net.batchnorm_0.momentum = momentum;
        let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
        let history = fit::<f32, _, _, 2>(&mut net, &mut sgd, samples, samples, &config).unwrap();
        assert_eq!((history.steps, history.refused.len()), (4, 0));
    }
}

/// Accuracy over samples whose labels do not pair up with the rows is a clear panic, not a
/// figure computed over the shorter list and divided by the longer.
#[test]
#[should_panic(expected = "accuracy: 4 feature rows but 3 labels")]
fn accuracy_refuses_rows_and_labels_that_do_not_pair_up() {
    use gradflow::nn::train::{accuracy, Samples};
    let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let net = Xor::new(&mut gradflow::rng(7));
    let _ = accuracy(&net, Samples::new(&x, &[0, 1, 1]));
}

#[test]
#[should_panic(expected = "`Xor::backward` needs a cache that `Xor::forward_train` has filled")]
fn backward_refuses_a_cache_that_forward_train_never_filled() {
    let net = Xor::new(&mut gradflow::rng(7));
    let x = [[0.0, 1.0], [1.0, 0.0]];
    // An inference pass fills no cache: backward after it would give zero gradients.
    let _ = net.forward(&x);
    let mut cache = XorCache::<2>::zeroed();
    let mut grads = XorGrads::zeroed();
    net.backward(&mut cache, &[[1.0, -1.0]; 2], &mut grads);
}

/// The unfilled-cache panic is located at the call to `backward` (or `backward_into`), not
/// at the `network!` line, so a user finds the call that went wrong.
#[test]
fn the_unfilled_cache_panic_points_at_the_call() {
    use std::sync::Mutex;
    static WHERE: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());
    let net = Xor::new(&mut gradflow::rng(7));
    let mut grads = XorGrads::zeroed();
    let dy = [[1.0f32, -1.0]; 2];
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if let Some(at) = info.location() {
            WHERE
                .lock()
                .unwrap()
                .push((at.file().to_string(), at.line()));
        }
    }));
    let mut dx = [[0.0f32; 2]; 2];
    let lines = [line!() + 3, line!() + 6, line!() + 9];
    let results = [
        std::panic::catch_unwind(|| {
            net.backward(&mut XorCache::<2>::zeroed(), &dy, &mut XorGrads::zeroed())
        }),
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            net.backward_into(&mut XorCache::<2>::zeroed(), &dy, None, &mut grads)
        })),
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            net.backward_to_input(&mut XorCache::<2>::zeroed(), &dy, &mut dx, &mut grads)
        })),
    ];
    std::panic::set_hook(hook);
    assert!(results.iter().all(Result::is_err));
    let seen = WHERE.lock().unwrap().clone();
    for line in lines {
        assert!(
            seen.contains(&(file!().to_string(), line)),
            "{seen:?}, line {line}"
        );
    }
}

#[test]
fn backward_twice_on_one_filled_cache_gives_the_same_gradients() {
    let mut net = Xor::new(&mut gradflow::rng(7));
    let x = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]];
    let mut cache = XorCache::<3>::zeroed();
    assert!(!cache.filled);
    net.forward_train(&x, &mut cache);
    assert!(cache.filled);
    let dy = [[0.3, -0.3], [-1.0, 1.0], [0.2, -0.2]];
    let (mut first, mut second) = (XorGrads::zeroed(), XorGrads::zeroed());
    net.backward(&mut cache, &dy, &mut first);
    net.backward(&mut cache, &dy, &mut second);
    assert_eq!(first.dense_0.weight, second.dense_0.weight);
    assert_eq!(first.dense_1.bias, second.dense_1.bias);
    assert!(first.dense_0.weight.iter().flatten().any(|&g| g != 0.0));
}
