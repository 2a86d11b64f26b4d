// Brackets after an item that takes no attributes say so, on the bracket, rather than asking
// for a comma (`input` asked for one); each such item is reported, and the rest of the
// network is still checked.
use gradflow::network;

network! {
    pub struct Flat<f32> {
        input 4 [relu],
        dense 8 [relu],
        standardize [frozen],
        tanh [he_init],
        dense 2,
    }
}

network! {
    pub struct Image<f32> {
        input [8, 8, 1] [batchnorm],
        conv2d 4 k3 same,
        maxpool 2 [relu],
        flatten [relu],
        dense 2,
    }
}

fn main() {}
