// The digits CNN, shared by `examples/digits_cnn.rs` (which trains it), the firmware in
// `firmware/` (which runs it on a Cortex-M4F) and `tests/firmware_qemu.rs` (which checks the
// two agree): each of them `include!`s this file.

gradflow::network! {
    /// Two stages of convolutions with a residual block each, batchnorm and ReLU throughout.
    pub struct DigitsCnn<f32> {
        input [8, 8, 1],
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
