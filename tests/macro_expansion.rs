//! `network!` end to end: the generated structs, consts, constructors, forward passes,
//! visitors and trait impls, for f32 and f64 networks with `repeat`, standalone
//! activations, frozen layers and user layers (with and without a backward pass).
//! Gradient checks of generated networks live in their own test.

use gradflow::network;
use gradflow::nn::{Network, Param, Tensor, TensorKind, TrainableNetwork};

/// Layers written by a user, outside gradflow.
mod layers {
    use bytemuck::Zeroable;
    use gradflow::__private::RngCore;
    use gradflow::nn::layer::split_states;
    use gradflow::nn::{Backward, Forward, Param, Tensor, TensorKind, TensorMut, Trainable};

    /// Multiplies each feature by its own learned scale.
    #[derive(Zeroable, Clone, Debug, PartialEq)]
    pub struct Scale<const N: usize> {
        pub scale: [f32; N],
    }

    /// A scale's gradient.
    #[derive(Zeroable, Clone, Debug, PartialEq)]
    pub struct ScaleGrads<const N: usize> {
        pub scale: [f32; N],
    }

    impl<const N: usize> Forward<f32> for Scale<N> {
        type Input = [f32; N];
        type Output = [f32; N];
        type Cache<const B: usize> = ();
        const KIND: &'static str = "scale";
        const PARAM_COUNT: usize = N;

        fn init(&mut self, _: &mut dyn RngCore) {
            self.scale = [1.0; N];
        }

        fn forward<const B: usize>(&self, x: &[[f32; N]; B], y: &mut [[f32; N]; B]) {
            for (xs, ys) in x.iter().zip(y.iter_mut()) {
                for ((x, y), s) in xs.iter().zip(ys.iter_mut()).zip(&self.scale) {
                    *y = x * s;
                }
            }
        }

        fn forward_train<const B: usize>(
            &mut self,
            x: &[[f32; N]; B],
            y: &mut [[f32; N]; B],
            _: &mut (),
        ) {
            self.forward(x, y);
        }

        fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, f32>)) {
            f(Tensor {
                layer: "",
                name: "scale",
                kind: TensorKind::Trainable,
                shape: &[N],
                data: &self.scale,
            });
        }

        fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, f32>)) {
            f(TensorMut {
                layer: "",
                name: "scale",
                kind: TensorKind::Trainable,
                shape: &[N],
                data: &mut self.scale,
            });
        }
    }

    impl<const N: usize> Trainable<f32> for Scale<N> {
        type Grads = ScaleGrads<N>;

        fn visit_params<const S: usize>(
            &mut self,
            grads: &ScaleGrads<N>,
            mut states: [&mut ScaleGrads<N>; S],
            f: &mut dyn FnMut(Param<'_, f32, S>),
        ) {
            f(Param {
                layer: "",
                name: "scale",
                value: &mut self.scale,
                grad: &grads.scale,
                state: split_states(&mut states, |g| &mut g.scale[..]),
            });
        }
    }

    impl<const N: usize> Backward<f32> for Scale<N> {
        fn backward<const B: usize>(
            &self,
            x: &[[f32; N]; B],
            _: &[[f32; N]; B],
            _: &(),
            dy: &[[f32; N]; B],
            dx: Option<&mut [[f32; N]; B]>,
            grads: Option<&mut ScaleGrads<N>>,
        ) {
            if let Some(dx) = dx {
                for (dxs, dys) in dx.iter_mut().zip(dy) {
                    for ((dx, dy), s) in dxs.iter_mut().zip(dys).zip(&self.scale) {
                        *dx = dy * s;
                    }
                }
            }
            if let Some(g) = grads {
                for (xs, dys) in x.iter().zip(dy) {
                    for ((g, x), dy) in g.scale.iter_mut().zip(xs).zip(dys) {
                        *g += x * dy;
                    }
                }
            }
        }
    }

    /// Centres each feature on a stored mean (a statistic, not trained) and scales it (a
    /// parameter): of its `2 N` stored scalars, `N` are trained. Inference only.
    #[derive(Zeroable)]
    pub struct Centre<const N: usize> {
        pub mean: [f32; N],
        pub scale: [f32; N],
    }

    impl<const N: usize> Forward<f32> for Centre<N> {
        type Input = [f32; N];
        type Output = [f32; N];
        type Cache<const B: usize> = ();
        const KIND: &'static str = "centre";
        const PARAM_COUNT: usize = 2 * N;
        const TRAINABLE_PARAM_COUNT: usize = N;

        fn forward<const B: usize>(&self, x: &[[f32; N]; B], y: &mut [[f32; N]; B]) {
            for (xs, ys) in x.iter().zip(y.iter_mut()) {
                for (n, (x, y)) in xs.iter().zip(ys.iter_mut()).enumerate() {
                    *y = (x - self.mean[n]) * self.scale[n];
                }
            }
        }

        fn forward_train<const B: usize>(
            &mut self,
            x: &[[f32; N]; B],
            y: &mut [[f32; N]; B],
            _: &mut (),
        ) {
            self.forward(x, y);
        }
    }

    /// Doubles its input; inference only: it has no `Backward`.
    #[derive(Zeroable, Clone, Debug, PartialEq)]
    pub struct Double;

    impl Forward<f32> for Double {
        type Input = [f32; 4];
        type Output = [f32; 4];
        type Cache<const B: usize> = ();
        const KIND: &'static str = "double";

        fn forward<const B: usize>(&self, x: &[[f32; 4]; B], y: &mut [[f32; 4]; B]) {
            for (xs, ys) in x.iter().zip(y.iter_mut()) {
                for (x, y) in xs.iter().zip(ys.iter_mut()) {
                    *y = 2.0 * x;
                }
            }
        }

        fn forward_train<const B: usize>(
            &mut self,
            x: &[[f32; 4]; B],
            y: &mut [[f32; 4]; B],
            _: &mut (),
        ) {
            self.forward(x, y);
        }
    }
}

network! {
    /// The grammar's showcase: repeat, a standalone activation, a frozen user layer.
    pub struct Mlp<f32> {
        input 64,
        dense 128 [he_init, relu],
        repeat 3 {
            dense 64 [he_init, relu],
        },
        tanh,
        layer layers::Scale<64> (64 -> 64) [frozen],
        dense 10 [xavier_init],
    }
}

network! {
    /// A user layer that keeps statistics: only its parameters count as trainable.
    struct Centred<f32> {
        input 4,
        layer layers::Centre<4> (4 -> 4),
        dense 2,
    }
}

#[test]
fn a_user_layer_says_how_many_of_its_scalars_are_trained() {
    assert_eq!(Centred::PARAM_COUNT, 2 * 4 + (4 * 2 + 2));
    assert_eq!(Centred::TRAINABLE_PARAM_COUNT, 4 + (4 * 2 + 2));
    // Without saying, all of them are (the default): `Acts` trains its `Scale<4>` whole.
    assert_eq!(Acts::TRAINABLE_PARAM_COUNT, Acts::PARAM_COUNT);
}

network! {
    /// A small f64 network whose first layer is frozen.
    struct Tiny<f64> {
        input 3,
        dense 4 [frozen, tanh, he_uniform],
        dense 2,
    }
}

network! {
    /// Activations without a dense layer in front, and a trainable user layer.
    struct Acts<f32> {
        input 4,
        relu,
        layer layers::Scale<4> (4 -> 4),
        dense 2 [sigmoid, zeros],
        identity,
    }
}

network! {
    /// A user layer without a backward pass: usable for inference only.
    struct Infer<f32> {
        input 4,
        layer layers::Double (4 -> 4),
        dense 3 [standard_init],
    }
}

network! {
    /// The smallest network: one parameter-free layer.
    pub(crate) struct Single<f32> { input 3, relu }
}

network! {
    /// Nothing to train: every layer is frozen.
    struct AllFrozen<f64> { input 2, dense 2 [frozen, unit_normal], }
}

network! {
    /// The cures in f32: a standardizer, batchnorm and residual blocks of both kinds.
    pub struct Cured<f32> {
        input 6,
        standardize,
        dense 16 [he_init, batchnorm, relu],
        repeat 2 residual {
            dense 16 [he_init, batchnorm, relu],
            dense 16 [he_init, batchnorm],
        } relu,
        residual(project) { dense 8 [he_init, relu] },
        dense 3,
    }
}

fn rng() -> gradflow::Rng {
    gradflow::rng(7)
}

fn batch<const N: usize, const B: usize>() -> [[f32; N]; B] {
    core::array::from_fn(|b| core::array::from_fn(|i| ((b * N + i) as f32 * 0.37).sin()))
}

#[test]
fn consts_count_every_layer() {
    let dense = |i: usize, o: usize| i * o + o;
    let all = dense(64, 128) + dense(128, 64) + 2 * dense(64, 64) + 64 + dense(64, 10);
    assert_eq!(Mlp::INPUT, 64);
    assert_eq!(Mlp::OUTPUT, 10);
    assert_eq!(Mlp::PARAM_COUNT, all);
    assert_eq!(
        Mlp::TRAINABLE_PARAM_COUNT,
        all - 64,
        "the frozen scale is not trainable"
    );
    assert_eq!(Mlp::PARAM_BYTES, all * 4);
    assert_eq!(<Mlp as Network<f32>>::PARAM_COUNT, all);
    assert_eq!(Tiny::PARAM_COUNT, dense(3, 4) + dense(4, 2));
    assert_eq!(Tiny::TRAINABLE_PARAM_COUNT, dense(4, 2));
    assert_eq!(Tiny::PARAM_BYTES, Tiny::PARAM_COUNT * 8);
}

#[test]
fn layers_table_lists_unrolled_layers() {
    let names: Vec<_> = Mlp::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(
        names,
        [
            "dense_0", "relu_0", "dense_1", "relu_1", "dense_2", "relu_2", "dense_3", "relu_3",
            "tanh_4", "layer_5", "dense_6"
        ]
    );
    let scale = &Mlp::LAYERS[9];
    assert_eq!(
        (
            scale.kind,
            scale.index,
            scale.inputs,
            scale.outputs,
            scale.frozen
        ),
        ("layers::Scale<64>", 5, 64, 64, true)
    );
    let relu = &Mlp::LAYERS[1];
    assert_eq!(
        (relu.kind, relu.index, relu.inputs, relu.outputs),
        ("relu", 0, 128, 128)
    );
    assert_eq!(Mlp::LAYERS[0].kind, "dense");
}

#[test]
fn f32_network_builds_and_runs_forward() {
    let net = Mlp::new_boxed(&mut rng());
    assert_eq!(net.dense_0.weight.len(), 64);
    assert_eq!(net.dense_6.bias.len(), 10);
    assert_eq!(
        net.layer_5.scale, [1.0; 64],
        "user layers are initialized by Forward::init"
    );
    assert!(net.dense_0.weight.iter().flatten().any(|w| *w != 0.0));
    let x = batch::<64, 5>();
    let y: [[f32; 10]; 5] = net.forward(&x);
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    let mut y2 = [[0.0; 10]; 5];
    net.forward_into(&x, &mut y2);
    assert_eq!(y, y2);
    let classes: [usize; 5] = net.predict(&x);
    for (class, row) in classes.iter().zip(&y) {
        assert!(row.iter().all(|v| *v <= row[*class]));
    }
}

#[test]
fn forward_train_matches_forward() {
    let mut net = Tiny::new(&mut rng());
    let x = [[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]];
    let y = net.forward(&x);
    let mut cache = TinyCache::<2>::zeroed();
    assert_eq!(*net.forward_train(&x, &mut cache), y);
    assert_eq!(cache.input, x);
    assert_eq!(cache.out_dense_1, y);
    assert!(cache.out_tanh_0.iter().flatten().all(|v| v.abs() < 1.0));
}

#[test]
fn frozen_layer_has_no_gradient_and_is_never_updated() {
    let mut net = Tiny::new(&mut rng());
    let frozen_before = net.dense_0.weight;
    let trained_before = net.dense_1.weight;
    let x = [[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]];
    let mut cache = TinyCache::<2>::new_boxed();
    let mut grads = TinyGrads::new_boxed();
    net.forward_train(&x, &mut cache);
    net.backward(&mut cache, &[[1.0, -1.0]; 2], &mut grads);
    // The gradients hold the trainable dense_1 only (padded to the struct's alignment, a
    // cache line on x86_64 and aarch64).
    assert_eq!(
        core::mem::size_of::<TinyGrads>(),
        core::mem::size_of::<gradflow::nn::DenseGrads<f64, 4, 2>>()
            .next_multiple_of(core::mem::align_of::<TinyGrads>())
    );
    assert!(grads.dense_1.weight.iter().flatten().any(|g| *g != 0.0));
    let mut visited = Vec::new();
    net.visit_params(&grads, [], &mut |p: Param<'_, f64, 0>| {
        visited.push(format!("{}.{}", p.layer, p.name));
        for (v, g) in p.value.iter_mut().zip(p.grad) {
            *v -= 0.1 * g;
        }
    });
    assert_eq!(visited, ["dense_1.weight", "dense_1.bias"]);
    assert_eq!(net.dense_0.weight, frozen_before);
    assert_ne!(net.dense_1.weight, trained_before);
    grads.zero();
    assert!(grads.dense_1.weight.iter().flatten().all(|g| *g == 0.0));
}

#[test]
fn visit_params_passes_optimizer_state() {
    let mut net = Acts::new(&mut rng());
    let grads = ActsGrads::zeroed();
    let mut velocity = ActsGrads::zeroed();
    let mut seen = Vec::new();
    net.visit_params(&grads, [&mut velocity], &mut |p| {
        seen.push((p.layer, p.name, p.value.len(), p.state[0].len()));
        p.state[0].fill(1.0);
    });
    assert_eq!(
        seen,
        [
            ("layer_1", "scale", 4, 4),
            ("dense_2", "weight", 8, 8),
            ("dense_2", "bias", 2, 2)
        ]
    );
    assert_eq!(velocity.layer_1.scale, [1.0; 4]);
    assert_eq!(velocity.dense_2.bias, [1.0; 2]);
}

#[test]
fn visit_tensors_names_layers_and_marks_frozen_ones() {
    let net = Mlp::new_boxed(&mut rng());
    let mut seen = Vec::new();
    net.visit_tensors(&mut |t: Tensor<'_, f32>| seen.push((t.layer, t.name, t.kind, t.data.len())));
    assert_eq!(seen.len(), 2 * 5 + 1, "{seen:?}");
    assert_eq!(
        seen[0],
        ("dense_0", "weight", TensorKind::Trainable, 64 * 128)
    );
    assert!(seen.contains(&("layer_5", "scale", TensorKind::Frozen, 64)));
    let mut net = net;
    let mut count = 0;
    net.visit_tensors_mut(&mut |t| {
        t.data.fill(0.0);
        count += 1;
    });
    assert_eq!(count, seen.len());
    assert_eq!(net.forward(&batch::<64, 1>()), [[0.0; 10]]);
}

#[test]
fn standalone_activations_and_f32_user_layer_train() {
    let mut net = Acts::new(&mut rng());
    let x = batch::<4, 3>();
    let y = net.forward(&x);
    assert!(
        y.iter().flatten().all(|v| *v == 0.5),
        "zeros init, then sigmoid"
    );
    let mut cache = ActsCache::<3>::zeroed();
    let mut grads = ActsGrads::zeroed();
    net.forward_train(&x, &mut cache);
    let mut dx = [[0.0; 4]; 3];
    net.backward_to_input(&mut cache, &[[1.0, 0.0]; 3], &mut dx, &mut grads);
    assert!(grads.dense_2.bias[0] > 0.0);
    assert_eq!(grads.dense_2.bias[1], 0.0);
}

#[test]
fn inference_only_network_with_a_layer_without_backward_runs() {
    let net = Infer::new(&mut rng());
    let x = batch::<4, 2>();
    let y: [[f32; 3]; 2] = net.forward(&x);
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    let classes = net.predict(&x);
    assert!(classes.iter().all(|c| *c < 3));
    assert_eq!(Infer::PARAM_COUNT, 4 * 3 + 3);
    let _ = InferCache::<2>::zeroed();
}

/// Training loops are written once, over the traits.
fn train_step<N: TrainableNetwork<f64>, const B: usize>(
    net: &mut N,
    x: &[N::Input; B],
    dy: &[N::Output; B],
    cache: &mut N::Cache<B>,
    grads: &mut N::Grads,
) {
    net.forward_train(x, cache);
    net.backward_into(cache, dy, None, grads);
}

#[test]
fn generated_networks_implement_the_nn_traits() {
    let mut net = Tiny::new(&mut rng());
    let mut cache = TinyCache::<1>::zeroed();
    let mut grads = TinyGrads::zeroed();
    train_step(
        &mut net,
        &[[1.0, 2.0, 3.0]],
        &[[1.0, 0.0]],
        &mut cache,
        &mut grads,
    );
    assert!(grads.dense_1.bias[0] == 1.0 && grads.dense_1.bias[1] == 0.0);
    let mut y = [[0.0; 2]];
    Network::forward_into(&net, &[[1.0, 2.0, 3.0]], &mut y);
    assert_eq!(y, net.forward(&[[1.0, 2.0, 3.0]]));
    assert_eq!(<Tiny as Network<f64>>::LAYERS.len(), 3);
}

#[test]
fn predict_never_panics_on_nan() {
    let mut net = Tiny::new(&mut rng());
    net.dense_1.bias = [f64::NAN, 1.0];
    let classes = net.predict(&[[0.0; 3]; 2]);
    assert!(classes.iter().all(|c| *c < 2));
}

network! {
    /// One dense layer whose outputs are its biases when the input is 0.
    struct Logits<f32> {
        input 1,
        dense 3,
    }
}

#[test]
fn predict_is_argmax_of_each_sample() {
    let mut net = Logits::new(&mut rng());
    net.dense_0.weight = [[0.0; 3]];
    // Like `gradflow::nn::loss::argmax`: a NaN never wins, even in first place.
    net.dense_0.bias = [f32::NAN, 1.0, 5.0];
    assert_eq!(net.predict(&[[0.0]; 2]), [2, 2]);
    net.dense_0.bias = [3.0, 7.0, 7.0];
    assert_eq!(net.predict(&[[0.0]]), [1]);
    net.dense_0.bias = [f32::NAN; 3];
    assert_eq!(net.predict(&[[0.0]]), [0]);
}

#[test]
fn networks_without_trainable_parameters_work() {
    let mut single = Single::new(&mut rng());
    assert_eq!(single.forward(&[[-1.0, 0.0, 2.0]]), [[0.0, 0.0, 2.0]]);
    assert_eq!((Single::PARAM_COUNT, Single::LAYERS.len()), (0, 1));
    let mut cache = SingleCache::<1>::zeroed();
    let mut grads = SingleGrads::zeroed();
    single.forward_train(&[[-1.0, 0.0, 2.0]], &mut cache);
    let mut dx = [[0.0; 3]];
    single.backward_to_input(&mut cache, &[[1.0; 3]], &mut dx, &mut grads);
    assert_eq!(dx, [[0.0, 0.0, 1.0]]);
    single.visit_tensors(&mut |_| panic!("a relu stores no tensors"));

    let mut frozen = AllFrozen::new(&mut rng());
    assert_eq!(AllFrozen::TRAINABLE_PARAM_COUNT, 0);
    let grads = AllFrozenGrads::zeroed();
    frozen.visit_params(&grads, [], &mut |_| panic!("nothing is trainable"));
    let mut kinds = Vec::new();
    frozen.visit_tensors(&mut |t| kinds.push(t.kind));
    assert_eq!(kinds, [TensorKind::Frozen, TensorKind::Frozen]);
}

#[test]
fn residual_batchnorm_and_standardize_fields_caches_and_table() {
    let mut net = Cured::new(&mut rng());
    // Fields: the projection is a dense layer; identity adds have no field.
    let _: &gradflow::nn::Standardize<f32, 6> = &net.standardize_0;
    let _: &gradflow::nn::BatchNorm<f32, 16> = &net.batchnorm_1;
    let _: &gradflow::nn::Dense<f32, 16, 8> = &net.residual_9;
    assert_eq!(net.batchnorm_1.gamma, [1.0; 16], "init resets batchnorm");
    let names: Vec<_> = Cured::LAYERS.iter().map(|l| (l.name, l.kind)).collect();
    assert_eq!(
        names,
        [
            ("standardize_0", "standardize"),
            ("dense_1", "dense"),
            ("batchnorm_1", "batchnorm"),
            ("relu_1", "relu"),
            ("dense_2", "dense"),
            ("batchnorm_2", "batchnorm"),
            ("relu_2", "relu"),
            ("dense_3", "dense"),
            ("batchnorm_3", "batchnorm"),
            ("residual_4", "residual"),
            ("relu_4", "relu"),
            ("dense_5", "dense"),
            ("batchnorm_5", "batchnorm"),
            ("relu_5", "relu"),
            ("dense_6", "dense"),
            ("batchnorm_6", "batchnorm"),
            ("residual_7", "residual"),
            ("relu_7", "relu"),
            ("dense_8", "dense"),
            ("relu_8", "relu"),
            ("residual_9", "residual(project)"),
            ("dense_10", "dense"),
        ]
    );
    let projection = Cured::LAYERS[20];
    assert_eq!(
        (projection.index, projection.inputs, projection.outputs),
        (9, 16, 8)
    );

    // Train through the traits; the cache holds batchnorm caches and the projection's scratch.
    let x = batch::<6, 4>();
    let mut cache = CuredCache::<4>::new_boxed();
    let mut grads = CuredGrads::new_boxed();
    let mut dx = [[0.0; 6]; 4];
    net.forward_train(&x, &mut cache);
    net.backward_to_input(&mut cache, &[[1.0, 0.0, -1.0]; 4], &mut dx, &mut grads);
    assert!(cache
        .cache_batchnorm_2
        .inv_std
        .iter()
        .all(|&s| s.is_finite() && s > 0.0));
    assert_eq!(cache.grad_skip_9.len(), 4);
    assert!(grads.residual_9.weight.iter().flatten().any(|g| *g != 0.0));
    assert!(dx.iter().flatten().any(|g| *g != 0.0));
    let mut widths = Vec::new();
    <Cured as TrainableNetwork<f32>>::visit_activations(&cache, &mut |a| widths.push(a.width));
    let outputs: Vec<_> = Cured::LAYERS.iter().map(|l| l.outputs).collect();
    assert_eq!(widths, outputs);
    // Running statistics are stored, not trained.
    let mut statistics = 0;
    net.visit_tensors(&mut |t| {
        if t.kind == TensorKind::Statistic {
            statistics += t.data.len();
        }
    });
    assert_eq!(statistics, 2 * 6 + 5 * 2 * 16);
    assert_eq!(
        Cured::PARAM_COUNT - Cured::TRAINABLE_PARAM_COUNT,
        statistics
    );
}

/// `zero` and `zero_grads` (which `fit` calls) clear the gradients of every trained layer,
/// layer by layer: the standardizer, batchnorm, residual bodies and projections.
#[test]
fn zero_clears_every_layers_gradients() {
    fn grads_after_backward(net: &mut Cured) -> Box<CuredGrads> {
        let x: [[f32; 6]; 4] =
            core::array::from_fn(|b| core::array::from_fn(|i| (b * 6 + i) as f32 * 0.3 - 3.0));
        let mut cache = CuredCache::<4>::new_boxed();
        let mut grads = CuredGrads::new_boxed();
        net.forward_train(&x, &mut cache);
        net.backward(&mut cache, &[[1.0, -0.5, 0.25]; 4], &mut grads);
        grads
    }
    fn nonzero(net: &mut Cured, grads: &CuredGrads) -> Vec<String> {
        let mut names = Vec::new();
        net.visit_params(grads, [], &mut |p: Param<'_, f32, 0>| {
            if p.grad.iter().any(|g| *g != 0.0) {
                names.push(format!("{}.{}", p.layer, p.name));
            }
        });
        names
    }
    let mut net = Cured::new(&mut rng());
    let zeroes: [fn(&mut CuredGrads); 2] = [CuredGrads::zero, Cured::zero_grads];
    for zero in zeroes {
        let mut grads = grads_after_backward(&mut net);
        // Every layer kind has a gradient to clear (the last residual block's projection too).
        let before = nonzero(&mut net, &grads);
        assert!(before.len() >= 10, "{before:?}");
        assert!(
            before.iter().any(|n| n.starts_with("residual")),
            "{before:?}"
        );
        zero(&mut grads);
        assert_eq!(nonzero(&mut net, &grads), Vec::<String>::new());
    }
    // A network with nothing to train has no gradients to clear.
    AllFrozenGrads::zeroed().zero();
    assert_eq!(size_of::<AllFrozenGrads>(), 0);
}

/// A user's trait in scope, implemented for every type, whose methods have the names of
/// methods the expansion calls: the generated code calls them by path, so neither the
/// network's nor the standard library's are replaced by these.
mod user_trait_in_scope {
    use gradflow::prelude::*;

    // By value, so that a method call on any receiver would find these before an inherent
    // `&self` method of the same name.
    #[allow(dead_code, clippy::wrong_self_convention)]
    pub trait Everything: Sized {
        fn init<R: ?Sized>(&mut self, _rng: &mut R) {}
        fn zero(self) -> u8 {
            0
        }
        fn map(self) -> u8 {
            0
        }
        fn each_mut(self) -> u8 {
            0
        }
        fn as_flattened(self) -> u8 {
            0
        }
        fn as_flattened_mut(self) -> u8 {
            0
        }
        fn as_deref_mut(self) -> u8 {
            0
        }
        fn split_at(self) -> u8 {
            0
        }
        fn first_chunk(self) -> u8 {
            0
        }
        fn next_multiple_of(self) -> u8 {
            0
        }
        fn forward(self) -> u8 {
            0
        }
        fn forward_into(self) -> u8 {
            0
        }
        fn backward_into(self) -> u8 {
            0
        }
        fn iter(self) -> u8 {
            0
        }
        fn len(self) -> u8 {
            0
        }
    }
    impl<T> Everything for T {}

    network! {
        pub struct Shadowed<f64> {
            input [6, 6, 2],
            conv2d 4 k3 same [batchnorm, relu],
            residual(project) { conv2d 4 k3 s2 same [relu] } relu,
            global_avg_pool,
            standardize,
            dense 6 [batchnorm, relu],
            residual { dense 6 [tanh] },
            dense 2,
        }
    }
}

#[test]
fn methods_of_a_user_trait_in_scope_do_not_replace_the_generated_calls() {
    use user_trait_in_scope::{Shadowed, ShadowedCache, ShadowedGrads};
    let mut net = Shadowed::new(&mut rng());
    let boxed = Shadowed::new_boxed(&mut rng());
    let mut nonzero = 0;
    boxed.visit_tensors(&mut |t| nonzero += t.data.iter().filter(|v| **v != 0.0).count());
    assert!(
        nonzero > Shadowed::PARAM_COUNT / 2,
        "{nonzero} of {}",
        Shadowed::PARAM_COUNT
    );
    assert_eq!(
        gradflow::weights::to_bytes(&net).unwrap(),
        gradflow::weights::to_bytes(&*boxed).unwrap()
    );

    let x: [[[[f64; 2]; 6]; 6]; 3] = core::array::from_fn(|b| {
        core::array::from_fn(|i| core::array::from_fn(|j| [(b * i) as f64 * 0.1, j as f64]))
    });
    let mut cache = ShadowedCache::<3>::zeroed();
    let mut grads = ShadowedGrads::zeroed();
    let y = *net.forward_train(&x, &mut cache);
    let mut dx = [[[[0.0; 2]; 6]; 6]; 3];
    net.backward_to_input(&mut cache, &[[1.0, -1.0]; 3], &mut dx, &mut grads);
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    assert!(dx.iter().flatten().flatten().flatten().any(|&v| v != 0.0));
    assert!(grads.dense_5.weight.iter().flatten().any(|&v| v != 0.0));
    assert_eq!(net.predict(&x).len(), 3);
}

network! {
    /// Every built-in layer kind on images, with the three derives a network accepts.
    #[derive(Clone, Debug, PartialEq)]
    struct DerivedCnn<f32> {
        input [6, 6, 2],
        conv2d 4 k3 same [he_init, batchnorm, relu],
        residual(project) {
            conv2d 6 k3 s2 same [leaky_relu],
            conv2d 6 k1 [frozen],
        } gelu,
        maxpool 1,
        avgpool 1,
        batchnorm,
        sigmoid,
        global_avg_pool,
        standardize,
        dense 8 [batchnorm, tanh],
        residual { dense 8 [identity] },
        dense 3,
    }
}

network! {
    /// The same over sequences.
    #[derive(Clone, Debug, PartialEq)]
    struct DerivedSequence<f64> {
        input [8, 2],
        conv1d 3 k3 same [batchnorm, relu],
        maxpool 2,
        tanh,
        flatten,
        dense 2,
    }
}

network! {
    /// Derives with a layer of your own that has no backward pass (so no `Grads`): the
    /// gradients struct's derives wait, like its other impls, for a layer that trains.
    #[derive(Clone, Debug, PartialEq)]
    struct InferDerived<f32> {
        input 4,
        layer layers::Double (4 -> 4),
        dense 3,
    }
}

network! {
    /// Derives with a trainable layer of your own, whose layer and `Grads` derive them too.
    #[derive(Clone, Debug, PartialEq)]
    struct ScaleDerived<f32> {
        input 4,
        layer layers::Scale<4> (4 -> 4),
        dense 2,
    }
}

#[test]
fn networks_with_user_layers_derive_too() {
    let net = InferDerived::new(&mut rng());
    assert_eq!(net.clone(), net);
    assert!(format!("{net:?}").contains("layer_0: Double"));
    let net = ScaleDerived::new(&mut rng());
    let mut copy = net.clone();
    assert_eq!(copy, net);
    copy.layer_0.scale[1] = 7.0;
    assert_ne!(copy, net);
    let grads = ScaleDerivedGrads::zeroed();
    assert_eq!(grads.clone(), grads);
    assert!(format!("{grads:?}").contains("layer_0: ScaleGrads"));
}

/// `#[derive(Clone, Debug, PartialEq)]` on a network gives them to the network and its
/// gradients struct, for every layer kind: a clone is equal and independent, `Debug` names
/// the fields, and an optimizer over the gradients is `Clone` and `Debug` too.
#[test]
fn a_network_derives_clone_debug_and_partial_eq() {
    let net = DerivedCnn::new(&mut rng());
    let mut copy = net.clone();
    assert_eq!(copy, net);
    copy.dense_10.weight[0][0] += 1.0;
    assert_ne!(copy, net);
    copy.dense_10.weight[0][0] = net.dense_10.weight[0][0];
    copy.batchnorm_6.eps = 1e-3;
    assert_ne!(copy, net, "a setting is part of the value");
    let other = DerivedCnn::new(&mut gradflow::rng(99));
    assert_ne!(other, net);

    let debug = format!("{net:?}");
    for field in [
        "DerivedCnn {",
        "conv2d_0",
        "relu_0",
        "residual_3",
        "gelu_3",
        "standardize_9",
        "dense_10",
        "tanh_10",
    ] {
        assert!(
            debug.contains(field),
            "`{field}` missing from the Debug output"
        );
    }
    assert!(debug.contains("relu<[4, 6, 6]>"), "{debug}");

    let mut grads = DerivedCnnGrads::zeroed();
    let copy = grads.clone();
    assert_eq!(copy, grads);
    grads.dense_13.weight[1][2] = 0.5;
    assert_ne!(copy, grads);
    assert!(format!("{grads:?}").starts_with("DerivedCnnGrads {"));

    let sgd = gradflow::nn::optim::Sgd::<DerivedCnnGrads>::new(
        gradflow::nn::optim::SgdConfig::new(0.1).momentum(0.9),
    )
    .unwrap();
    let _ = sgd.clone();
    assert!(format!("{sgd:?}").contains("DerivedCnnGrads"));

    let seq = DerivedSequence::new(&mut rng());
    assert_eq!(seq.clone(), seq);
    assert!(format!("{seq:?}").contains("relu<[3, 8]>"));
}
