// Convolution, pooling and flattening need an image or a sequence, and a 2-D convolution
// needs an image: each on the wrong kind of input is an error naming what the layer before
// it outputs.
use gradflow::network;

network! {
    pub struct PoolOnFlat<f32> { input 16, maxpool 2, dense 2 }
}

network! {
    pub struct AvgPoolOnFlat<f32> { input 16, avgpool k2 s2, dense 2 }
}

network! {
    pub struct FlattenOnFlat<f32> { input 16, dense 8, flatten, dense 2 }
}

network! {
    pub struct ConvOnFlat<f32> { input 16, conv1d 4 k3, global_avg_pool, dense 2 }
}

network! {
    pub struct Conv2dOnSequence<f32> { input [16, 2], conv2d 4 k3, global_avg_pool, dense 2 }
}

network! {
    pub struct Conv1dOnImage<f32> { input [8, 8, 1], conv1d 4 k3, global_avg_pool, dense 2 }
}

fn main() {}
