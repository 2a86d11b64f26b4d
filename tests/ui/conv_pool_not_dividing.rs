// Pooling that would silently drop rows or columns is an error (PyTorch floors instead).
use gradflow::network;

network! {
    pub struct Odd<f32> {
        input [7, 7, 1],
        maxpool 2,
        flatten,
        dense 2,
    }
}

network! {
    pub struct Overlapping<f32> {
        input [8, 9, 1],
        avgpool k3 s2,
        flatten,
        dense 2,
    }
}

network! {
    pub struct Sequence<f32> {
        input [11, 2],
        maxpool 2,
        flatten,
        dense 2,
    }
}

fn main() {}
