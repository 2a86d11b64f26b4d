//! Layers for small convolutional networks: convolution, pooling, flattening and
//! per-channel batch normalization, in one and two spatial dimensions.
//!
//! # Layout: channels-last
//! One 2d sample is `[[[T; C]; W]; H]` (row, column, channel: TensorFlow's NHWC, PyTorch's
//! `channels_last`) and one 1d sample is `[[T; C]; L]` (position, channel). A convolution's
//! weight is `[[[[T; OC]; C]; K]; K]` (`[K][C][OC]` in 1d): kernel row, kernel column, input
//! channel, output channel, the 2d analogue of [`Dense`](crate::Dense)'s input-major `[I][O]`.
//! Every kernel then runs its innermost loop over the channels of one position, which are
//! contiguous in the sample and in the weight, rather than along an image row of 8 or 28
//! values with a stride; and a convolution is a matrix product of input patches with the
//! weight, which is how `f32` convolutions run where [`Scalar::has_fast_gemm`] says the
//! machine has a fast product ([`gradflow_tensor::conv`]). `benches/conv_layout.rs` chose this
//! layout: on W6's 16 -> 16 channel
//! 3x3 convolution of 8x8 images it measured channels-last 2.7 times faster forward and 3.4
//! times faster forward and backward than the channels-first kernels it replaced (the bench
//! keeps a channels-first reference, so the comparison can be rerun). Nested arrays keep every
//! shape a plain type on stable Rust.
//!
//! Const parameters name the channels first and the spatial sizes after them, whatever the
//! memory order: `Conv2d<T, C, H, W, OC, K, S, P, OH, OW>` reads `[[[T; C]; W]; H]`.
//!
//! Serialized tensors (`visit_tensors`) are the arrays in memory order, with their shapes in
//! that order; PyTorch's `[OC, C, KH, KW]` conv weight maps to ours by
//! `weight.permute(2, 3, 1, 0)` (and a 1d weight `[OC, C, K]` by `permute(2, 1, 0)`).
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
pub use batchnorm2d::{BatchNorm1d, BatchNorm2d};
pub use conv1d::{Conv1d, Conv1dCache, Conv1dGrads};
pub use conv2d::{Conv2d, Conv2dCache, Conv2dGrads};
pub use flatten::{Flatten1d, Flatten2d};
pub use global_pool::{GlobalAvgPool1d, GlobalAvgPool2d};
pub use pool1d::{AvgPool1d, MaxPool1d};
pub use pool2d::{AvgPool2d, MaxPool2d};

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

/// For output `o` and kernel offset `k`, the input its tap reads (`o * stride + k - padding`),
/// unless that falls on the padding outside the `input` elements.
#[inline(always)]
pub(crate) fn tap(
    o: usize,
    k: usize,
    stride: usize,
    padding: usize,
    input: usize,
) -> Option<usize> {
    (o * stride + k).checked_sub(padding).filter(|&i| i < input)
}

/// For input `i` and kernel offset `k`, the output whose window reads `i` at that offset
/// (`o * stride + k - padding == i`), if there is one among the `output` outputs: the inverse
/// of [`tap`].
#[inline(always)]
pub(crate) fn reader(
    i: usize,
    k: usize,
    stride: usize,
    padding: usize,
    output: usize,
) -> Option<usize> {
    let at = (i + padding).checked_sub(k)?;
    (at % stride == 0 && at / stride < output).then_some(at / stride)
}

/// Max pooling of one more window element `x` (one value per channel) at position `at`:
/// where it beats `best`, it replaces it and its position. Elements come in window order, so
/// the first of equal values wins; a NaN beats any number, so that it propagates.
#[inline(always)]
pub(crate) fn max_into<T: Scalar>(best: &mut [T], argmax: &mut [u32], x: &[T], at: u32) {
    for ((b, a), &v) in best.iter_mut().zip(argmax).zip(x) {
        if v > *b || (v.is_nan() && !b.is_nan()) {
            (*b, *a) = (v, at);
        }
    }
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
        // in 5, k 3, stride 1, padding 1: output 0 reads x[-1], x[0], x[1].
        assert_eq!(
            [0, 1, 2].map(|k| tap(0, k, 1, 1, 5)),
            [None, Some(0), Some(1)]
        );
        assert_eq!(
            [0, 1, 2].map(|k| tap(4, k, 1, 1, 5)),
            [Some(3), Some(4), None]
        );
        // stride 2, padding 1, in 4: output 1 reads x[1..4].
        assert_eq!(
            [0, 1, 2].map(|k| tap(1, k, 2, 1, 4)),
            [Some(1), Some(2), Some(3)]
        );
        // Padding wider than the kernel: only output 3 of in 1, k 1, padding 3 reads x[0].
        assert_eq!([0, 3, 4].map(|o| tap(o, 0, 1, 3, 1)), [None, Some(0), None]);
    }

    #[test]
    #[cfg(feature = "std")]
    fn readers_invert_taps() {
        for (k, s, p, n) in [
            (3, 1, 1, 5),
            (3, 2, 1, 4),
            (2, 2, 0, 5),
            (3, 1, 2, 3),
            (1, 2, 0, 5),
        ] {
            let out = output_len(n, k, s, p);
            let mut tapped = std::vec::Vec::new();
            for o in 0..out {
                for u in 0..k {
                    tapped.extend(tap(o, u, s, p, n).map(|i| (i, u, o)));
                }
            }
            let mut found = std::vec::Vec::new();
            for i in 0..n {
                for u in 0..k {
                    found.extend(reader(i, u, s, p, out).map(|o| (i, u, o)));
                }
            }
            tapped.sort();
            assert_eq!(tapped, found, "k {k} s {s} p {p} n {n}");
            assert!(!found.is_empty());
        }
    }

    #[test]
    fn max_into_keeps_the_first_maximum_and_lets_nan_win() {
        let (mut best, mut at) = ([1.0, 5.0, f64::NAN], [0, 0, 0]);
        max_into(&mut best, &mut at, &[1.0, 6.0, 9.0], 1);
        max_into(&mut best, &mut at, &[f64::NAN, 6.0, f64::NAN], 2);
        assert_eq!(at, [2, 1, 0]);
        assert!(best[0].is_nan() && best[1] == 6.0 && best[2].is_nan());
    }
}
