//! What the firmware binaries share: exiting QEMU, the panic handler, fixtures decoded at
//! compile time, stack measurement, and classifying baked-in samples.
//!
//! The binaries (`src/bin/digits_mlp.rs`, `src/bin/digits_cnn.rs`) each `include!` their
//! network's definition from `examples/shared/`, the one the host trains.
#![no_std]

pub mod stack;

use cortex_m_semihosting::{debug, hprintln};
use gradflow::nn::loss::argmax;
use gradflow::nn::Network;

/// Ends QEMU with `status` (exit code 0 or 1); on a real device, sleeps.
pub fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Reports `message` and ends QEMU with a failing exit code.
pub fn fail(message: &str) -> ! {
    hprintln!("error: {}", message);
    exit(debug::EXIT_FAILURE)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    exit(debug::EXIT_FAILURE)
}

/// `R` rows of `C` little-endian f32s, decoded at compile time; a file of another length
/// does not compile.
pub const fn rows<const R: usize, const C: usize>(bytes: &[u8]) -> [[f32; C]; R] {
    assert!(
        bytes.len() == R * C * 4,
        "fixture length does not match its shape"
    );
    let mut out = [[0.0; C]; R];
    let mut i = 0;
    while i < R * C {
        let b = 4 * i;
        out[i / C][i % C] =
            f32::from_le_bytes([bytes[b], bytes[b + 1], bytes[b + 2], bytes[b + 3]]);
        i += 1;
    }
    out
}

/// Classifies each of `samples` with `net` (batch 1), then prints one line per sample
/// (`sample I label L class C logits [..]`), the accuracy, and the stack that inference
/// used (`stack inference N bytes`), measured before anything is printed.
pub fn classify<N, const S: usize>(net: &N, samples: &[N::Input; S], labels: &[u8; S])
where
    N: Network<f32>,
    N::Output: AsRef<[f32]>,
{
    stack::paint();
    let mut logits: [N::Output; S] = gradflow::nn::memory::zeroed();
    for (x, y) in samples.iter().zip(logits.iter_mut()) {
        net.forward_into(core::array::from_ref(x), core::array::from_mut(y));
    }
    let used = stack::high_water();
    let mut correct = 0;
    for (i, (y, &label)) in logits.iter().zip(labels).enumerate() {
        let class = argmax(y.as_ref());
        correct += usize::from(class == usize::from(label));
        hprintln!(
            "sample {} label {} class {} logits {:?}",
            i,
            label,
            class,
            y.as_ref()
        );
    }
    hprintln!("accuracy {}/{}", correct, S);
    hprintln!("stack inference {} bytes", used);
}
