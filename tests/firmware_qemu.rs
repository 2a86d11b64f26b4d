//! The firmware in `firmware/`, run on an emulated Cortex-M4F, agrees with the host: for
//! the digits MLP, the same classes and logits within 1e-5 for the baked-in test digits,
//! the same training losses, which fall, and a stack of a few KiB; for the digits CNN, the
//! same classes and logits.
//!
//! Ignored by default: it needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target.
//! `.ci/run` installs both and runs it:
//! `cargo test --test firmware_qemu -- --ignored`.

use gradflow::nn::loss::argmax;
use gradflow::nn::Sgd;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

include!("../examples/shared/digits_mlp.rs");
include!("../examples/shared/digits_cnn.rs");
#[path = "../firmware/src/training.rs"]
mod training;

const TIMEOUT: Duration = Duration::from_secs(120);

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")
}

/// Little-endian f32s in rows of `C`.
fn rows<const C: usize>(bytes: &[u8]) -> Vec<[f32; C]> {
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    values
        .chunks_exact(C)
        .map(|row| row.try_into().unwrap())
        .collect()
}

/// Builds the firmware's binaries and runs `bin` in QEMU, returning what it printed.
fn run_firmware(bin: &str) -> String {
    let dir = firmware_dir();
    let qemu = Command::new("qemu-system-arm").arg("--version").output();
    assert!(
        qemu.is_ok_and(|o| o.status.success()),
        "qemu-system-arm is not installed (apt-get install qemu-system-arm)"
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Run from firmware/ so that its .cargo/config.toml (target, linker script) applies.
    let build = Command::new(cargo)
        .args(["build", "--release"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(
        build.success(),
        "the firmware did not build (is the target installed? \
         rustup target add thumbv7em-none-eabihf)"
    );
    let elf = dir.join("target/thumbv7em-none-eabihf/release").join(bin);
    let mut child = Command::new("qemu-system-arm")
        .args(["-cpu", "cortex-m4", "-machine", "mps2-an386", "-nographic"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(&elf)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("qemu-system-arm starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("qemu can be waited for") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            child.kill().expect("qemu can be killed");
            child.wait().expect("qemu ends once killed");
            panic!("the firmware did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap().expect("qemu's output is UTF-8");
    assert!(status.success(), "the firmware failed ({status}):\n{out}");
    out
}

/// `[a, b, c]` as printed by `{:?}`.
fn parse_list(text: &str) -> Vec<f32> {
    text.trim_matches(['[', ']'])
        .split(", ")
        .map(|v| v.parse().unwrap_or_else(|_| panic!("not a number: {v}")))
        .collect()
}

/// The `sample` lines of `out` against the host: `host(i)` is sample `i`'s logits on the
/// host, `baked` the logits baked into the fixtures with the weights.
fn check_inference(
    out: &str,
    host: impl Fn(usize) -> [f32; 10],
    baked: &[[f32; 10]],
    rebake: &str,
) {
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("sample ")).collect();
    assert_eq!(lines.len(), baked.len(), "{out}");
    for (i, (line, baked)) in lines.iter().zip(baked).enumerate() {
        let (head, logits) = line.split_once(" logits ").unwrap();
        let device = parse_list(logits);
        let host = host(i);
        let class: usize = head.split(' ').nth(5).unwrap().parse().unwrap();
        assert_eq!(class, argmax(&host), "{line}");
        assert_eq!(device.len(), 10);
        for ((d, h), b) in device.iter().zip(&host).zip(baked) {
            assert!((d - h).abs() <= 1e-5, "{line}: device {d}, host {h}");
            assert!(
                (b - h).abs() <= 1e-5,
                "baked logit {b}, host {h}: fixtures are stale, run {rebake}"
            );
        }
    }
}

/// The stack the firmware measured by painting for `phase`.
fn stack_mark(out: &str, phase: &str) -> usize {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("stack {phase} ")))
        .and_then(|l| l.strip_suffix(" bytes"))
        .unwrap_or_else(|| panic!("no {phase} stack mark in:\n{out}"))
        .parse()
        .unwrap()
}

#[test]
#[ignore = "needs qemu-system-arm and the thumbv7em-none-eabihf target; .ci/run runs it"]
fn mlp_firmware_agrees_with_the_host() {
    let fixtures = firmware_dir().join("fixtures");
    let read = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let weights: [u8; DigitsMlp::PARAM_BYTES] = read("digits_mlp.bin").try_into().unwrap();
    let net = DigitsMlp::from_le_bytes(&weights);
    let samples = rows::<64>(&read("test_samples.bin"));
    let baked_logits = rows::<10>(&read("test_logits.bin"));

    let out = run_firmware("digits_mlp");
    println!("{out}");

    // Inference: every sample's class and logits, against the host's, now and when baked.
    let bake = "cargo run --release --example digits -- --bake firmware/fixtures";
    check_inference(&out, |i| net.forward(&[samples[i]])[0], &baked_logits, bake);

    // Training: the device's losses are the host's, and they fall.
    let device: Vec<f32> = out
        .lines()
        .filter_map(|l| l.strip_prefix("train step "))
        .map(|l| l.split_once(" loss ").unwrap().1.parse().unwrap())
        .collect();
    let mut host = Vec::new();
    let mut train_net = DigitsMlp::new_boxed(&mut gradflow::rng(training::SEED));
    let mut cache = DigitsMlpCache::<{ training::BATCH }>::new_boxed();
    let mut grads = DigitsMlpGrads::new_boxed();
    let mut sgd =
        Sgd::<DigitsMlpGrads>::new_boxed(gradflow::nn::SgdConfig::new(training::LR)).unwrap();
    let x: [[f32; 64]; training::BATCH] = rows::<64>(&read("train_batch.bin")).try_into().unwrap();
    let labels: [usize; training::BATCH] = read("train_labels.bin")
        .iter()
        .map(|&l| usize::from(l))
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    training::train(
        &mut train_net,
        &mut cache,
        &mut grads,
        &mut sgd,
        &x,
        &labels,
        |_, loss| host.push(loss),
    )
    .unwrap();
    assert_eq!(device.len(), training::STEPS, "{out}");
    for (step, (d, h)) in device.iter().zip(&host).enumerate() {
        assert!(
            (d - h).abs() <= 1e-4 * h.abs().max(1.0),
            "step {step}: device {d}, host {h}"
        );
    }
    assert!(device[training::STEPS - 1] < 0.5 * device[0], "{device:?}");

    // The stack the firmware measured by painting: the big buffers are statics, so both
    // phases fit in a few KiB (the README reports the figures).
    for phase in ["inference", "training"] {
        let bytes = stack_mark(&out, phase);
        assert!(
            bytes > 0 && bytes <= 8 * 1024,
            "{phase} used {bytes} bytes of stack"
        );
    }
}

#[test]
#[ignore = "needs qemu-system-arm and the thumbv7em-none-eabihf target; .ci/run runs it"]
fn cnn_firmware_agrees_with_the_host() {
    let fixtures = firmware_dir().join("fixtures");
    let read = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let weights: [u8; DigitsCnn::PARAM_BYTES] = read("digits_cnn.bin").try_into().unwrap();
    let net = Box::new(DigitsCnn::from_le_bytes(&weights));
    let images: Vec<[[[f32; 1]; 8]; 8]> = rows::<64>(&read("test_samples.bin"))
        .iter()
        .map(|row| core::array::from_fn(|r| core::array::from_fn(|c| [row[r * 8 + c]])))
        .collect();
    let baked_logits = rows::<10>(&read("test_cnn_logits.bin"));

    let out = run_firmware("digits_cnn");
    println!("{out}");
    let bake = "cargo run --release --example digits_cnn -- --bake firmware/fixtures";
    check_inference(&out, |i| net.forward(&[images[i]])[0], &baked_logits, bake);
    // The stack holds `forward`'s shared activation buffers and the layers' own frames.
    let bytes = stack_mark(&out, "inference");
    assert!(
        (DigitsCnn::INFER_SCRATCH_BYTES..=DigitsCnn::INFER_SCRATCH_BYTES + 16 * 1024)
            .contains(&bytes),
        "inference used {bytes} bytes of stack"
    );
}
