// The README's budget assertions: a network or a training batch that outgrows its budget
// is a compile error.
use gradflow::network;

network! {
    pub struct Wide<f32> {
        input 64,
        dense 256 [relu],
        dense 10,
    }
}

const _: () = assert!(Wide::PARAM_BYTES <= 64 * 1024, "Wide does not fit in 64 KiB of flash");
const _: () = assert!(Wide::train_scratch_bytes(64) <= 32 * 1024, "batch 64 needs too much RAM");

fn main() {}
