//! `BatchNorm2d`: batch normalization of each channel of a feature map, over the batch and
//! all positions (`B * H * W` values per channel), as after a convolution.
//!
//! The conventions are those of [`BatchNorm`](crate::batchnorm::BatchNorm): in training mode
//! `y = gamma * (x - mean) / sqrt(var + eps) + beta` with the batch's biased variance, and the
//! running mean and unbiased variance follow PyTorch's rule
//! `running = (1 - momentum) * running + momentum * batch`, skipped for a channel whose batch
//! statistics are not finite. Inference uses the running statistics.
//!
//! Samples are channels-last, `[[[T; C]; W]; H]`: every loop walks the positions of the batch
//! and, at each, the `C` contiguous channels, keeping one running sum per channel.

use crate::batchnorm::{
    backward_channels, infer_channels, BatchNormCache, BatchNormGrads, Channels, DEFAULT_EPS,
    DEFAULT_MOMENTUM,
};
use crate::layer::{Backward, Forward, Param, Tensor, TensorMut, Trainable};
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;
use rand::RngCore;

/// Batch normalization of `C` channels of `H x W`, one `gamma`, `beta`, running mean and
/// running variance per channel. Its gradients are a [`BatchNormGrads<T, C>`].
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct BatchNorm2d<T, const C: usize, const H: usize, const W: usize> {
    /// Learned scale per channel (starts at 1).
    pub gamma: [T; C],
    /// Learned shift per channel (starts at 0).
    pub beta: [T; C],
    /// Running mean of each channel, used at inference.
    pub running_mean: [T; C],
    /// Running unbiased variance of each channel, used at inference (starts at 1).
    pub running_var: [T; C],
    /// Added to the variance before the square root.
    pub eps: T,
    /// Weight of the newest batch in the running statistics.
    pub momentum: T,
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> BatchNorm2d<T, C, H, W> {
    const SHAPE: [usize; 1] = [C];

    /// A fresh layer: `gamma` 1, `beta` 0, running mean 0 and variance 1, default eps and
    /// momentum (those of [`BatchNorm`](crate::batchnorm::BatchNorm)).
    pub fn new() -> Self {
        Self {
            gamma: [T::ONE; C],
            beta: [T::ZERO; C],
            running_mean: [T::ZERO; C],
            running_var: [T::ONE; C],
            eps: T::from_f64(DEFAULT_EPS),
            momentum: T::from_f64(DEFAULT_MOMENTUM),
        }
    }

    /// Resets to [`BatchNorm2d::new`] in place, field by field: building the new layer first would
    /// put all of it on the stack, which a wide layer in a boxed network overflows.
    pub fn reset(&mut self) {
        (self.eps, self.momentum) = self.channels().reset();
    }

    fn channels(&mut self) -> Channels<'_, T, C> {
        Channels {
            gamma: &mut self.gamma,
            beta: &mut self.beta,
            running_mean: &mut self.running_mean,
            running_var: &mut self.running_var,
            eps: self.eps,
            momentum: self.momentum,
        }
    }
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Default
    for BatchNorm2d<T, C, H, W>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Forward<T>
    for BatchNorm2d<T, C, H, W>
{
    type Input = [[[T; C]; W]; H];
    type Output = [[[T; C]; W]; H];
    type Cache<const B: usize> = BatchNormCache<T, C>;
    const KIND: &'static str = "batchnorm2d";
    const PARAM_COUNT: usize = 4 * C;

    fn init(&mut self, _: &mut dyn RngCore) {
        self.reset();
    }

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        let stats = (&self.running_mean, &self.running_var);
        let (x, y) = (positions(x), positions_mut(y));
        infer_channels((&self.gamma, &self.beta), stats, self.eps, x, y);
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Self::Cache<B>,
    ) {
        const {
            assert!(
                B * H * W > 1,
                "batchnorm on a feature map (batchnorm2d on images, batchnorm1d on sequences, whose H is 1) needs at least 2 values per channel in training mode (B * H * W > 1): the variance of one value is 0"
            )
        };
        self.channels().train(positions(x), positions_mut(y), cache);
    }

    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, T>)) {
        let tensors = (
            &self.gamma,
            &self.beta,
            &self.running_mean,
            &self.running_var,
        );
        crate::batchnorm::visit_bn_tensors(tensors, &Self::SHAPE, f);
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, T>)) {
        let tensors = (
            &mut self.gamma,
            &mut self.beta,
            &mut self.running_mean,
            &mut self.running_var,
        );
        crate::batchnorm::visit_bn_tensors_mut(tensors, &Self::SHAPE, f);
    }

    fn visit_settings(&self, f: &mut dyn FnMut(crate::layer::Setting<T>)) {
        crate::batchnorm::visit_bn_settings((self.eps, self.momentum), f);
    }

    fn visit_settings_mut(&mut self, f: &mut dyn FnMut(crate::layer::SettingMut<'_, T>)) {
        crate::batchnorm::visit_bn_settings_mut((&mut self.eps, &mut self.momentum), f);
    }
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Trainable<T>
    for BatchNorm2d<T, C, H, W>
{
    type Grads = BatchNormGrads<T, C>;

    fn visit_params<const S: usize>(
        &mut self,
        grads: &Self::Grads,
        states: [&mut Self::Grads; S],
        f: &mut dyn FnMut(Param<'_, T, S>),
    ) {
        crate::batchnorm::visit_bn_params(&mut self.gamma, &mut self.beta, grads, states, f);
    }
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Backward<T>
    for BatchNorm2d<T, C, H, W>
{
    fn backward<const B: usize>(
        &self,
        x: &[Self::Input; B],
        _y: &[Self::Output; B],
        cache: &Self::Cache<B>,
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        let dx = dx.map(|dx| positions_mut(dx));
        let (x, dy) = (positions(x), positions(dy));
        backward_channels(&self.gamma, cache, x, dy, dx, grads);
    }
}

/// Batch normalization of each channel of a sequence `[[T; C]; L]` (as after a `Conv1d`), over
/// the batch and all `L` positions: a [`BatchNorm2d`] of height 1, whose tensors, gradients,
/// cache and conventions it shares. Sequences and height-1 images have the same memory
/// layout, so each call reinterprets the batch (a checked, copy-free `bytemuck` cast) and
/// hands it to the image layer.
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(transparent)]
pub struct BatchNorm1d<T, const C: usize, const L: usize>(pub BatchNorm2d<T, C, 1, L>);

impl<T: Scalar, const C: usize, const L: usize> BatchNorm1d<T, C, L> {
    /// A fresh layer, as [`BatchNorm2d::new`].
    pub fn new() -> Self {
        Self(BatchNorm2d::new())
    }
}

impl<T: Scalar, const C: usize, const L: usize> Default for BatchNorm1d<T, C, L> {
    fn default() -> Self {
        Self::new()
    }
}

/// A batch of sequences as a batch of height-1 images: same size, same alignment.
fn as_image<T: Scalar, const C: usize, const L: usize, const B: usize>(
    x: &[[[T; C]; L]; B],
) -> &[[[[T; C]; L]; 1]; B] {
    bytemuck::cast_ref(x)
}

/// Like [`as_image`], mutable.
fn as_image_mut<T: Scalar, const C: usize, const L: usize, const B: usize>(
    x: &mut [[[T; C]; L]; B],
) -> &mut [[[[T; C]; L]; 1]; B] {
    bytemuck::cast_mut(x)
}

impl<T: Scalar, const C: usize, const L: usize> Forward<T> for BatchNorm1d<T, C, L> {
    type Input = [[T; C]; L];
    type Output = [[T; C]; L];
    type Cache<const B: usize> = BatchNormCache<T, C>;
    const KIND: &'static str = "batchnorm1d";
    const PARAM_COUNT: usize = 4 * C;

    fn init(&mut self, rng: &mut dyn RngCore) {
        self.0.init(rng);
    }

    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
        self.0.forward(as_image(x), as_image_mut(y));
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Self::Cache<B>,
    ) {
        self.0.forward_train(as_image(x), as_image_mut(y), cache);
    }

    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, T>)) {
        self.0.visit_tensors(f);
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, T>)) {
        self.0.visit_tensors_mut(f);
    }

    fn visit_settings(&self, f: &mut dyn FnMut(crate::layer::Setting<T>)) {
        self.0.visit_settings(f);
    }

    fn visit_settings_mut(&mut self, f: &mut dyn FnMut(crate::layer::SettingMut<'_, T>)) {
        self.0.visit_settings_mut(f);
    }
}

impl<T: Scalar, const C: usize, const L: usize> Trainable<T> for BatchNorm1d<T, C, L> {
    type Grads = BatchNormGrads<T, C>;

    fn visit_params<const S: usize>(
        &mut self,
        grads: &Self::Grads,
        states: [&mut Self::Grads; S],
        f: &mut dyn FnMut(Param<'_, T, S>),
    ) {
        self.0.visit_params(grads, states, f);
    }
}

impl<T: Scalar, const C: usize, const L: usize> Backward<T> for BatchNorm1d<T, C, L> {
    fn backward<const B: usize>(
        &self,
        x: &[Self::Input; B],
        y: &[Self::Output; B],
        cache: &Self::Cache<B>,
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        let dx = dx.map(as_image_mut);
        self.0
            .backward(as_image(x), as_image(y), cache, as_image(dy), dx, grads);
    }
}

/// Every position of a batch, each holding its `C` channels.
fn positions<T, const C: usize, const H: usize, const W: usize, const B: usize>(
    x: &[[[[T; C]; W]; H]; B],
) -> &[[T; C]] {
    x.as_flattened().as_flattened()
}

/// Like [`positions`], mutable.
fn positions_mut<T, const C: usize, const H: usize, const W: usize, const B: usize>(
    x: &mut [[[[T; C]; W]; H]; B],
) -> &mut [[T; C]] {
    x.as_flattened_mut().as_flattened_mut()
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use gradflow_tensor::gradcheck::test_values;

    fn layer<const H: usize, const W: usize>() -> BatchNorm2d<f64, 3, H, W> {
        let mut bn = BatchNorm2d::new();
        bn.gamma = [1.5, -0.7, 0.3];
        bn.beta = [0.1, 0.2, -0.3];
        bn
    }

    /// Channel `c` scaled by `c + 1` and shifted by 1, so the channels differ in spread.
    fn input<const H: usize, const W: usize, const B: usize>() -> [[[[f64; 3]; W]; H]; B] {
        core::array::from_fn(|b| {
            core::array::from_fn(|h| {
                core::array::from_fn(|w| {
                    let values: [f64; 3] = test_values((100 * b + 10 * h + w) as u64);
                    core::array::from_fn(|c| (c + 1) as f64 * values[c] + 1.0)
                })
            })
        })
    }

    #[test]
    fn training_mode_gradients_match_finite_differences() {
        let report = check_layer(&mut layer::<2, 3>(), &input::<2, 3, 2>());
        assert!(report.passes(1e-6), "{report:?}");
        // One sample is enough when each channel has several positions.
        let report = check_layer(&mut layer::<3, 2>(), &input::<3, 2, 1>());
        assert!(report.passes(1e-6), "{report:?}");
    }

    /// The sequence layer is the height-1 image layer: same outputs, same gradients.
    #[test]
    fn sequence_batchnorm_gradients_and_agreement_with_the_image_layer() {
        let mut seq = BatchNorm1d::<f64, 3, 4>(layer::<1, 4>());
        let image = input::<1, 4, 2>();
        let x: [[[f64; 3]; 4]; 2] = core::array::from_fn(|b| image[b][0]);
        let report = check_layer(&mut seq, &x);
        assert!(report.passes(1e-6), "{report:?}");

        let mut img = layer::<1, 4>();
        let mut seq = BatchNorm1d::<f64, 3, 4>(layer::<1, 4>());
        let (mut y_img, mut y_seq) = ([[[[0.0; 3]; 4]; 1]; 2], [[[0.0; 3]; 4]; 2]);
        img.forward_train(&image, &mut y_img, &mut Zeroable::zeroed());
        seq.forward_train(&x, &mut y_seq, &mut Zeroable::zeroed());
        for b in 0..2 {
            assert_eq!(y_img[b][0], y_seq[b]);
        }
        assert_eq!(img.running_var, seq.0.running_var);
        assert_eq!(
            <BatchNorm1d<f64, 3, 4> as Forward<f64>>::KIND,
            "batchnorm1d"
        );
    }

    #[test]
    fn training_output_is_normalized_per_channel() {
        let mut bn = BatchNorm2d::<f64, 3, 2, 3>::new();
        let x = input::<2, 3, 4>();
        let mut y = [[[[0.0; 3]; 3]; 2]; 4];
        bn.forward_train(&x, &mut y, &mut Zeroable::zeroed());
        for c in 0..3 {
            let values: std::vec::Vec<f64> = y
                .as_flattened()
                .as_flattened()
                .iter()
                .map(|p| p[c])
                .collect();
            let mean = values.iter().sum::<f64>() / 24.0;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 24.0;
            assert!(
                mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-3,
                "{mean} {var}"
            );
        }
    }

    #[test]
    fn running_statistics_converge_to_the_data_and_drive_inference() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let dist = [
            Normal::new(3.0, 2.0).unwrap(),
            Normal::new(-1.0, 0.5).unwrap(),
        ];
        let mut bn = BatchNorm2d::<f64, 2, 2, 2>::new();
        let mut cache = Zeroable::zeroed();
        let mut y = [[[[0.0; 2]; 2]; 2]; 8];
        for _ in 0..400 {
            let x: [[[[f64; 2]; 2]; 2]; 8] = core::array::from_fn(|_| {
                [[(); 2]; 2].map(|r| r.map(|()| core::array::from_fn(|c| dist[c].sample(&mut rng))))
            });
            bn.forward_train(&x, &mut y, &mut cache);
        }
        let (mean, var) = (bn.running_mean, bn.running_var);
        assert!(
            (mean[0] - 3.0).abs() < 0.15 && (mean[1] + 1.0).abs() < 0.05,
            "{mean:?}"
        );
        assert!(
            (var[0] - 4.0).abs() < 0.5 && (var[1] - 0.25).abs() < 0.04,
            "{var:?}"
        );

        // A batch holding a NaN in channel 1 leaves that channel's statistics alone.
        let mut bad = [[[[1.0; 2]; 2]; 2]; 8];
        bad[3][0][1][1] = f64::NAN;
        bn.forward_train(&bad, &mut y, &mut cache);
        assert_eq!((bn.running_mean[1], bn.running_var[1]), (mean[1], var[1]));
        assert_ne!(bn.running_mean[0], mean[0]);

        // Inference uses the running statistics: a sample at the running mean maps to beta.
        let at_mean = [[[bn.running_mean; 2]; 2]];
        let mut out = [[[[9.0; 2]; 2]; 2]];
        bn.forward(&at_mean, &mut out);
        assert!(out
            .as_flattened()
            .as_flattened()
            .as_flattened()
            .iter()
            .all(|v| v.abs() < 1e-9));
    }

    #[test]
    fn tensors_are_per_channel() {
        let bn = BatchNorm2d::<f32, 4, 5, 5>::new();
        let mut seen = std::vec::Vec::new();
        bn.visit_tensors(&mut |t| seen.push((t.name, t.kind, t.data.len())));
        let (t, s) = (
            crate::layer::TensorKind::Trainable,
            crate::layer::TensorKind::Statistic,
        );
        let expected = [
            ("gamma", t, 4),
            ("beta", t, 4),
            ("running_mean", s, 4),
            ("running_var", s, 4),
        ];
        assert_eq!(seen, expected);
        assert_eq!(<BatchNorm2d<f32, 4, 5, 5> as Forward<f32>>::PARAM_COUNT, 16);
    }
}
