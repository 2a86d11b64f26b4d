//! `BatchNorm`: batch normalization (Ioffe and Szegedy 2015) over `N` features.
//!
//! In training mode each feature is normalized with the batch's mean and variance, then
//! scaled and shifted by the learned `gamma` and `beta`: `y = gamma * (x - mean) / sqrt(var + eps) + beta`.
//! Whatever the layers below do to the scale of their outputs, the next layer sees inputs of
//! mean `beta` and spread `gamma`, so sigmoid and tanh units stay out of saturation and
//! gradients keep their size through depth. The running mean and (unbiased) variance,
//! updated as `running = (1 - momentum) * running + momentum * batch` as in PyTorch, replace
//! the batch statistics at inference.

use crate::layer::{
    split_states, Backward, Forward, Param, Setting, SettingMut, Tensor, TensorKind, TensorMut,
    Trainable,
};
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;
use rand::RngCore;

/// Default `eps`, PyTorch's and Keras' (1e-5 and 1e-3 respectively; gradflow follows PyTorch).
pub const DEFAULT_EPS: f64 = 1e-5;
/// Default `momentum` of the running statistics, PyTorch's convention (Keras' 0.99 = 1 - 0.01).
pub const DEFAULT_MOMENTUM: f64 = 0.1;

/// Batch normalization over `N` features.
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct BatchNorm<T, const N: usize> {
    /// Learned scale (starts at 1).
    pub gamma: [T; N],
    /// Learned shift (starts at 0).
    pub beta: [T; N],
    /// Running mean of the inputs, used at inference.
    pub running_mean: [T; N],
    /// Running unbiased variance of the inputs, used at inference (starts at 1).
    pub running_var: [T; N],
    /// Added to the variance before the square root.
    pub eps: T,
    /// Weight of the newest batch in the running statistics.
    pub momentum: T,
}

/// Gradients of a [`BatchNorm`]'s `gamma` and `beta`.
#[derive(Clone, Debug, PartialEq, Zeroable)]
#[repr(C)]
pub struct BatchNormGrads<T, const N: usize> {
    /// Gradient of `gamma`.
    pub gamma: [T; N],
    /// Gradient of `beta`.
    pub beta: [T; N],
}

/// What the backward pass needs from a training-mode forward pass: the batch's statistics,
/// from which it recomputes the normalized inputs `x_hat = (x - mean) * inv_std` bit for bit.
/// Keeping `x_hat` itself would write a batch-sized tensor per layer in every forward pass and
/// read it back, where the layer's input is kept anyway; on W3 (32 batchnorms of 64 x 64)
/// those stores were a fifth of the forward pass. Shared by [`BatchNorm`] and the
/// convolutional `BatchNorm2d` and `BatchNorm1d`, whose statistics are per channel.
#[derive(Clone, Debug, Zeroable)]
pub struct BatchNormCache<T, const N: usize> {
    /// The batch mean of each feature.
    pub mean: [T; N],
    /// `1 / sqrt(var + eps)` per feature.
    pub inv_std: [T; N],
}

impl<T: Scalar, const N: usize> BatchNorm<T, N> {
    const SHAPE: [usize; 1] = [N];

    /// A fresh layer: `gamma` 1, `beta` 0, running mean 0 and variance 1, default eps and momentum.
    pub fn new() -> Self {
        Self {
            gamma: [T::ONE; N],
            beta: [T::ZERO; N],
            running_mean: [T::ZERO; N],
            running_var: [T::ONE; N],
            eps: T::from_f64(DEFAULT_EPS),
            momentum: T::from_f64(DEFAULT_MOMENTUM),
        }
    }

    /// Resets to [`BatchNorm::new`] in place, field by field: building the new layer first would
    /// put all of it on the stack, which a wide layer in a boxed network overflows.
    pub fn reset(&mut self) {
        (self.eps, self.momentum) = self.channels().reset();
    }

    fn channels(&mut self) -> Channels<'_, T, N> {
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

impl<T: Scalar, const N: usize> Default for BatchNorm<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar, const N: usize> Forward<T> for BatchNorm<T, N> {
    type Input = [T; N];
    type Output = [T; N];
    type Cache<const B: usize> = BatchNormCache<T, N>;
    const KIND: &'static str = "batchnorm";
    const PARAM_COUNT: usize = 4 * N;

    fn init(&mut self, _: &mut dyn RngCore) {
        self.reset();
    }

    fn forward<const B: usize>(&self, x: &[[T; N]; B], y: &mut [[T; N]; B]) {
        let stats = (&self.running_mean, &self.running_var);
        infer_channels((&self.gamma, &self.beta), stats, self.eps, x, y);
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[[T; N]; B],
        y: &mut [[T; N]; B],
        cache: &mut Self::Cache<B>,
    ) {
        const {
            assert!(
                B > 1,
                "batchnorm needs a batch of at least 2 in training mode: the variance of one sample is 0, so it would normalize to NaN or 0"
            )
        };
        self.channels().train(x, y, cache);
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

    fn visit_settings(&self, f: &mut dyn FnMut(Setting<T>)) {
        visit_bn_settings((self.eps, self.momentum), f);
    }

    fn visit_settings_mut(&mut self, f: &mut dyn FnMut(SettingMut<'_, T>)) {
        visit_bn_settings_mut((&mut self.eps, &mut self.momentum), f);
    }
}

impl<T: Scalar, const N: usize> Trainable<T> for BatchNorm<T, N> {
    type Grads = BatchNormGrads<T, N>;

    fn visit_params<const S: usize>(
        &mut self,
        grads: &Self::Grads,
        states: [&mut Self::Grads; S],
        f: &mut dyn FnMut(Param<'_, T, S>),
    ) {
        crate::batchnorm::visit_bn_params(&mut self.gamma, &mut self.beta, grads, states, f);
    }
}

impl<T: Scalar, const N: usize> Backward<T> for BatchNorm<T, N> {
    fn backward<const B: usize>(
        &self,
        x: &[[T; N]; B],
        _y: &[[T; N]; B],
        cache: &Self::Cache<B>,
        dy: &[[T; N]; B],
        dx: Option<&mut [[T; N]; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        let dx = dx.map(|dx| dx.as_mut_slice());
        backward_channels(&self.gamma, cache, x, dy, dx, grads);
    }
}

/// A batch normalization's per-channel state, borrowed: what [`BatchNorm`] (one position per
/// sample) and `conv::BatchNorm2d` (every pixel of every sample) share. Both normalize each of
/// `C` channels over a list of positions, so one implementation serves both.
pub(crate) struct Channels<'a, T, const C: usize> {
    pub(crate) gamma: &'a mut [T; C],
    pub(crate) beta: &'a mut [T; C],
    pub(crate) running_mean: &'a mut [T; C],
    pub(crate) running_var: &'a mut [T; C],
    pub(crate) eps: T,
    pub(crate) momentum: T,
}

impl<T: Scalar, const C: usize> Channels<'_, T, C> {
    /// Fills the tensors as a fresh layer has them and returns its `eps` and `momentum`: a
    /// layer's reset, field by field.
    pub(crate) fn reset(self) -> (T, T) {
        self.gamma.fill(T::ONE);
        self.beta.fill(T::ZERO);
        self.running_mean.fill(T::ZERO);
        self.running_var.fill(T::ONE);
        (T::from_f64(DEFAULT_EPS), T::from_f64(DEFAULT_MOMENTUM))
    }

    /// Training: normalize with the positions' own mean and biased variance, keep the mean and
    /// `inv_std` for the backward pass, and update the running statistics. Row by row, so every
    /// inner loop runs along contiguous channels.
    pub(crate) fn train(
        &mut self,
        x: &[[T; C]],
        y: &mut [[T; C]],
        cache: &mut BatchNormCache<T, C>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if C >= WIDE_MIN_CHANNELS && gradflow_tensor::gemm::wide_f32_available() {
            // SAFETY: the CPU executes AVX-512F, AVX2 and FMA instructions (checked just above).
            unsafe { self.train_avx512(x, y, cache) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if gradflow_tensor::gemm::fast_f32_available() {
            // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
            unsafe { self.train_avx2(x, y, cache) };
            return;
        }
        self.train_loops(x, y, cache);
    }

    /// [`Channels::train_loops`] compiled for AVX-512: 16-lane loops, bit-identical results.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn train_avx512(&mut self, x: &[[T; C]], y: &mut [[T; C]], cache: &mut BatchNormCache<T, C>) {
        self.train_loops(x, y, cache);
    }

    /// [`Channels::train_loops`] compiled for AVX2: 8-lane loops, bit-identical results.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn train_avx2(&mut self, x: &[[T; C]], y: &mut [[T; C]], cache: &mut BatchNormCache<T, C>) {
        self.train_loops(x, y, cache);
    }

    /// The loops of [`Channels::train`], inlined into its plain and SIMD copies.
    #[inline(always)]
    fn train_loops(&mut self, x: &[[T; C]], y: &mut [[T; C]], cache: &mut BatchNormCache<T, C>) {
        let count = x.len() as f64;
        let inv_n = T::ONE / T::from_f64(count);
        let unbias = T::from_f64(count / (count - 1.0));
        // The mean is summed as deviations from the first position: a plain f32 sum of 100
        // copies of 30000.3 rounds enough to pass for a spread, and a constant channel would
        // come out near +-1 instead of `beta`; deviations from a member are exactly 0.
        let first = x.first().copied().unwrap_or([T::ZERO; C]);
        let mut mean = [T::ZERO; C];
        for xp in x {
            for ((m, &v), &f) in mean.iter_mut().zip(xp).zip(&first) {
                *m += v - f;
            }
        }
        let mut mean = mean.map(|m| m * inv_n);
        for (m, &f) in mean.iter_mut().zip(&first) {
            *m += f;
        }
        let mut var = [T::ZERO; C];
        for xp in x {
            for ((s, &v), &m) in var.iter_mut().zip(xp).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let var = var.map(|v| v * inv_n);
        // A variance that overflows the element type (deviations beyond 1.8e19 in f32) would
        // give `inv_std` 0: the channel would output `beta` for every position and pass no
        // gradient, silently. NaN instead makes the loss NaN, and the step is refused.
        let inv_std = var.map(|v| {
            if v.is_finite() {
                T::ONE / (v + self.eps).sqrt()
            } else {
                T::from_f64(f64::NAN)
            }
        });
        let (gamma, beta) = (*self.gamma, *self.beta);
        for (yp, xp) in y.iter_mut().zip(x) {
            for c in 0..C {
                yp[c] = gamma[c] * normalized(xp[c], mean[c], inv_std[c]) + beta[c];
            }
        }
        for c in 0..C {
            update_running(
                &mut self.running_mean[c],
                &mut self.running_var[c],
                self.momentum,
                mean[c],
                var[c] * unbias,
            );
        }
        *cache = BatchNormCache { mean, inv_std };
    }
}

/// `x_hat = (x - mean) * inv_std`: one expression for the forward pass and the backward pass,
/// which recomputes it, so that both see the same bits.
#[inline(always)]
fn normalized<T: Scalar>(x: T, mean: T, inv_std: T) -> T {
    (x - mean) * inv_std
}

/// Inference over positions of `C` channels: the running statistics folded into one scale and
/// shift per channel.
pub(crate) fn infer_channels<T: Scalar, const C: usize>(
    (gamma, beta): (&[T; C], &[T; C]),
    (running_mean, running_var): (&[T; C], &[T; C]),
    eps: T,
    x: &[[T; C]],
    y: &mut [[T; C]],
) {
    let stats = (running_mean, running_var);
    #[cfg(target_arch = "x86_64")]
    if gradflow_tensor::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
        unsafe { infer_avx2((gamma, beta), stats, eps, x, y) };
        return;
    }
    infer_loops((gamma, beta), stats, eps, x, y);
}

/// [`infer_loops`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn infer_avx2<T: Scalar, const C: usize>(
    params: (&[T; C], &[T; C]),
    stats: (&[T; C], &[T; C]),
    eps: T,
    x: &[[T; C]],
    y: &mut [[T; C]],
) {
    infer_loops(params, stats, eps, x, y);
}

/// The loops of [`infer_channels`], inlined into its plain and AVX2 copies.
#[inline(always)]
fn infer_loops<T: Scalar, const C: usize>(
    (gamma, beta): (&[T; C], &[T; C]),
    (running_mean, running_var): (&[T; C], &[T; C]),
    eps: T,
    x: &[[T; C]],
    y: &mut [[T; C]],
) {
    let mut scale = [T::ZERO; C];
    let mut shift = [T::ZERO; C];
    for c in 0..C {
        scale[c] = gamma[c] / (running_var[c] + eps).sqrt();
        shift[c] = beta[c] - running_mean[c] * scale[c];
    }
    for (xp, yp) in x.iter().zip(y) {
        for (((y, &x), &scale), &shift) in yp.iter_mut().zip(xp).zip(&scale).zip(&shift) {
            *y = x * scale + shift;
        }
    }
}

/// Backward of [`Channels::train`] over `n` positions `x`: with `k = gamma * inv_std`,
/// `dx = k * (dy - mean(dy) - x_hat * mean(dy * x_hat))`; `gamma` gains `sum(dy * x_hat)` and
/// `beta` `sum(dy)`. `x_hat` is recomputed from `x` and the cached statistics.
pub(crate) fn backward_channels<T: Scalar, const C: usize>(
    gamma: &[T; C],
    cache: &BatchNormCache<T, C>,
    x: &[[T; C]],
    dy: &[[T; C]],
    dx: Option<&mut [[T; C]]>,
    grads: Option<&mut BatchNormGrads<T, C>>,
) {
    #[cfg(target_arch = "x86_64")]
    if C >= WIDE_MIN_CHANNELS && gradflow_tensor::gemm::wide_f32_available() {
        // SAFETY: the CPU executes AVX-512F, AVX2 and FMA instructions (checked just above).
        unsafe { backward_avx512(gamma, cache, x, dy, dx, grads) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if gradflow_tensor::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
        unsafe { backward_avx2(gamma, cache, x, dy, dx, grads) };
        return;
    }
    backward_loops(gamma, cache, x, dy, dx, grads);
}

/// Fewest channels for which [`Channels::train`] and [`backward_channels`] take their AVX-512
/// copies. On the Intel host of 2026-11-29 the backward pass's copy was 8% faster than the
/// AVX2 one for 128 channels (W2) and 5% for 64 (W3), but twice as slow for 16 (W6's
/// convolutions, 2048 positions).
#[cfg(target_arch = "x86_64")]
const WIDE_MIN_CHANNELS: usize = 64;

/// [`backward_loops`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn backward_avx512<T: Scalar, const C: usize>(
    gamma: &[T; C],
    cache: &BatchNormCache<T, C>,
    x: &[[T; C]],
    dy: &[[T; C]],
    dx: Option<&mut [[T; C]]>,
    grads: Option<&mut BatchNormGrads<T, C>>,
) {
    backward_loops(gamma, cache, x, dy, dx, grads);
}

/// [`backward_loops`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn backward_avx2<T: Scalar, const C: usize>(
    gamma: &[T; C],
    cache: &BatchNormCache<T, C>,
    x: &[[T; C]],
    dy: &[[T; C]],
    dx: Option<&mut [[T; C]]>,
    grads: Option<&mut BatchNormGrads<T, C>>,
) {
    backward_loops(gamma, cache, x, dy, dx, grads);
}

/// The loops of [`backward_channels`], inlined into its plain and AVX2 copies.
#[inline(always)]
fn backward_loops<T: Scalar, const C: usize>(
    gamma: &[T; C],
    cache: &BatchNormCache<T, C>,
    x: &[[T; C]],
    dy: &[[T; C]],
    mut dx: Option<&mut [[T; C]]>,
    grads: Option<&mut BatchNormGrads<T, C>>,
) {
    assert_eq!(
        x.len(),
        dy.len(),
        "batchnorm backward: x and dy differ in length"
    );
    let BatchNormCache { mean, inv_std } = cache;
    let mut sum_dy = [T::ZERO; C];
    let mut sum_dy_xhat = [T::ZERO; C];
    // `x_hat` is recomputed row by row, into the row of `dx` when there is one, where the
    // last loop reads it back: computed inside that loop, the compiler vectorized it across
    // positions with scalar loads and stores, at half the speed for 16 channels.
    match &mut dx {
        Some(dx) => {
            for ((dxp, dyp), xp) in dx.iter_mut().zip(dy).zip(x) {
                *dxp = normalized_row(xp, mean, inv_std);
                add_row(&mut sum_dy, &mut sum_dy_xhat, dyp, dxp);
            }
        }
        None => {
            for (dyp, xp) in dy.iter().zip(x) {
                let hp = normalized_row(xp, mean, inv_std);
                add_row(&mut sum_dy, &mut sum_dy_xhat, dyp, &hp);
            }
        }
    }
    if let Some(g) = grads {
        for c in 0..C {
            g.gamma[c] += sum_dy_xhat[c];
            g.beta[c] += sum_dy[c];
        }
    }
    let Some(dx) = dx else { return };
    let inv_n = T::ONE / T::from_f64(dy.len() as f64);
    let mut k = *gamma;
    for (k, &inv_std) in k.iter_mut().zip(inv_std) {
        *k *= inv_std;
    }
    let mean_dy = sum_dy.map(|s| s * inv_n);
    let mean_dy_xhat = sum_dy_xhat.map(|s| s * inv_n);
    for (dxp, dyp) in dx.iter_mut().zip(dy) {
        for c in 0..C {
            dxp[c] = k[c] * (dyp[c] - mean_dy[c] - dxp[c] * mean_dy_xhat[c]);
        }
    }
}

/// One position's `x_hat` (see [`normalized`]).
#[inline(always)]
fn normalized_row<T: Scalar, const C: usize>(
    x: &[T; C],
    mean: &[T; C],
    inv_std: &[T; C],
) -> [T; C] {
    core::array::from_fn(|c| normalized(x[c], mean[c], inv_std[c]))
}

/// Adds one position's `dy` and `dy * x_hat` to the backward pass's sums.
#[inline(always)]
fn add_row<T: Scalar, const C: usize>(
    sum_dy: &mut [T; C],
    sum_dy_xhat: &mut [T; C],
    dy: &[T; C],
    x_hat: &[T; C],
) {
    for c in 0..C {
        sum_dy[c] += dy[c];
        sum_dy_xhat[c] += dy[c] * x_hat[c];
    }
}

/// `running = (1 - momentum) running + momentum batch` for one channel's mean and (unbiased)
/// variance, as PyTorch updates them (shared by [`BatchNorm`] and `conv::BatchNorm2d`). A batch
/// whose statistics are NaN or infinite (a step the training loop then refuses) leaves them
/// alone, so it cannot poison the statistics that inference relies on.
pub(crate) fn update_running<T: Scalar>(
    running_mean: &mut T,
    running_var: &mut T,
    momentum: T,
    mean: T,
    unbiased_var: T,
) {
    if mean.is_finite() && unbiased_var.is_finite() {
        *running_mean = (T::ONE - momentum) * *running_mean + momentum * mean;
        *running_var = (T::ONE - momentum) * *running_var + momentum * unbiased_var;
    }
}

/// What a batchnorm's `eps` admits: positive (the inverse square root of a zero variance
/// would be infinite).
const EPS: (fn(f64) -> bool, &str) = (|v| v > 0.0, "it must be positive");
/// What a batchnorm's `momentum`, the newest batch's weight in the running statistics,
/// admits.
const MOMENTUM: (fn(f64) -> bool, &str) =
    (|v| (0.0..=1.0).contains(&v), "it must be between 0 and 1");

/// A batchnorm's settings, `eps` and `momentum`, shared by [`BatchNorm`] and the
/// convolutional ones.
pub(crate) fn visit_bn_settings<T: Scalar>((eps, momentum): (T, T), f: &mut dyn FnMut(Setting<T>)) {
    let mut values = [eps, momentum];
    visit_bn_settings_mut(values.each_mut().into(), &mut |s| {
        f(Setting {
            layer: s.layer,
            name: s.name,
            value: *s.value,
            admits: s.admits,
            requirement: s.requirement,
        })
    });
}

/// [`visit_bn_settings`], mutable.
pub(crate) fn visit_bn_settings_mut<T: Scalar>(
    (eps, momentum): (&mut T, &mut T),
    f: &mut dyn FnMut(SettingMut<'_, T>),
) {
    for (name, value, (admits, requirement)) in
        [("eps", eps, EPS), ("momentum", momentum, MOMENTUM)]
    {
        f(SettingMut {
            layer: "",
            name,
            value,
            admits,
            requirement,
        });
    }
}

/// The four tensors of a batch normalization over `N` channels, as its visitors show them
/// (shared by [`BatchNorm`] and `conv::BatchNorm2d`).
pub(crate) fn visit_bn_tensors<T: Scalar, const N: usize>(
    (gamma, beta, mean, var): (&[T; N], &[T; N], &[T; N], &[T; N]),
    shape: &[usize],
    f: &mut dyn FnMut(Tensor<'_, T>),
) {
    let (t, s) = (TensorKind::Trainable, TensorKind::Statistic);
    for (name, kind, data) in [
        ("gamma", t, gamma),
        ("beta", t, beta),
        ("running_mean", s, mean),
        ("running_var", s, var),
    ] {
        f(Tensor {
            layer: "",
            name,
            kind,
            shape,
            data,
        });
    }
}

/// [`visit_bn_tensors`], mutably.
pub(crate) fn visit_bn_tensors_mut<T: Scalar, const N: usize>(
    (gamma, beta, mean, var): (&mut [T; N], &mut [T; N], &mut [T; N], &mut [T; N]),
    shape: &[usize],
    f: &mut dyn FnMut(TensorMut<'_, T>),
) {
    let (t, s) = (TensorKind::Trainable, TensorKind::Statistic);
    for (name, kind, data) in [
        ("gamma", t, gamma),
        ("beta", t, beta),
        ("running_mean", s, mean),
        ("running_var", s, var),
    ] {
        f(TensorMut {
            layer: "",
            name,
            kind,
            shape,
            data,
        });
    }
}

/// The trainable `gamma` and `beta` of a batch normalization, with their gradients and
/// optimizer state (shared by [`BatchNorm`] and `conv::BatchNorm2d`).
pub(crate) fn visit_bn_params<T: Scalar, const N: usize, const S: usize>(
    gamma: &mut [T; N],
    beta: &mut [T; N],
    grads: &BatchNormGrads<T, N>,
    mut states: [&mut BatchNormGrads<T, N>; S],
    f: &mut dyn FnMut(Param<'_, T, S>),
) {
    f(Param {
        layer: "",
        name: "gamma",
        value: gamma,
        grad: &grads.gamma,
        state: split_states(&mut states, |g| &mut g.gamma[..]),
    });
    f(Param {
        layer: "",
        name: "beta",
        value: beta,
        grad: &grads.beta,
        state: split_states(&mut states, |g| &mut g.beta[..]),
    });
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use gradflow_tensor::gradcheck::test_values;

    #[test]
    fn training_mode_gradients_match_finite_differences() {
        let mut bn = BatchNorm::<f64, 4>::new();
        bn.gamma = [1.5, -0.7, 0.3, 2.0];
        bn.beta = [0.1, 0.2, -0.3, 0.0];
        let x: [[f64; 4]; 5] =
            core::array::from_fn(|b| test_values::<4>(b as u64 + 50).map(|v| 3.0 * v + 1.0));
        let report = check_layer(&mut bn, &x);
        assert!(report.passes(1e-6), "{report:?}");
    }

    /// 64 channels take the AVX-512 copies where the CPU has them ([`WIDE_MIN_CHANNELS`]):
    /// their gradients match finite differences in `f64`, and in `f32` the copies the
    /// machine picks, forward and backward, give the plain loops' bits (the backward with and
    /// without `dx`), on channel counts on both sides of the threshold and awkward batches.
    #[test]
    fn wide_copies_match_finite_differences_and_the_plain_loops() {
        const C: usize = WIDE_MIN_CHANNELS;
        let mut bn = BatchNorm::<f64, C>::new();
        bn.gamma = test_values::<C>(60).map(|v| 1.0 + v);
        bn.beta = test_values::<C>(61);
        let x: [[f64; C]; 6] =
            core::array::from_fn(|b| test_values::<C>(b as u64 + 70).map(|v| 2.0 * v - 0.5));
        let report = check_layer(&mut bn, &x);
        assert!(report.passes(1e-6), "{report:?}");

        same_bits_as_the_plain_loops::<64, 32>();
        same_bits_as_the_plain_loops::<64, 3>();
        same_bits_as_the_plain_loops::<127, 17>();
        same_bits_as_the_plain_loops::<127, 2>();
        same_bits_as_the_plain_loops::<17, 64>();
        same_bits_as_the_plain_loops::<3, 127>();
    }

    fn same_bits_as_the_plain_loops<const C: usize, const B: usize>() {
        let narrow = |r: [f64; C]| r.map(|v| v as f32);
        let x: [[f32; C]; B] =
            core::array::from_fn(|b| narrow(test_values::<C>(b as u64 + 80)).map(|v| v * 3.0));
        let dy: [[f32; C]; B] = core::array::from_fn(|b| narrow(test_values::<C>(b as u64 + 500)));
        let mut bn = BatchNorm::<f32, C>::new();
        bn.gamma = narrow(test_values::<C>(60)).map(|v| 1.0 + v);
        bn.beta = narrow(test_values::<C>(61));
        let mut plain = bn.clone();
        let mut y = [[0.0f32; C]; B];
        let mut cache = Zeroable::zeroed();
        bn.forward_train(&x, &mut y, &mut cache);
        let (mut plain_y, mut plain_cache) = ([[0.0f32; C]; B], Zeroable::zeroed());
        plain
            .channels()
            .train_loops(&x, &mut plain_y, &mut plain_cache);
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
        let shape = std::format!("{C} channels, batch {B}");
        assert_eq!(
            bits(y.as_flattened()),
            bits(plain_y.as_flattened()),
            "{shape}"
        );
        let BatchNormCache { mean, inv_std } = plain_cache;
        assert_eq!(bits(&cache.mean), bits(&mean), "{shape}");
        assert_eq!(bits(&cache.inv_std), bits(&inv_std), "{shape}");
        assert_eq!(bits(&bn.running_mean), bits(&plain.running_mean), "{shape}");
        assert_eq!(bits(&bn.running_var), bits(&plain.running_var), "{shape}");

        let run = |dispatch: bool, with_dx: bool| {
            let mut dx = [[0.0f32; C]; B];
            let mut grads: BatchNormGrads<f32, C> = Zeroable::zeroed();
            let dx_arg = with_dx.then_some(&mut dx[..]);
            if dispatch {
                backward_channels(&bn.gamma, &cache, &x, &dy, dx_arg, Some(&mut grads));
            } else {
                backward_loops(&bn.gamma, &cache, &x, &dy, dx_arg, Some(&mut grads));
            }
            (
                bits(dx.as_flattened()),
                bits(&grads.gamma),
                bits(&grads.beta),
            )
        };
        for with_dx in [true, false] {
            let (dispatched, loops) = (run(true, with_dx), run(false, with_dx));
            assert_eq!(dispatched, loops, "{shape}, dx: {with_dx}");
        }
    }

    #[test]
    fn training_output_is_normalized_per_feature() {
        let mut bn = BatchNorm::<f64, 2>::new();
        let x = [[1.0, 100.0], [2.0, 300.0], [3.0, 500.0], [6.0, 700.0]];
        let mut y = [[0.0; 2]; 4];
        let mut cache = Zeroable::zeroed();
        bn.forward_train(&x, &mut y, &mut cache);
        for n in 0..2 {
            let mean: f64 = y.iter().map(|r| r[n]).sum::<f64>() / 4.0;
            let var: f64 = y.iter().map(|r| (r[n] - mean).powi(2)).sum::<f64>() / 4.0;
            assert!(
                mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-4,
                "{mean} {var}"
            );
        }
    }

    /// A constant channel is normalized to `beta`, whatever its value: a plain f32 sum of the
    /// batch once rounded enough to pass for a spread, and gave +-1.
    #[test]
    fn a_constant_f32_channel_outputs_beta_at_any_value() {
        fn check<const B: usize>(value: f32) {
            let mut bn = BatchNorm::<f32, 2>::new();
            bn.beta = [0.25, -0.5];
            let x = [[value, 1.0]; B];
            let mut y = [[0.0; 2]; B];
            let mut cache = Zeroable::zeroed();
            bn.forward_train(&x, &mut y, &mut cache);
            assert!(
                y.iter().all(|r| r == &[0.25, -0.5]),
                "{value} x {B}: {:?}",
                y[0]
            );
            assert_eq!(bn.running_var, [0.9, 0.9], "{value} x {B}");
        }
        for value in [100000.1, 30000.3, 3e7, -123.456, 1e30] {
            check::<32>(value);
            check::<100>(value);
            check::<7>(value);
        }
    }

    /// A variance that overflows the element type is NaN, not a channel silently stuck at
    /// `beta` with no gradient: the loss is then NaN and the training step refused.
    #[test]
    fn an_overflowing_variance_makes_the_channel_nan() {
        let mut bn = BatchNorm::<f32, 2>::new();
        let x = [[1e20, 1.0], [-1e20, 2.0], [3e19, 3.0], [0.0, 4.0]];
        let mut y = [[0.0; 2]; 4];
        let mut cache = Zeroable::zeroed();
        bn.forward_train(&x, &mut y, &mut cache);
        assert!(y.iter().all(|r| r[0].is_nan() && r[1].is_finite()), "{y:?}");
        // The overflowing channel's statistics are left alone; the other's are updated.
        assert_eq!(bn.running_var[0], 1.0);
        assert!(bn.running_var[1] > 1.0, "{:?}", bn.running_var);
        // Deviations just below the limit are still normalized.
        let x = [[1e18, 1.0], [-1e18, 2.0], [3e17, 3.0], [0.0, 4.0]];
        bn.forward_train(&x, &mut y, &mut cache);
        let mean: f32 = y.iter().map(|r| r[0]).sum::<f32>() / 4.0;
        assert!(
            y.iter().all(|r| r[0].is_finite()) && mean.abs() < 1e-5,
            "{y:?}"
        );
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
        let mut bn = BatchNorm::<f64, 2>::new();
        let mut cache = Zeroable::zeroed();
        let mut y = [[0.0; 2]; 32];
        for _ in 0..400 {
            let x: [[f64; 2]; 32] =
                core::array::from_fn(|_| [dist[0].sample(&mut rng), dist[1].sample(&mut rng)]);
            bn.forward_train(&x, &mut y, &mut cache);
        }
        assert!(
            (bn.running_mean[0] - 3.0).abs() < 0.15,
            "{:?}",
            bn.running_mean
        );
        assert!(
            (bn.running_mean[1] + 1.0).abs() < 0.05,
            "{:?}",
            bn.running_mean
        );
        assert!(
            (bn.running_var[0] - 4.0).abs() < 0.5,
            "{:?}",
            bn.running_var
        );
        assert!(
            (bn.running_var[1] - 0.25).abs() < 0.04,
            "{:?}",
            bn.running_var
        );

        // A batch holding a NaN leaves the statistics as they were.
        let before = (bn.running_mean, bn.running_var);
        let mut bad = [[1.0; 2]; 32];
        bad[3][1] = f64::NAN;
        bn.forward_train(&bad, &mut y, &mut cache);
        assert_eq!(bn.running_mean[1], before.0[1]);
        assert_eq!(bn.running_var[1], before.1[1]);

        // Inference uses the running statistics, not the batch's: one sample at the mean
        // maps to beta.
        let mut out = [[0.0; 2]; 1];
        bn.forward(&[bn.running_mean], &mut out);
        assert!(out[0].iter().all(|v| v.abs() < 1e-9), "{out:?}");
    }
}
