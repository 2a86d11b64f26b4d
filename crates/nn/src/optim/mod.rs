//! Optimizers: SGD (momentum, Nesterov, weight decay) and Adam.
//!
//! An optimizer's state is a value of the model's own `Grads` type, so the model's
//! `visit_params` hands it every parameter with its gradient and its state slices together.

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::layer::Trainable;
use core::fmt;
use gradflow_tensor::simd::with_wide_vectors;
use gradflow_tensor::{sq, Scalar};

/// Updates a model's trainable parameters from their accumulated gradients.
pub trait Optimizer<T: Scalar, M: Trainable<T> + ?Sized> {
    /// One update. Gradients are read, not cleared.
    ///
    /// When any gradient is NaN or infinite the step is refused: parameters and optimizer
    /// state stay exactly as they were, and the outcome says so (`applied == false`). So is a
    /// step whose gradient is finite but too large for `T` ([`max_grad_norm_for`]: its norm,
    /// after clipping, above `sqrt(T::MAX / 2)`, 1.3e19 in f32), whose squares and update
    /// could overflow to infinity (`too_large`); with weight decay, the gradient measured is
    /// the one the update applies, the clipped gradient plus `weight_decay * w`. So is
    /// every step of an optimizer whose settings are invalid, as those of one made by
    /// [`crate::memory::const_zeroed`] are until it is configured (`invalid_config` names
    /// the setting).
    fn step(&mut self, model: &mut M, grads: &M::Grads) -> StepOutcome;

    /// Whether the settings are valid: the same check as at construction. `fit` asks before
    /// training.
    fn check_config(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// One buffer of an optimizer's state for one trainable tensor, as a checkpoint saves it.
#[derive(Debug)]
pub struct StateTensor<'a, T> {
    /// Field name of the layer in its network (`"dense_0"`).
    pub layer: &'static str,
    /// Name of the parameter tensor within its layer (`"weight"`).
    pub name: &'static str,
    /// Which state buffer: `"velocity"` (SGD), `"m"` or `"v"` (Adam).
    pub slot: &'static str,
    /// The state values, one per parameter value, row-major like the parameter.
    pub data: &'a mut [T],
}

/// The state an optimizer carries from step to step, opened up for checkpoints: every
/// buffer (named by the parameter it belongs to) and the step counter.
#[cfg(feature = "alloc")]
pub trait OptimizerState<T: Scalar, M: Trainable<T> + ?Sized> {
    /// Short name of the optimizer (`"sgd"`, `"adam"`), stored in checkpoints.
    const NAME: &'static str;

    /// Calls `f` once per state buffer of each trainable tensor of `model`, in a fixed
    /// order. The model is only read; it is `&mut` because its parameter visitor is.
    fn visit_state(&mut self, model: &mut M, f: &mut dyn FnMut(StateTensor<'_, T>));

    /// Steps taken so far (0 for an optimizer that does not count them).
    fn step_count(&self) -> u64 {
        0
    }

    /// Restores the step counter (ignored by an optimizer that does not count steps).
    fn set_step_count(&mut self, steps: u64) {
        let _ = steps;
    }
}

/// What an optimizer step did. An optimizer written outside this crate builds one with
/// [`StepOutcome::applied`], [`StepOutcome::refused`] or [`StepOutcome::invalid`] (fields may
/// be added).
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a step with a non-finite gradient is refused; check `applied`"]
#[non_exhaustive]
pub struct StepOutcome {
    /// Global L2 norm of the gradients before clipping (NaN or infinite if any gradient was).
    pub grad_norm: f64,
    /// Factor the gradients were scaled by (1 unless clipping applied).
    pub scale: f64,
    /// Whether the parameters were updated.
    pub applied: bool,
    /// Why a step was refused without looking at the gradients: a setting that is invalid
    /// (`grad_norm` is then NaN).
    pub invalid_config: Option<ConfigError>,
    /// Whether the step was refused because its gradient, though finite, is too large for the
    /// element type (see [`max_grad_norm_for`]); with weight decay, the gradient plus
    /// `weight_decay * w`, which may overflow where the gradient alone does not. `grad_norm`
    /// is still the norm of the gradient alone.
    pub too_large: bool,
}

impl StepOutcome {
    /// A step that updated the parameters: the gradients' norm before clipping, and the
    /// factor clipping scaled them by.
    pub fn applied(grad_norm: f64, scale: f64) -> Self {
        Self {
            grad_norm,
            scale,
            applied: true,
            invalid_config: None,
            too_large: false,
        }
    }

    /// A step refused for its gradients (`grad_norm` NaN or infinite): nothing changed.
    pub fn refused(grad_norm: f64) -> Self {
        Self {
            grad_norm,
            scale: 1.0,
            applied: false,
            invalid_config: None,
            too_large: false,
        }
    }

    /// A step refused because its finite gradient (norm `grad_norm` before clipping) is too
    /// large for the element type: nothing changed.
    pub fn too_large(grad_norm: f64) -> Self {
        Self {
            too_large: true,
            ..Self::refused(grad_norm)
        }
    }

    /// A step refused because a setting is invalid: nothing changed.
    pub fn invalid(error: ConfigError) -> Self {
        Self {
            invalid_config: Some(error),
            ..Self::refused(f64::NAN)
        }
    }
}

/// Global L2 norm of all of a model's trainable gradients, accumulated in f64: NaN if any
/// gradient is NaN, infinite if any is infinite (or the norm exceeds f64's range).
pub fn grad_norm<T: Scalar, M: Trainable<T> + ?Sized>(model: &mut M, grads: &M::Grads) -> f64 {
    l2_norm(|f| model.visit_params::<0>(grads, [], &mut |p| f(p.grad)))
}

/// L2 norm, in f64, of every value in the slices that `visit` hands to its callback (it is
/// called once more, twice in all, when the squares overflow): NaN if any value is NaN,
/// infinite if any is infinite (or the norm exceeds f64's range).
pub(crate) fn l2_norm<T: Scalar>(mut visit: impl FnMut(&mut dyn FnMut(&[T]))) -> f64 {
    let mut sum = 0.0f64;
    visit(&mut |values| sum += sum_of_squares(values));
    if sum.is_infinite() {
        // The squares overflowed f64 (an f64 value beyond 1e154) or a value is infinite:
        // measure in units of the largest magnitude, which is finite in the first case (a
        // NaN would have made the sum NaN, not infinite).
        let mut largest = 0.0f64;
        visit(&mut |values| {
            for v in values {
                largest = largest.max(v.to_f64().abs());
            }
        });
        if !largest.is_finite() {
            return largest;
        }
        let mut scaled = 0.0f64;
        visit(&mut |values| {
            for v in values {
                scaled += sq(v.to_f64() / largest);
            }
        });
        return largest * libm::sqrt(scaled);
    }
    libm::sqrt(sum)
}

/// Tensors at least twice this long are cut in halves, recursively: the halves' sums of
/// squares are added in a fixed tree (so the norm does not depend on the thread count or the
/// `parallel` feature), and with `parallel` the halves of an update or a sum run on different
/// threads. Shorter blocks are not worth handing to another core.
const BLOCK_LEN: usize = 1 << 15;

/// `sum(g^2)` in f64. Within a block, sixteen independent accumulators (four 4-lane
/// registers): fewer would chain each addition on the previous one's latency, and this runs
/// over every parameter every step.
fn sum_of_squares<T: Scalar>(values: &[T]) -> f64 {
    if values.len() >= 2 * BLOCK_LEN {
        let (left, right) = values.split_at(values.len() / 2);
        let (l, r) = join(|| sum_of_squares(left), || sum_of_squares(right));
        return l + r;
    }
    #[cfg(target_arch = "x86_64")]
    if gradflow_tensor::gemm::wide_f32_available() {
        // SAFETY: the CPU executes AVX-512F, AVX2 and FMA instructions (checked just above).
        return unsafe { sum_of_squares_avx512(values) };
    }
    #[cfg(target_arch = "x86_64")]
    if gradflow_tensor::gemm::fast_f32_available() {
        // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
        return unsafe { sum_of_squares_avx2(values) };
    }
    sum_of_squares_loop(values)
}

/// [`sum_of_squares_loop`] compiled for AVX-512, as [`sum_of_squares_avx2`] is for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn sum_of_squares_avx512<T: Scalar>(values: &[T]) -> f64 {
    sum_of_squares_loop(values)
}

/// [`sum_of_squares_loop`] compiled for AVX2: the same additions in the same order, so the
/// same sum. A named function, not `with_wide_vectors`: the compiler did not inline this loop's
/// closure into the AVX2 copy.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sum_of_squares_avx2<T: Scalar>(values: &[T]) -> f64 {
    sum_of_squares_loop(values)
}

#[inline(always)]
fn sum_of_squares_loop<T: Scalar>(values: &[T]) -> f64 {
    const LANES: usize = 16;
    let mut acc = [0.0f64; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &g) in acc.iter_mut().zip(chunk) {
            let g = g.to_f64();
            *a += g * g;
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|g| sq(g.to_f64())).sum();
    acc.iter().sum::<f64>() + tail
}

/// Runs an elementwise optimizer update over one parameter tensor: `update(values, grads,
/// states)` on the whole of it, or, for a long tensor, on halves (recursively) which the
/// `parallel` feature spreads over the rayon pool. The update is elementwise, so the result is
/// the same however the tensor is cut.
pub(crate) fn update_blocks<T: Scalar, const S: usize>(
    value: &mut [T],
    grad: &[T],
    state: [&mut [T]; S],
    update: &(impl Fn(&mut [T], &[T], [&mut [T]; S]) + Sync),
) {
    if value.len() < 2 * BLOCK_LEN {
        with_wide_vectors(|| update(value, grad, state));
        return;
    }
    let mid = value.len() / 2;
    let (v0, v1) = value.split_at_mut(mid);
    let (g0, g1) = grad.split_at(mid);
    let mut halves = state.map(|s| {
        let (a, b) = s.split_at_mut(mid);
        (Some(a), Some(b))
    });
    let s0 = core::array::from_fn(|i| halves[i].0.take().expect("split once"));
    let s1 = core::array::from_fn(|i| halves[i].1.take().expect("split once"));
    join(
        || update_blocks(v0, g0, s0, update),
        || update_blocks(v1, g1, s1, update),
    );
}

/// `rayon::join` with the `parallel` feature (when the pool has more than one thread), the two
/// calls in order otherwise.
fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(feature = "parallel")]
    if rayon::current_num_threads() > 1 {
        return rayon::join(a, b);
    }
    (a(), b())
}

/// The largest gradient norm (after clipping) an optimizer step applies in element type `T`:
/// `sqrt(T::MAX / 2)`, 1.3e19 for f32 and 9.5e153 for f64 (whose norm [`grad_norm`] still
/// measures, in units of the largest gradient, when the squares overflow). Below it no gradient's square overflows, so Adam's second moment, a
/// convex mix of squares, stays finite; above it a finite gradient of 1e22 would make that
/// moment infinite, and the weight's later updates silently 0. A larger norm is a diverged
/// run, refused like a NaN; `clip_grad_norm` bounds it instead. With weight decay the norm is
/// that of what the update applies, `g + weight_decay * w` (`g` clipped): a large weight times
/// a large decay can overflow where the gradient does not, and clipping does not bound it.
pub fn max_grad_norm_for<T: Scalar>() -> f64 {
    libm::sqrt(T::MAX.to_f64() / 2.0)
}

/// Why a step cannot be applied, found by [`clip_scale`].
pub(crate) enum Unusable {
    /// The gradient norm (given) is NaN or infinite.
    NonFinite(f64),
    /// The gradient norm (given) after clipping, or that of the gradient plus weight decay,
    /// exceeds [`max_grad_norm_for`].
    TooLarge(f64),
}

impl Unusable {
    /// The outcome of the refused step.
    pub(crate) fn outcome(self) -> StepOutcome {
        match self {
            Unusable::NonFinite(norm) => StepOutcome::refused(norm),
            Unusable::TooLarge(norm) => StepOutcome::too_large(norm),
        }
    }
}

/// Added to the norm when clipping, as PyTorch's `clip_grad_norm_` adds it.
pub const CLIP_EPS: f64 = 1e-6;

/// The gradient scale for clipping to global norm `max_norm` (0 means no clipping): the norm
/// and factor `min(1, max_norm / (norm + CLIP_EPS))`, PyTorch's, or why the step cannot be
/// applied: a gradient that is not finite, or too large for `T` once clipped, or, with L2
/// weight decay `weight_decay` added to the gradient (SGD's and Adam's), a clipped gradient
/// plus decay `scale * g + weight_decay * w` too large for `T` (see [`decayed_norm`]).
pub(crate) fn clip_scale<T: Scalar, M: Trainable<T> + ?Sized>(
    model: &mut M,
    grads: &M::Grads,
    max_norm: f64,
    weight_decay: f64,
) -> Result<(f64, f64), Unusable> {
    let norm = grad_norm(model, grads);
    if !norm.is_finite() {
        return Err(Unusable::NonFinite(norm));
    }
    let scale = if max_norm > 0.0 {
        (max_norm / (norm + CLIP_EPS)).min(1.0)
    } else {
        1.0
    };
    if norm * scale > max_grad_norm_for::<T>() {
        return Err(Unusable::TooLarge(norm));
    }
    // Without decay, what the update applies is the clipped gradient, measured above.
    if weight_decay != 0.0
        && decayed_norm(model, grads, scale, weight_decay) > max_grad_norm_for::<T>()
    {
        return Err(Unusable::TooLarge(norm));
    }
    Ok((norm, scale))
}

/// Global L2 norm of the gradient an L2-decaying update applies, `k * g + wd * w` for every
/// parameter value `w` with gradient `g`, where `k` and `wd` are `scale` and `weight_decay`
/// in `T`: computed in `T` with the update's own operations, so it is infinite when a value
/// overflows `T` there (or its square f64, far beyond [`max_grad_norm_for`] either way). NaN
/// only for a weight that is not finite already (NaN, or infinite times a decay that is 0 in
/// `T`): not refused then, as without decay.
fn decayed_norm<T: Scalar, M: Trainable<T> + ?Sized>(
    model: &mut M,
    grads: &M::Grads,
    scale: f64,
    weight_decay: f64,
) -> f64 {
    let (k, wd) = (T::from_f64(scale), T::from_f64(weight_decay));
    let mut sum = 0.0f64;
    model.visit_params::<0>(grads, [], &mut |p| {
        sum += decayed_sum_of_squares(p.value, p.grad, k, wd);
    });
    libm::sqrt(sum)
}

/// `sum((k * g + wd * w)^2)` in f64, cut in blocks as [`sum_of_squares`] is.
fn decayed_sum_of_squares<T: Scalar>(value: &[T], grad: &[T], k: T, wd: T) -> f64 {
    if value.len() >= 2 * BLOCK_LEN {
        let mid = value.len() / 2;
        let ((v0, v1), (g0, g1)) = (value.split_at(mid), grad.split_at(mid));
        let (l, r) = join(
            || decayed_sum_of_squares(v0, g0, k, wd),
            || decayed_sum_of_squares(v1, g1, k, wd),
        );
        return l + r;
    }
    with_wide_vectors(|| {
        const LANES: usize = 16;
        let mut acc = [0.0f64; LANES];
        let (mut values, mut grads) = (value.chunks_exact(LANES), grad.chunks_exact(LANES));
        for (w, g) in (&mut values).zip(&mut grads) {
            for ((a, &w), &g) in acc.iter_mut().zip(w).zip(g) {
                *a += sq((k * g + wd * w).to_f64());
            }
        }
        let tail: f64 = values
            .remainder()
            .iter()
            .zip(grads.remainder())
            .map(|(&w, &g)| sq((k * g + wd * w).to_f64()))
            .sum();
        acc.iter().sum::<f64>() + tail
    })
}

/// A hyperparameter outside its valid range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigError {
    /// The hyperparameter's name.
    pub name: &'static str,
    /// The value given.
    pub value: f64,
    /// What the value must satisfy.
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "optimizer setting `{}` = {} is invalid: it must be {}",
            self.name, self.value, self.expected
        )
    }
}

impl core::error::Error for ConfigError {}

/// `Ok` when `value` is finite and `ok` holds, else the error naming the setting.
pub(crate) fn require(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError {
            name,
            value,
            expected,
        })
    }
}

/// Whether `value` survives the narrowest scalar a network may use: the settings are given in
/// f64 but applied in the network's type, and an `lr` of 1e39 or an `eps` of 1e-50 would
/// become infinite or 0 in an f32 network (and its weights NaN).
fn normal_in_f32(value: f64) -> bool {
    (value as f32).is_normal()
}

/// The learning rate: positive and finite (at construction and in `set_lr`).
pub(crate) fn require_lr(lr: f64) -> Result<(), ConfigError> {
    require(
        "lr",
        lr,
        lr > 0.0 && normal_in_f32(lr),
        "positive and within f32's normal range (1.2e-38 to 3.4e38)",
    )
}

/// A decay rate (SGD's momentum, Adam's betas): in `[0, 1)`, also once rounded to f32.
pub(crate) fn require_decay_rate(name: &'static str, value: f64) -> Result<(), ConfigError> {
    require(
        name,
        value,
        (0.0..1.0).contains(&value) && (value as f32) < 1.0,
        "in [0, 1), and below 1 when rounded to f32",
    )
}

/// The least Adam `eps`: in f32 a gradient below about 1e-21 has a square that underflows
/// to 0, and the update becomes `lr * g / eps`. With `eps` at least 1e-20 that is about a
/// tenth of `lr`; with `eps` 1e-30 a gradient of 1e-25 moved a weight by 1e4 `lr` in one step.
pub const MIN_EPS: f64 = 1e-20;

/// Adam's `eps`: at least [`MIN_EPS`] (so it is not 0 in f32 either: a zero gradient would
/// then divide 0 by 0), and finite in f32.
pub(crate) fn require_eps(eps: f64) -> Result<(), ConfigError> {
    require(
        "eps",
        eps,
        (MIN_EPS..=f32::MAX as f64).contains(&eps),
        "at least 1e-20 (optim::MIN_EPS, below which an f32 gradient whose square underflows takes a step of lr * g / eps) and at most f32::MAX",
    )
}

/// The settings every optimizer shares after its own: weight decay and gradient clipping.
pub(crate) fn require_weight_decay_and_clipping(
    weight_decay: f64,
    max_grad_norm: f64,
) -> Result<(), ConfigError> {
    require(
        "weight_decay",
        weight_decay,
        weight_decay == 0.0 || (weight_decay > 0.0 && normal_in_f32(weight_decay)),
        "0 (off), or positive and within f32's normal range (1.2e-38 to 3.4e38)",
    )?;
    require(
        "max_grad_norm",
        max_grad_norm,
        max_grad_norm == 0.0 || (max_grad_norm > 0.0 && normal_in_f32(max_grad_norm)),
        "0 (off), or positive and within f32's normal range (1.2e-38 to 3.4e38)",
    )
}

/// An optimizer allocated zeroed on the heap, for models whose gradient-sized state would not
/// fit on the stack; `configure` then sets its hyperparameters.
#[cfg(feature = "alloc")]
pub(crate) fn zeroed_boxed<O: bytemuck::Zeroable>(
    configure: impl FnOnce(&mut O),
) -> alloc::boxed::Box<O> {
    let mut optimizer = crate::memory::zeroed_box::<O>();
    configure(&mut optimizer);
    optimizer
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::dense::{Dense, DenseGrads};
    use crate::memory::zeroed_box;
    extern crate std;
    use std::boxed::Box;

    /// 256 x 300 weights: longer than `2 * BLOCK_LEN`, so the updates and the norm are cut
    /// into blocks (run on two threads with `parallel`).
    type Wide = Dense<f32, 256, 300>;

    fn filled(seed: u32) -> (Box<Wide>, Box<DenseGrads<f32, 256, 300>>) {
        let mut layer = zeroed_box::<Wide>();
        let mut grads = zeroed_box::<DenseGrads<f32, 256, 300>>();
        let value = |i: usize| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / 4e9 - 0.5;
        for (i, w) in layer.weight.as_flattened_mut().iter_mut().enumerate() {
            *w = value(i);
        }
        for (i, g) in grads.weight.as_flattened_mut().iter_mut().enumerate() {
            *g = value(i + 7) * 0.1;
        }
        (layer, grads)
    }

    fn on_pools(check: impl Fn() + Send + Sync) {
        check();
        #[cfg(feature = "parallel")]
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(&check);
        }
    }

    #[test]
    fn blocked_updates_equal_the_elementwise_rule() {
        const { assert!(256 * 300 >= 2 * BLOCK_LEN) };
        on_pools(|| {
            let (mut layer, grads) = filled(1);
            let before = layer.clone();
            let mut sgd = Sgd::new_boxed(SgdConfig::new(0.1).momentum(0.9)).unwrap();
            for _ in 0..2 {
                assert!(sgd.step(&mut *layer, &grads).applied);
            }
            // Two momentum steps from zero velocity: v1 = g, v2 = 1.9 g, w -= 0.1 (v1 + v2),
            // in the optimizer's own f32 operation order.
            let (lr, mu) = (0.1f32, 0.9f32);
            let weights = before.weight.as_flattened();
            let g = grads.weight.as_flattened();
            for (i, (&w, &new)) in weights.iter().zip(layer.weight.as_flattened()).enumerate() {
                let v1 = mu * 0.0 + g[i];
                let w1 = w - lr * v1;
                let v2 = mu * v1 + g[i];
                assert_eq!(new, w1 - lr * v2, "weight {i}");
            }

            let (mut layer, grads) = filled(2);
            let before = layer.clone();
            let mut adam = Adam::new_boxed(AdamConfig::new(0.01)).unwrap();
            assert!(adam.step(&mut *layer, &grads).applied);
            // Adam's bias-corrected first step is `lr * g / (|g| + eps)`.
            let weights = before.weight.as_flattened();
            for (i, (&w, &new)) in weights.iter().zip(layer.weight.as_flattened()).enumerate() {
                let g = grads.weight.as_flattened()[i];
                let expected = w - 0.01 * g / (g.abs() + adam.config().eps as f32);
                assert!(
                    (new - expected).abs() < 1e-6,
                    "weight {i}: {new} vs {expected}"
                );
            }
        });
    }

    #[test]
    fn blocked_norm_matches_a_plain_sum_and_does_not_depend_on_threads() {
        let (mut layer, grads) = filled(3);
        let plain: f64 = grads
            .weight
            .as_flattened()
            .iter()
            .map(|&g| f64::from(g) * f64::from(g))
            .sum::<f64>()
            .sqrt();
        let first = grad_norm(&mut *layer, &grads);
        assert!((first - plain).abs() <= 1e-12 * plain, "{first} vs {plain}");
        on_pools(|| {
            let (mut layer, grads) = filled(3);
            assert_eq!(grad_norm(&mut *layer, &grads).to_bits(), first.to_bits());
        });
    }

    /// The dispatching sum of squares (AVX-512 or AVX2 on a machine that has them) and each
    /// SIMD copy the machine can run equal the plain loop bit for bit, on lengths around the
    /// 16-lane blocks.
    #[test]
    fn sum_of_squares_copies_agree_bit_for_bit() {
        let values: [f32; 300] = core::array::from_fn(|i| ((i * 37 % 101) as f32 - 50.0) * 0.37);
        for len in [0, 1, 3, 15, 16, 17, 64, 127, 300] {
            let fast = sum_of_squares(&values[..len]);
            let plain = sum_of_squares_loop(&values[..len]);
            assert_eq!(fast.to_bits(), plain.to_bits(), "length {len}");
            #[cfg(target_arch = "x86_64")]
            if gradflow_tensor::gemm::fast_f32_available() {
                // SAFETY: the CPU executes AVX2 and FMA instructions (checked just above).
                let avx2 = unsafe { sum_of_squares_avx2(&values[..len]) };
                assert_eq!(avx2.to_bits(), plain.to_bits(), "AVX2, length {len}");
            }
            #[cfg(target_arch = "x86_64")]
            if gradflow_tensor::gemm::wide_f32_available() {
                // SAFETY: the CPU executes AVX-512F, AVX2 and FMA instructions (checked above).
                let avx512 = unsafe { sum_of_squares_avx512(&values[..len]) };
                assert_eq!(avx512.to_bits(), plain.to_bits(), "AVX-512, length {len}");
            }
            let naive: f64 = values[..len].iter().map(|&v| sq(f64::from(v))).sum();
            assert!(
                (fast - naive).abs() <= 1e-12 * naive.max(1.0),
                "{fast} vs {naive}"
            );
        }
    }
}
