//! gradflow on an emulated Cortex-M4F (QEMU `mps2-an386`), without a heap:
//! 1. classifies test digits with the MLP trained on the host, whose weights the compiler
//!    baked into flash (`DigitsMlp::from_le_bytes` in a `static`), printing each sample's
//!    class and logits;
//! 2. trains a freshly initialized MLP with SGD on a fixed batch held in a `static`,
//!    printing the loss at each step.
//!
//! Output goes to the host through semihosting; `tests/firmware_qemu.rs` compares it with
//! the host's results. The fixtures come from
//! `cargo run --release --example digits -- --bake firmware/fixtures`.
//! Run: `cargo run --release --bin digits_mlp` (in `firmware/`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use gradflow::nn::memory::const_zeroed;
use gradflow::nn::{Sgd, SgdConfig};
use gradflow_firmware::{classify, exit, fail, rows, stack};

include!("../../../examples/shared/digits_mlp.rs");
#[path = "../training.rs"]
mod training;

/// Test samples baked in.
const SAMPLES: usize = 16;

// Budgets: a network or batch that outgrows them is a compile error, not a crash.
const _: () = assert!(DigitsMlp::PARAM_BYTES <= 128 * 1024);
const _: () = assert!(DigitsMlp::INFER_SCRATCH_BYTES <= 4 * 1024);
const _: () = assert!(DigitsMlp::train_scratch_bytes(training::BATCH) <= 96 * 1024);

/// The trained classifier, built by the compiler from the host's bytes: it lives in flash,
/// and a weights file of the wrong length does not compile.
static NET: DigitsMlp = DigitsMlp::from_le_bytes(include_bytes!("../../fixtures/digits_mlp.bin"));

static TEST_X: [[f32; 64]; SAMPLES] = rows(include_bytes!("../../fixtures/test_samples.bin"));
static TEST_LABELS: &[u8; SAMPLES] = include_bytes!("../../fixtures/test_labels.bin");
static TRAIN_X: [[f32; 64]; training::BATCH] =
    rows(include_bytes!("../../fixtures/train_batch.bin"));
static TRAIN_LABELS: &[u8; training::BATCH] = include_bytes!("../../fixtures/train_labels.bin");

#[entry]
fn main() -> ! {
    // cortex-m-rt hands these to `main` as `&'static mut`: training state in RAM (`.bss`),
    // zeroed at reset, never on the stack.
    static mut TRAIN_NET: DigitsMlp = const_zeroed();
    static mut CACHE: DigitsMlpCache<{ training::BATCH }> = const_zeroed();
    static mut GRADS: DigitsMlpGrads = const_zeroed();
    // A zeroed `Sgd` has every setting 0 and refuses to step until it is configured.
    static mut SGD: Sgd<DigitsMlpGrads> = const_zeroed();

    hprintln!(
        "digits mlp: {} parameter bytes, {} inference scratch bytes, {} training cache bytes at batch {}",
        DigitsMlp::PARAM_BYTES,
        DigitsMlp::INFER_SCRATCH_BYTES,
        DigitsMlp::train_scratch_bytes(training::BATCH),
        training::BATCH
    );
    classify(&NET, &TEST_X, TEST_LABELS);

    stack::paint();
    TRAIN_NET.init(&mut gradflow::rng(training::SEED));
    if SGD.configure(SgdConfig::new(training::LR)).is_err() {
        fail("invalid SGD settings");
    }
    let labels = TRAIN_LABELS.map(usize::from);
    let mut losses = [0.0f32; training::STEPS];
    let trained = training::train(
        TRAIN_NET,
        CACHE,
        GRADS,
        SGD,
        &TRAIN_X,
        &labels,
        |step, loss| {
            losses[step] = loss;
        },
    );
    let training_stack = stack::high_water();
    if trained.is_err() {
        fail("a training label is out of range");
    }
    for (step, loss) in losses.iter().enumerate() {
        hprintln!("train step {} loss {:?}", step, loss);
    }
    hprintln!("stack training {} bytes", training_stack);
    hprintln!("done");
    exit(debug::EXIT_SUCCESS)
}
