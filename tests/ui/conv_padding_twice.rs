// A convolution takes one padding: a second is reported on itself.
use gradflow::network;

network! {
    pub struct Conflicting<f32> {
        input [8, 8, 1],
        conv2d 4 k3 same valid,
        flatten,
        dense 2,
    }
}

network! {
    pub struct Repeated<f32> {
        input [8, 1],
        conv1d 4 k3 same same,
        flatten,
        dense 2,
    }
}

fn main() {}
