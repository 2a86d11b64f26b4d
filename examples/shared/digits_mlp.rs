// The digits MLP, shared by `examples/digits.rs` (which trains it), the firmware in
// `firmware/` (which runs and trains it on a Cortex-M4F) and `tests/firmware_qemu.rs`
// (which checks the two agree): each of them `include!`s this file.

gradflow::network! {
    /// 64 pixels -> two hidden ReLU layers of 128 with He initialization -> 10 logits.
    pub struct DigitsMlp<f32> {
        input 64,
        dense 128 [he_init, relu],
        dense 128 [he_init, relu],
        dense 10 [xavier_init],
    }
}
