//! The device's training run, shared with the host test that checks it
//! (`tests/firmware_qemu.rs` includes this file): SGD steps on one fixed batch, starting
//! from a freshly initialized network. Everything lives in caller-provided buffers.

use super::{DigitsMlp, DigitsMlpCache, DigitsMlpGrads};
use gradflow::nn::loss::{softmax_cross_entropy, LabelOutOfRange};
use gradflow::nn::{Optimizer, Sgd};

/// Seed of the network the device trains from scratch.
pub const SEED: u64 = 7;
/// SGD steps, each on the whole fixed batch.
pub const STEPS: usize = 20;
/// Learning rate of plain SGD.
pub const LR: f64 = 0.1;
/// Samples in the fixed batch.
pub const BATCH: usize = 16;

/// Runs [`STEPS`] SGD steps on `(x, labels)`, calling `report(step, loss)` with the loss
/// before each update. `net` must be initialized and `sgd` configured by the caller.
#[allow(clippy::too_many_arguments)]
pub fn train(
    net: &mut DigitsMlp,
    cache: &mut DigitsMlpCache<BATCH>,
    grads: &mut DigitsMlpGrads,
    sgd: &mut Sgd<DigitsMlpGrads>,
    x: &[[f32; 64]; BATCH],
    labels: &[usize; BATCH],
    mut report: impl FnMut(usize, f32),
) -> Result<(), LabelOutOfRange> {
    let mut dlogits = [[0.0f32; 10]; BATCH];
    for step in 0..STEPS {
        grads.zero();
        let logits = net.forward_train(x, cache);
        let loss = softmax_cross_entropy(logits, labels, &mut dlogits)?;
        report(step, loss);
        net.backward(cache, &dlogits, grads);
        // A refused step (a non-finite gradient, or settings never configured) shows in the
        // next losses, which the host test compares with its own run.
        let _ = sgd.step(net, grads);
    }
    Ok(())
}
