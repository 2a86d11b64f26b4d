//! The digits CNN of `examples/digits_cnn.rs` on an emulated Cortex-M4F, without a heap:
//! classifies the same 16 test digits as the MLP firmware with weights the compiler baked
//! into flash, and prints each class and its logits. Inference only.
//!
//! The weights come from `cargo run --release --example digits_cnn -- --bake firmware/fixtures`.
//! Run: `cargo run --release --bin digits_cnn` (in `firmware/`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use gradflow_firmware::{classify, exit, rows};

include!("../../../examples/shared/digits_cnn.rs");

/// Test samples baked in.
const SAMPLES: usize = 16;

// Budgets: a network that outgrows them is a compile error, not a crash.
const _: () = assert!(DigitsCnn::PARAM_BYTES <= 128 * 1024);
const _: () = assert!(DigitsCnn::INFER_SCRATCH_BYTES <= 16 * 1024);

/// The trained classifier, built by the compiler from the host's bytes: it lives in flash.
static NET: DigitsCnn = DigitsCnn::from_le_bytes(include_bytes!("../../fixtures/digits_cnn.bin"));

/// The MLP's test samples, as one-channel 8x8 images (channels-last).
static TEST_X: [[[[f32; 1]; 8]; 8]; SAMPLES] =
    images(&rows(include_bytes!("../../fixtures/test_samples.bin")));
static TEST_LABELS: &[u8; SAMPLES] = include_bytes!("../../fixtures/test_labels.bin");

/// Rows of 64 pixels as one-channel 8x8 images, as `examples/digits_cnn.rs` makes them.
const fn images<const R: usize>(rows: &[[f32; 64]; R]) -> [[[[f32; 1]; 8]; 8]; R] {
    let mut out = [[[[0.0; 1]; 8]; 8]; R];
    let mut i = 0;
    while i < R * 64 {
        out[i / 64][i % 64 / 8][i % 8][0] = rows[i / 64][i % 64];
        i += 1;
    }
    out
}

#[entry]
fn main() -> ! {
    hprintln!(
        "digits cnn: {} parameter bytes, {} inference scratch bytes",
        DigitsCnn::PARAM_BYTES,
        DigitsCnn::INFER_SCRATCH_BYTES
    );
    classify(&NET, &TEST_X, TEST_LABELS);
    hprintln!("done");
    exit(debug::EXIT_SUCCESS)
}
