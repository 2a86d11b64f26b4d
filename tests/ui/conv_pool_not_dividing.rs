// Pooling that would silently drop rows or columns is an error (PyTorch floors instead).
use gradflow::network;

network! {
    pub struct Odd<f32> {
        input [1, 7, 7],
        maxpool 2,
        flatten,
        dense 2,
    }
}

network! {
    pub struct Overlapping<f32> {
        input [1, 8, 9],
        avgpool k3 s2,
        flatten,
        dense 2,
    }
}

network! {
    pub struct Sequence<f32> {
        input [2, 11],
        maxpool 2,
        flatten,
        dense 2,
    }
}

fn main() {}
