//! Trains an MLP on the UCI optical digits (8x8 images, 10 classes) and reports its test
//! accuracy: `cargo run --release --example digits`.
//!
//! The split is the project's standard one: rows shuffled with seed 42, last 20% held out.
//! `--seed N` changes the seed of initialization and shuffling (default 42), not the split.
//! The learning rate follows a cosine schedule from 0.05 to 0 (SGD, momentum 0.9).
//!
//! `--bake DIR` also writes the firmware's fixtures (see the README's "Embedded deployment"):
//! the trained weights in the baked-weights layout (`digits_mlp.bin`), the first test
//! samples and their labels, the host's logits for them, and a fixed training batch:
//! `cargo run --release --example digits -- --bake firmware/fixtures`.

use gradflow::data::{accuracy, CsvOptions, Dataset};
use gradflow::prelude::*;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

include!("shared/digits_mlp.rs");
include!("shared/args.rs");

const BATCH: usize = 32;
const EPOCHS: usize = 30;
const LR: f64 = 0.05;

/// Test samples the firmware classifies, and the size of its fixed training batch.
const BAKED_SAMPLES: usize = 16;
const BAKED_TRAIN_BATCH: usize = 16;

const USAGE: &str = "usage: digits [--seed N] [--bake DIR]";

/// `values` as little-endian f32 bytes.
fn f32_bytes<'a>(values: impl IntoIterator<Item = &'a f32>) -> Vec<u8> {
    values.into_iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes the firmware's fixtures into `dir`: weights, test samples with labels and the
/// host's logits, and a fixed training batch with labels.
fn bake(
    dir: &Path,
    net: &DigitsMlp,
    test: &Dataset<64>,
    train: &Dataset<64>,
) -> Result<(), Box<dyn Error>> {
    // The baked layout is raw values, checked by nothing on the device: refuse what a
    // weights file would refuse (a NaN from a diverged run) before writing anything.
    gradflow::weights::to_bytes(net)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), Box<dyn Error>> {
        let path = dir.join(name);
        gradflow::weights::write_atomic(&path, bytes)?;
        say!("wrote {} ({} bytes)", path.display(), bytes.len());
        Ok(())
    };
    write("digits_mlp.bin", &net.to_le_bytes())?;
    let samples = &test.features[..BAKED_SAMPLES];
    write("test_samples.bin", &f32_bytes(samples.iter().flatten()))?;
    let labels: Vec<u8> = test.labels[..BAKED_SAMPLES]
        .iter()
        .map(|&l| l as u8)
        .collect();
    write("test_labels.bin", &labels)?;
    let logits: Vec<[f32; 10]> = samples.iter().map(|x| net.forward(&[*x])[0]).collect();
    write("test_logits.bin", &f32_bytes(logits.iter().flatten()))?;
    let batch = &train.features[..BAKED_TRAIN_BATCH];
    write("train_batch.bin", &f32_bytes(batch.iter().flatten()))?;
    let labels: Vec<u8> = train.labels[..BAKED_TRAIN_BATCH]
        .iter()
        .map(|&l| l as u8)
        .collect();
    write("train_labels.bin", &labels)
}

fn main() -> ExitCode {
    digits_main(USAGE, std::env::args_os().skip(1), run)
}

fn run(seed: u64, bake_dir: Option<PathBuf>) -> Result<(), Box<dyn Error>> {
    // The fixtures' folder is made before training, so a bad path fails at once.
    if let Some(dir) = &bake_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let start = Instant::now();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let options = CsvOptions::new(10);
    // Pixel counts run from 0 to 16: scale them to [0, 1].
    let data = Dataset::<64>::load_csv(path, options)?.map_features(|v| v / 16.0);
    let (train, test) = data.split(42, 0.2);
    say!(
        "digits: {} training and {} test samples",
        train.len(),
        test.len()
    );

    let mut rng = gradflow::rng(seed);
    let mut net = DigitsMlp::new(&mut rng);
    let mut cache = DigitsMlpCache::<BATCH>::new_boxed();
    let mut grads = DigitsMlpGrads::new_boxed();
    let mut sgd = Sgd::new(SgdConfig::new(LR).momentum(0.9).weight_decay(3e-3))?;
    let mut dlogits = [[0.0f32; 10]; BATCH];

    for epoch in 1..=EPOCHS {
        // Cosine decay: large steps early, fine ones at the end (never exactly 0).
        let progress = (epoch - 1) as f64 / EPOCHS as f64;
        sgd.set_lr(LR * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))?;
        let mut total = 0.0;
        let batches = train.batches::<BATCH>(&mut rng);
        for (x, labels) in &batches {
            grads.zero();
            let logits = net.forward_train(x, &mut cache);
            total += softmax_cross_entropy(logits, labels, &mut dlogits)?;
            net.backward(&mut cache, &dlogits, &mut grads);
            if !sgd.step(&mut net, &grads).applied {
                return Err(format!("epoch {epoch}: non-finite gradient, step refused").into());
            }
        }
        let loss = total / batches.len() as f32;
        say!(
            "epoch {epoch:>2}  loss {loss:.4}  train_accuracy {:.4}  test_accuracy {:.4}",
            accuracy(&net, &train),
            accuracy(&net, &test)
        );
    }
    say!("trained in {:.2} s", start.elapsed().as_secs_f64());
    say!("test_accuracy={:.4}", accuracy(&net, &test));
    if let Some(dir) = bake_dir {
        bake(&dir, &net, &test, &train)?;
    }
    Ok(())
}
