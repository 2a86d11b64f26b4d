//! Losses: mean squared error and softmax cross-entropy fused with its softmax.
//!
//! Each returns the batch-mean loss and writes its gradient with respect to the predictions,
//! ready to be passed to a network's `backward`.

use core::fmt;
use gradflow_tensor::{softmax, Scalar};

/// A label that names no class: the loss cannot be computed, and nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelOutOfRange {
    /// Position of the sample in the batch.
    pub sample: usize,
    /// The label found.
    pub label: usize,
    /// The number of classes (valid labels are `0..classes`).
    pub classes: usize,
}

impl fmt::Display for LabelOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sample {} has label {}, but the network has {} classes",
            self.sample, self.label, self.classes,
        )?;
        match self.classes {
            0 => write!(f, " (an output of width 0 takes no label)"),
            n => write!(f, " (labels 0..={})", n - 1),
        }
    }
}

impl core::error::Error for LabelOutOfRange {}

/// Softmax cross-entropy: `mean_b(-log softmax(logits[b])[labels[b]])`.
///
/// Writes `dlogits = (softmax(logits) - onehot(labels)) / B`. Fusing the softmax into the loss
/// is both faster and numerically stable: the gradient never divides by a probability. A
/// batch of 0 samples has loss 0 (PyTorch's mean over nothing is NaN).
///
/// ```
/// use gradflow_nn::loss::softmax_cross_entropy;
/// let mut d = [[0.0f32; 3]; 1];
/// let loss = softmax_cross_entropy(&[[0.0, 0.0, 0.0]], &[2], &mut d).unwrap();
/// assert!((loss - 3f32.ln()).abs() < 1e-6);
/// assert!(softmax_cross_entropy(&[[0.0f32; 3]], &[3], &mut d).is_err());
/// ```
pub fn softmax_cross_entropy<T: Scalar, const C: usize, const B: usize>(
    logits: &[[T; C]; B],
    labels: &[usize; B],
    dlogits: &mut [[T; C]; B],
) -> Result<T, LabelOutOfRange> {
    softmax_cross_entropy_rows(logits, labels, dlogits)
}

/// [`softmax_cross_entropy`] over rows of any array type, for code generic over networks.
/// Rows beyond the shortest of the three slices are ignored, labels included; a label must
/// name a class of its own row (for rows of unequal lengths, of the shorter of its logits and
/// gradient rows), or the result is [`LabelOutOfRange`] and nothing is written.
pub fn softmax_cross_entropy_rows<T: Scalar, R: AsRef<[T]> + AsMut<[T]>>(
    logits: &[R],
    labels: &[usize],
    dlogits: &mut [R],
) -> Result<T, LabelOutOfRange> {
    let rows = labels.len().min(logits.len()).min(dlogits.len());
    for (sample, ((z, &label), d)) in logits.iter().zip(labels).zip(&*dlogits).enumerate() {
        let classes = z.as_ref().len().min(d.as_ref().len());
        if label >= classes {
            return Err(LabelOutOfRange {
                sample,
                label,
                classes,
            });
        }
    }
    let inv_b = T::ONE / T::from_f64(rows.max(1) as f64);
    let mut total = T::ZERO;
    for ((z, &label), d) in logits.iter().zip(labels).zip(dlogits.iter_mut()) {
        let (z, d) = (z.as_ref(), d.as_mut());
        // d holds exp(z - max z) first, then becomes the gradient (p - onehot) / B. Like
        // `log_softmax`, log p keeps the shifted logit apart from the log-sum, so that large
        // logits lose no digits.
        let (m, sum) = softmax::exp_shifted(z, d);
        total -= (z[label] - m) - sum.ln();
        let scale = inv_b / sum;
        for d in d.iter_mut() {
            *d *= scale;
        }
        d[label] -= inv_b;
    }
    Ok(total * inv_b)
}

/// Mean squared error over all `B * N` elements; writes `dpred = 2 (pred - target) / (B N)`.
/// With no elements (`B` or `N` 0) the loss is 0, not 0 / 0.
pub fn mse<T: Scalar, const N: usize, const B: usize>(
    pred: &[[T; N]; B],
    target: &[[T; N]; B],
    dpred: &mut [[T; N]; B],
) -> T {
    let inv = T::ONE / T::from_f64((B * N).max(1) as f64);
    // 2 / (B N) as one factor: `2 * e` first would overflow for |e| above MAX / 2, where the
    // gradient itself is finite (the same digits otherwise: doubling is exact).
    let scale = T::from_f64(2.0) * inv;
    let mut total = T::ZERO;
    for ((p, t), d) in pred.iter().zip(target).zip(dpred.iter_mut()) {
        for ((&p, &t), d) in p.iter().zip(t).zip(d.iter_mut()) {
            let e = p - t;
            total += e * e;
            *d = e * scale;
        }
    }
    total * inv
}

/// Index of the largest value (the first on ties); NaNs never win. `0` for an empty slice.
pub fn argmax<T: Scalar>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || (values[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradflow_tensor::gradcheck::{check_gradient, test_values};

    /// Labels past the rows used are ignored, as the rows are; a label is checked against its
    /// own row's width, so a short row refuses a label that the first row would take (it
    /// used to index past the short row and panic).
    #[test]
    fn rows_check_the_labels_of_the_rows_they_use() {
        extern crate std;
        use std::{vec, vec::Vec};
        let logits = [[0.0f32, 1.0, 2.0]; 2];
        let mut d = [[0.0f32; 3]; 2];
        let loss = softmax_cross_entropy_rows(&logits, &[2, 0, 7], &mut d).unwrap();
        let full = softmax_cross_entropy(&logits, &[2, 0], &mut [[0.0; 3]; 2]).unwrap();
        assert_eq!(loss, full);
        let ragged: Vec<Vec<f32>> = vec![vec![0.0, 1.0, 2.0], vec![0.5, 0.25]];
        let mut d: Vec<Vec<f32>> = vec![vec![9.0; 3], vec![9.0; 2]];
        let err = softmax_cross_entropy_rows(&ragged, &[1, 2], &mut d).unwrap_err();
        assert_eq!((err.sample, err.label, err.classes), (1, 2, 2));
        assert!(
            d.iter().flatten().all(|&v| v == 9.0),
            "nothing written: {d:?}"
        );
        let loss = softmax_cross_entropy_rows(&ragged, &[1, 1], &mut d).unwrap();
        assert!(loss.is_finite() && d[1][1] < 0.0);
    }

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let logits: [[f64; 5]; 3] =
            core::array::from_fn(|b| test_values::<5>(b as u64).map(|v| 4.0 * v));
        let labels = [0, 4, 2];
        let mut d = [[0.0; 5]; 3];
        softmax_cross_entropy(&logits, &labels, &mut d).unwrap();
        let check = check_gradient(d.as_flattened(), |k, delta| {
            let mut z = logits;
            z.as_flattened_mut()[k] += delta;
            softmax_cross_entropy(&z, &labels, &mut [[0.0; 5]; 3]).unwrap()
        });
        assert!(check.passes(1e-6), "{check:?}");
    }

    #[test]
    fn cross_entropy_is_stable_for_huge_logits() {
        let mut d = [[0.0f32; 2]; 1];
        let loss = softmax_cross_entropy(&[[1e4, -1e4]], &[1], &mut d).unwrap();
        assert!((loss - 2e4).abs() / 2e4 < 1e-6);
        assert!(d.iter().flatten().all(|v| v.is_finite()));
    }

    /// Large logits lose no digits: the shifted logit and the log-sum are never added to the
    /// maximum before being subtracted (which in f32 rounded `ln(1 + e^-3)` to the precision
    /// of 1e4, a 5e-3 relative error).
    #[test]
    fn cross_entropy_keeps_its_digits_for_large_logits() {
        let exact = |gap: f64| (1.0 + (-gap).exp()).ln();
        for (z, label, loss) in [
            ([1e4f32, 1e4 - 3.0, 0.0], 0, exact(3.0)),
            ([20.0, 15.0, 0.0], 0, exact(5.0) + (-20f64).exp()),
            ([1e4 - 3.0, 1e4, -1e4], 1, exact(3.0)),
        ] {
            let mut d = [[0.0f32; 3]; 1];
            let got = softmax_cross_entropy(&[z], &[label], &mut d).unwrap();
            assert!(
                ((got as f64 - loss) / loss).abs() < 1e-6,
                "{z:?}: {got} vs {loss}"
            );
            // The label's gradient is p - 1 = -(1 - p), with 1 - p = 1 - e^-loss.
            let want = -(1.0 - (-loss).exp());
            let rel = ((d[0][label] as f64 - want) / want).abs();
            assert!(rel < 1e-5, "{z:?}: {} vs {want}", d[0][label]);
            assert!(d[0].iter().sum::<f32>().abs() < 1e-7, "{d:?}");
        }
        let mut d = [[0.0f32; 3]; 1];
        softmax_cross_entropy(&[[-1e4f32, 1e4, 1e4]], &[0], &mut d).unwrap();
        assert_eq!(d[0], [-1.0, 0.5, 0.5]);
        // In f64 a loss of 1e-13 next to logits of 1e4 survives.
        let mut d = [[0.0f64; 3]; 1];
        let got = softmax_cross_entropy(&[[1e4, 1e4 - 30.0, 0.0]], &[0], &mut d).unwrap();
        assert!((got / exact(30.0) - 1.0).abs() < 1e-2, "{got}");
    }

    #[test]
    fn cross_entropy_rejects_bad_label_without_writing() {
        let mut d = [[7.0f64; 2]; 2];
        let err = softmax_cross_entropy(&[[0.0; 2]; 2], &[1, 2], &mut d).unwrap_err();
        assert_eq!(
            err,
            LabelOutOfRange {
                sample: 1,
                label: 2,
                classes: 2
            }
        );
        assert_eq!(d, [[7.0; 2]; 2]);
        #[cfg(feature = "std")]
        assert!(std::string::ToString::to_string(&err).contains("label 2"));
        // Rows of width 0 take no label at all; the message does not offer label 0.
        let err = softmax_cross_entropy(&[[0.0f64; 0]], &[0], &mut [[0.0; 0]]).unwrap_err();
        #[cfg(feature = "std")]
        assert_eq!(
            std::string::ToString::to_string(&err),
            "sample 0 has label 0, but the network has 0 classes (an output of width 0 takes no label)"
        );
        assert_eq!(err.classes, 0);
    }

    /// A batch of no samples has loss 0 and nothing to write (PyTorch's mean would be NaN),
    /// and a batch of samples with no outputs has mse 0, not 0 / 0.
    #[test]
    fn an_empty_batch_has_loss_zero() {
        let none: [[f32; 3]; 0] = [];
        assert_eq!(softmax_cross_entropy(&none, &[], &mut []), Ok(0.0));
        assert_eq!(mse(&none, &none, &mut []), 0.0);
        let mut d = [[f64::NAN; 0]; 2];
        assert_eq!(mse(&[[0.0f64; 0]; 2], &[[0.0; 0]; 2], &mut d), 0.0);
    }

    #[test]
    fn mse_gradient_matches_finite_differences() {
        let p: [[f64; 4]; 2] = [test_values(1), test_values(2)];
        let t: [[f64; 4]; 2] = [test_values(3), test_values(4)];
        let mut d = [[0.0; 4]; 2];
        let l = mse(&p, &t, &mut d);
        assert!(l > 0.0);
        let check = check_gradient(d.as_flattened(), |k, delta| {
            let mut p = p;
            p.as_flattened_mut()[k] += delta;
            mse(&p, &t, &mut [[0.0; 4]; 2])
        });
        assert!(check.passes(1e-6), "{check:?}");
    }

    /// The gradient of a huge error is finite when its true value is.
    #[test]
    fn mse_gradient_of_a_huge_error_is_finite() {
        let mut d = [[0.0f32; 2]; 1];
        let loss = mse(&[[2e38f32, 0.0]], &[[0.0, 0.0]], &mut d);
        assert!(loss.is_infinite());
        assert_eq!(d, [[2e38, 0.0]]);
    }

    #[test]
    fn argmax_takes_first_max_and_ignores_nan() {
        assert_eq!(argmax(&[1.0f32, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0, 0.5]), 1);
        assert_eq!(argmax::<f32>(&[]), 0);
    }
}
