// An identity skip needs the body to keep the feature map's shape; a projection needs the
// spatial size to shrink by a whole factor.
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
    pub struct Uneven<f32> {
        input [7, 7, 4],
        residual(project) { conv2d 8 k3 s2 same },
        global_avg_pool,
        dense 10,
    }
}

fn main() {}
