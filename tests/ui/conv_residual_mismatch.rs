// An identity skip needs the body to keep the feature map's shape; a projection needs a
// stride s with ceil(n / s) = the body's output size on every side.
use gradflow::network;

network! {
    pub struct Channels<f32> {
        input [8, 8, 8],
        residual {
            conv2d 16 k3 same [relu],
            conv2d 16 k3 same,
        } relu,
        global_avg_pool,
        dense 10,
    }
}

network! {
    pub struct Strided<f32> {
        input [8, 8, 8],
        residual { conv2d 8 k3 s2 same } relu,
        global_avg_pool,
        dense 10,
    }
}

network! {
    pub struct Unreachable<f32> {
        input [8, 9, 4],
        residual(project) { conv2d 8 k3 valid },
        global_avg_pool,
        dense 10,
    }
}

fn main() {}
