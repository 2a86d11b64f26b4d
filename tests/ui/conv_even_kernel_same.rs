// `same` padding is `kernel / 2` on each side, which keeps the size only for odd kernels.
use gradflow::network;

network! {
    pub struct Even<f32> {
        input [8, 8, 1],
        conv2d 4 k4 same [relu],
        flatten,
        dense 2,
    }
}

network! {
    pub struct EvenSequence<f32> {
        input [8, 2],
        conv1d 4 k2 same,
        flatten,
        dense 2,
    }
}

fn main() {}
