//! A small residual CNN on the 8x8 digit images: `cargo run --release --example digits_cnn`.
//!
//! Same data and split as `examples/digits.rs` (seed 42, last 20% held out); each row of 64
//! pixels becomes a 1x8x8 image. `--seed N` changes initialization and shuffling, not the split.

use gradflow::data::{CsvOptions, Dataset};
use gradflow::nn::train::{accuracy, fit, Samples, TrainConfig};
use gradflow::prelude::*;
use std::error::Error;

network! {
    /// Two stages of convolutions with a residual block each, batchnorm and ReLU throughout.
    pub struct DigitsCnn<f32> {
        input [1, 8, 8],
        conv2d 16 k3 same [he_init, batchnorm, relu],
        residual {
            conv2d 16 k3 same [he_init, batchnorm, relu],
            conv2d 16 k3 same [he_init, batchnorm],
        } relu,
        maxpool 2,
        conv2d 32 k3 same [he_init, batchnorm, relu],
        residual {
            conv2d 32 k3 same [he_init, batchnorm, relu],
            conv2d 32 k3 same [he_init, batchnorm],
        } relu,
        global_avg_pool,
        dense 10,
    }
}

type Image = [[[f32; 8]; 8]; 1];

const BATCH: usize = 32;
const EPOCHS: usize = 20;

/// A row of 64 pixels as a one-channel 8x8 image.
fn image(row: &[f32; 64]) -> Image {
    [core::array::from_fn(|r| {
        core::array::from_fn(|c| row[r * 8 + c])
    })]
}

fn seed_from_args() -> Result<u64, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(42),
        [flag, value] if flag == "--seed" => value
            .parse()
            .map_err(|_| format!("--seed: `{value}` is not a whole number")),
        _ => Err("usage: digits_cnn [--seed N]".to_string()),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let seed = seed_from_args()?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let data = Dataset::<64>::load_csv(
        path,
        CsvOptions {
            header: false,
            classes: 10,
        },
    )?
    .map_features(|v| v / 16.0);
    let (train, test) = data.split(42, 0.2);
    let train_x: Vec<Image> = train.features.iter().map(image).collect();
    let test_x: Vec<Image> = test.features.iter().map(image).collect();
    println!(
        "digits as 1x8x8 images: {} training and {} test samples",
        train.len(),
        test.len()
    );

    let mut net = DigitsCnn::new_boxed(&mut gradflow::rng(seed));
    let mut adam = Adam::new_boxed(AdamConfig::new(0.003).weight_decay(1e-4))?;
    let config = TrainConfig {
        epochs: EPOCHS,
        seed,
        grad_norms_every: 0,
        label: "digits_cnn".into(),
        ..Default::default()
    };
    let history = fit::<f32, _, _, BATCH>(
        &mut *net,
        &mut *adam,
        Samples::new(&train_x, &train.labels),
        Samples::new(&test_x, &test.labels),
        &config,
    )?;
    for e in &history.epochs {
        println!(
            "epoch {:>2}  loss {:.4}  train_accuracy {:.4}  test_accuracy {:.4}",
            e.epoch, e.train_loss, e.train_accuracy, e.test_accuracy
        );
    }
    if let Some(e) = history.epochs.last() {
        println!("trained in {:.2} s", e.seconds);
    }
    println!(
        "test_accuracy={:.4}",
        accuracy(&*net, Samples::new(&test_x, &test.labels))
    );
    Ok(())
}
