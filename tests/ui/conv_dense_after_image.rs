// A dense layer reads a flat vector: after a feature map it needs `flatten` or
// `global_avg_pool` first.
use gradflow::network;

network! {
    pub struct NoFlatten<f32> {
        input [8, 8, 1],
        conv2d 16 k3 same [relu],
        dense 10,
    }
}

network! {
    pub struct DenseOnInput<f32> {
        input [12, 2],
        dense 10,
    }
}

fn main() {}
