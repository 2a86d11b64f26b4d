//! A small residual CNN on the 8x8 digit images: `cargo run --release --example digits_cnn`.
//!
//! Same data and split as `examples/digits.rs` (seed 42, last 20% held out); each row of 64
//! pixels becomes an 8x8 one-channel image, channels-last (`[[[f32; 1]; 8]; 8]`). `--seed N`
//! changes initialization and shuffling, not the split.
//! Adam with weight decay 1e-4 and a cosine learning-rate schedule from 0.003.
//!
//! `--bake DIR` also writes the firmware's CNN fixtures (see the README's "Embedded
//! deployment"): the trained weights (`digits_cnn.bin`) and the host's logits for the
//! firmware's test samples (the first 16 of the test split, `test_cnn_logits.bin`):
//! `cargo run --release --example digits_cnn -- --bake firmware/fixtures`.

use gradflow::data::{CsvOptions, Dataset};
use gradflow::nn::train::{accuracy, fit, Samples, TrainConfig};
use gradflow::prelude::*;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

include!("shared/digits_cnn.rs");
include!("shared/args.rs");

type Image = [[[f32; 1]; 8]; 8];

const BATCH: usize = 32;
const EPOCHS: usize = 20;
const LR: f64 = 0.003;

/// A row of 64 pixels as a one-channel 8x8 image.
fn image(row: &[f32; 64]) -> Image {
    core::array::from_fn(|r| core::array::from_fn(|c| [row[r * 8 + c]]))
}

const USAGE: &str = "usage: digits_cnn [--seed N] [--bake DIR]";

/// Test samples the firmware classifies (the same ones as the MLP's).
const BAKED_SAMPLES: usize = 16;

fn main() -> ExitCode {
    digits_main(USAGE, std::env::args_os().skip(1), run)
}

fn run(seed: u64, bake_dir: Option<PathBuf>) -> Result<(), Box<dyn Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let data = Dataset::<64>::load_csv(path, CsvOptions::new(10))?.map_features(|v| v / 16.0);
    let (train, test) = data.split(42, 0.2);
    let train_x: Vec<Image> = train.features.iter().map(image).collect();
    let test_x: Vec<Image> = test.features.iter().map(image).collect();
    say!(
        "digits as 8x8 one-channel images: {} training and {} test samples",
        train.len(),
        test.len()
    );

    let mut net = DigitsCnn::new_boxed(&mut gradflow::rng(seed));
    let mut adam = Adam::new_boxed(AdamConfig::new(LR).weight_decay(1e-4))?;
    let (train_samples, test_samples) = (
        Samples::new(&train_x, &train.labels),
        Samples::new(&test_x, &test.labels),
    );
    let mut seconds = 0.0;
    for epoch in 1..=EPOCHS {
        // Cosine decay of the learning rate, one epoch of `fit` at a time.
        let progress = (epoch - 1) as f64 / EPOCHS as f64;
        adam.set_lr(LR * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))?;
        let config = TrainConfig {
            epochs: 1,
            seed: seed.wrapping_mul(1000).wrapping_add(epoch as u64),
            grad_norms_every: 0,
            label: format!("epoch {epoch:>2}"),
            ..Default::default()
        };
        let history =
            fit::<f32, _, _, BATCH>(&mut *net, &mut *adam, train_samples, test_samples, &config)?;
        if let Some(e) = history.epochs.last() {
            seconds += e.seconds;
            say!(
                "epoch {epoch:>2}  loss {:.4}  train_accuracy {:.4}  test_accuracy {:.4}",
                e.train_loss,
                e.train_accuracy,
                e.test_accuracy
            );
        }
    }
    say!("trained in {seconds:.2} s");
    say!(
        "test_accuracy={:.4}",
        accuracy(&*net, Samples::new(&test_x, &test.labels))
    );
    if let Some(dir) = bake_dir {
        std::fs::create_dir_all(&dir)?;
        let logits: Vec<u8> = test_x[..BAKED_SAMPLES]
            .iter()
            .flat_map(|x| net.forward(&[*x])[0])
            .flat_map(f32::to_le_bytes)
            .collect();
        for (name, bytes) in [
            ("digits_cnn.bin", net.to_le_bytes()),
            ("test_cnn_logits.bin", logits),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            say!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
    }
    Ok(())
}
