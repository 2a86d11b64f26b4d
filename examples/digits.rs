//! Trains an MLP on the UCI optical digits (8x8 images, 10 classes) and reports its test
//! accuracy: `cargo run --release --example digits`.
//!
//! The split is the project's standard one: rows shuffled with seed 42, last 20% held out.
//! `--seed N` changes the seed of initialization and shuffling (default 42), not the split.
//! The learning rate follows a cosine schedule from 0.05 to 0 (SGD, momentum 0.9).

use gradflow::data::{accuracy, CsvOptions, Dataset};
use gradflow::prelude::*;
use std::error::Error;
use std::time::Instant;

network! {
    /// 64 pixels -> two hidden ReLU layers of 128 with He initialization -> 10 logits.
    pub struct DigitsMlp<f32> {
        input 64,
        dense 128 [he_init, relu],
        dense 128 [he_init, relu],
        dense 10 [xavier_init],
    }
}

const BATCH: usize = 32;
const EPOCHS: usize = 30;
const LR: f64 = 0.05;

fn seed_from_args() -> Result<u64, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(42),
        [flag, value] if flag == "--seed" => value
            .parse()
            .map_err(|_| format!("--seed: `{value}` is not a whole number")),
        _ => Err("usage: digits [--seed N]".to_string()),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let seed = seed_from_args()?;
    let start = Instant::now();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let options = CsvOptions {
        header: false,
        classes: 10,
    };
    // Pixel counts run from 0 to 16: scale them to [0, 1].
    let data = Dataset::<64>::load_csv(path, options)?.map_features(|v| v / 16.0);
    let (train, test) = data.split(42, 0.2);
    println!(
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
        println!(
            "epoch {epoch:>2}  loss {loss:.4}  train_accuracy {:.4}  test_accuracy {:.4}",
            accuracy(&net, &train),
            accuracy(&net, &test)
        );
    }
    println!("trained in {:.2} s", start.elapsed().as_secs_f64());
    println!("test_accuracy={:.4}", accuracy(&net, &test));
    Ok(())
}
