//! A 50-layer residual network type, trained for a few epochs on the digits:
//! `cargo run --release --example residual50`.
//!
//! This example is the compile-time yardstick for deep `network!` types (see
//! docs/performance.md): 50 dense layers, 48 of them inside 24 residual blocks with batch
//! normalization, expand to one flat forward and one flat backward function.

use gradflow::data::{accuracy, CsvOptions, Dataset};
use gradflow::prelude::*;
use std::error::Error;
use std::time::Instant;

network! {
    /// A stem, 24 residual blocks `relu(x + BN(Dense(relu(BN(Dense(x))))))` and a classifier:
    /// 50 dense layers.
    pub struct Residual50<f32> {
        input 64,
        dense 64 [he_init, relu],
        repeat 24 residual {
            dense 64 [he_init, batchnorm, relu],
            dense 64 [he_init, batchnorm],
        } relu,
        dense 10,
    }
}

const BATCH: usize = 32;
const EPOCHS: usize = 5;

fn main() -> Result<(), Box<dyn Error>> {
    let dense_layers = Residual50::LAYERS
        .iter()
        .filter(|layer| layer.kind == "dense")
        .count();
    assert_eq!(dense_layers, 50);
    let start = Instant::now();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let options = CsvOptions::new(10);
    let data = Dataset::<64>::load_csv(path, options)?.map_features(|v| v / 16.0);
    let (train, test) = data.split(42, 0.2);

    let mut rng = gradflow::rng(42);
    let mut net = Residual50::new_boxed(&mut rng);
    let mut cache = Residual50Cache::<BATCH>::new_boxed();
    let mut grads = Residual50Grads::new_boxed();
    let mut sgd = Sgd::new_boxed(SgdConfig::new(0.01).momentum(0.9))?;
    let mut dlogits = [[0.0f32; 10]; BATCH];
    for epoch in 1..=EPOCHS {
        let mut total = 0.0;
        let batches = train.batches::<BATCH>(&mut rng);
        for (x, labels) in &batches {
            grads.zero();
            let logits = net.forward_train(x, &mut cache);
            total += softmax_cross_entropy(logits, labels, &mut dlogits)?;
            net.backward(&mut cache, &dlogits, &mut grads);
            if !sgd.step(&mut *net, &grads).applied {
                return Err(format!("epoch {epoch}: non-finite gradient, step refused").into());
            }
        }
        println!(
            "epoch {epoch}  loss {:.4}  test_accuracy {:.4}",
            total / batches.len() as f32,
            accuracy(&*net, &test)
        );
    }
    println!(
        "{dense_layers} dense layers, {} parameters, {:.2} s",
        Residual50::PARAM_COUNT,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
