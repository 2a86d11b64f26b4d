// Convolution layers used directly, without `network!`: shapes that do not add up fail the
// build where the layer is used.
use gradflow::nn::conv::{Conv1d, Conv2d};
use gradflow::nn::memory::zeroed;
use gradflow::nn::Forward;

fn main() {
    // An 8x8 input, kernel 3, stride 1, no padding gives 6x6, not 8x8.
    let conv: Conv2d<f32, 1, 8, 8, 4, 3, 1, 0, 8, 8> = zeroed();
    let mut y = [[[[0.0f32; 4]; 8]; 8]; 2];
    conv.forward(&[[[[0.0f32; 1]; 8]; 8]; 2], &mut y);

    // No input channels.
    let conv: Conv1d<f32, 0, 4, 2, 1, 1, 0, 4> = zeroed();
    let mut y = [[[0.0f32; 2]; 4]; 1];
    conv.forward(&[[[0.0f32; 0]; 4]; 1], &mut y);
}
