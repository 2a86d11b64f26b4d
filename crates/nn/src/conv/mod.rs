//! Layers for small convolutional networks: convolution, pooling, flattening and
//! per-channel batch normalization, in one and two spatial dimensions.
//!
//! Layout is channels-first, as in PyTorch: one 2d sample is `[[[T; W]; H]; C]` (channel,
//! row, column) and one 1d sample is `[[T; L]; C]`. Nested arrays keep every shape a plain
//! type on stable Rust.
//!
//! # Shape rule
//! Stable Rust cannot compute an output size from input sizes in a type, so every layer takes
//! its output sizes as const parameters too. Along each spatial axis,
//!
//! ```text
//! out = (in + 2 * padding - kernel) / stride + 1      (rounded down, as in PyTorch)
//! ```
//!
//! which [`output_len`] computes. Each method checks the numbers with an inline
//! `const { .. }` block, so a hand-written type with inconsistent sizes fails `cargo build`
//! (not `cargo check`: the check runs after monomorphization). The `network!` macro does the
//! arithmetic itself and always passes consistent sizes.
//!
//! 'Same' padding for an odd kernel is `padding = kernel / 2`: with stride 1 the output keeps
//! the input's size; with stride 2 it is `ceil(in / 2)`, as PyTorch's `padding=kernel//2`.
//!
//! ```
//! use gradflow_nn::conv::{output_len, Conv2d};
//! // 28x28 grayscale in, 8 channels out, 3x3 kernel, stride 2, 'same' padding: 14x14 out.
//! type Stem = Conv2d<f32, 1, 28, 28, 8, 3, 2, 1, { output_len(28, 3, 2, 1) }, 14>;
//! assert_eq!(output_len(28, 3, 2, 1), 14);
//! ```

mod activation;
mod batchnorm2d;
mod conv1d;
mod conv2d;
mod flatten;
mod global_pool;
mod pool1d;
mod pool2d;

pub use activation::{Activation1d, Activation2d};
pub use batchnorm2d::{BatchNorm2d, BatchNorm2dCache};
pub use conv1d::{Conv1d, Conv1dGrads};
pub use conv2d::{Conv2d, Conv2dGrads};
pub use flatten::{Flatten1d, Flatten2d};
pub use global_pool::{GlobalAvgPool1d, GlobalAvgPool2d};
pub use pool1d::{AvgPool1d, MaxPool1d};
pub use pool2d::{AvgPool2d, MaxPool2d};

use core::ops::Range;
use gradflow_tensor::Scalar;

/// The output length of a convolution or pooling window along one axis:
/// `(input + 2 * padding - kernel) / stride + 1`, rounded down as in PyTorch.
///
/// Returns 0 when the kernel does not fit in the padded input or the stride is 0 (no layer
/// accepts such sizes).
pub const fn output_len(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    if stride == 0 || kernel == 0 || kernel > input + 2 * padding {
        0
    } else {
        (input + 2 * padding - kernel) / stride + 1
    }
}

/// Fails const evaluation unless `output` is the output length of a window of `kernel` moved
/// by `stride` over `input` padded by `padding` on both sides. Layers call it inside
/// `const { .. }`, so a mismatch is a build error.
pub(crate) const fn check_axis(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    output: usize,
) {
    assert!(stride >= 1, "the stride must be at least 1");
    assert!(kernel >= 1, "the kernel size must be at least 1");
    assert!(
        kernel <= input + 2 * padding,
        "the kernel is larger than the padded input"
    );
    assert!(
        output == (input + 2 * padding - kernel) / stride + 1,
        "the output size must be (input + 2 * padding - kernel) / stride + 1, rounded down"
    );
}

/// For kernel offset `k`, the outputs `o` whose tap `o * stride + k - padding` lands on a real
/// input element rather than on padding, and the input index of the first such tap. Taps of
/// consecutive outputs are `stride` apart. When no output qualifies the range is empty and
/// the index 0, so callers may slice with it unconditionally.
pub(crate) fn taps(
    k: usize,
    stride: usize,
    padding: usize,
    input: usize,
    output: usize,
) -> (Range<usize>, usize) {
    let lo = padding.saturating_sub(k).div_ceil(stride);
    let hi = (input + padding)
        .saturating_sub(k)
        .div_ceil(stride)
        .min(output);
    if lo < hi {
        (lo..hi, lo * stride + k - padding)
    } else {
        (0..0, 0)
    }
}

/// The first largest of `values` (pairs of index and value), with its index; a NaN beats any
/// number, so that it propagates through max pooling.
pub(crate) fn first_max<T: Scalar>(mut values: impl Iterator<Item = (usize, T)>) -> (T, usize) {
    let Some((mut at, mut best)) = values.next() else {
        return (T::ZERO, 0);
    };
    for (i, v) in values {
        if v > best || (v.is_nan() && !best.is_nan()) {
            (at, best) = (i, v);
        }
    }
    (best, at)
}

/// Implements [`Trainable`](crate::layer::Trainable) with `Grads = ()` for a layer without
/// parameters, whose const parameters are all `usize`.
macro_rules! parameter_free {
    ($name:ident < $($c:ident),* >) => {
        impl<T: gradflow_tensor::Scalar, $(const $c: usize),*> $crate::layer::Trainable<T>
            for $name<T, $($c),*>
        {
            type Grads = ();

            fn visit_params<const STATES: usize>(
                &mut self,
                _: &(),
                _: [&mut (); STATES],
                _: &mut dyn FnMut($crate::layer::Param<'_, T, STATES>),
            ) {
            }
        }
    };
}
pub(crate) use parameter_free;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A batch whose values are all different, `1 / n` apart in `[-0.5, 0.5)`, in scrambled
    /// order: a max-pooling window's winner then survives the gradient check's nudges.
    pub(crate) fn distinct<X: bytemuck::Pod>() -> X {
        let mut x: X = bytemuck::Zeroable::zeroed();
        let values: &mut [f64] = bytemuck::cast_slice_mut(core::slice::from_mut(&mut x));
        let n = values.len();
        assert!(
            !n.is_multiple_of(37),
            "37 must be coprime with the length to scramble it"
        );
        for (i, v) in values.iter_mut().enumerate() {
            *v = ((i * 37) % n) as f64 / n as f64 - 0.5;
        }
        x
    }

    #[test]
    fn output_len_matches_pytorch() {
        assert_eq!(output_len(5, 3, 1, 0), 3);
        assert_eq!(output_len(5, 3, 1, 1), 5); // 'same'
        assert_eq!(output_len(5, 3, 2, 1), 3); // ceil(5 / 2)
        assert_eq!(output_len(4, 3, 2, 1), 2); // floor((4 + 2 - 3) / 2) + 1
        assert_eq!(output_len(5, 2, 2, 0), 2); // the last row is never read
        assert_eq!(output_len(2, 3, 1, 0), 0);
    }

    #[test]
    fn taps_skip_padding() {
        // in 5, k 3, stride 1, padding 1: offset 0 reads x[o - 1], valid for o in 1..5.
        assert_eq!(taps(0, 1, 1, 5, 5), (1..5, 0));
        assert_eq!(taps(1, 1, 1, 5, 5), (0..5, 0));
        assert_eq!(taps(2, 1, 1, 5, 5), (0..4, 1));
        // stride 2, padding 1, in 4, out 2: offset 0 reads x[2o - 1], valid for o = 1.
        assert_eq!(taps(0, 2, 1, 4, 2), (1..2, 1));
        assert_eq!(taps(2, 2, 1, 4, 2), (0..2, 1));
        // Padding wider than the kernel: nothing is read.
        assert_eq!(taps(0, 1, 3, 1, 5), (3..4, 0));
        assert_eq!(taps(0, 1, 9, 1, 3), (0..0, 0));
    }
}
