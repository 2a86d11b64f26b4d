// A kernel larger than its (padded) input: the error names the input's size and padding.
use gradflow::network;

network! {
    pub struct TooLarge<f32> {
        input [4, 4, 1],
        conv2d 8 k5 valid [relu],
        flatten,
        dense 2,
    }
}

network! {
    pub struct TooLargeAfterPooling<f32> {
        input [8, 8, 3],
        maxpool 4,
        maxpool 4,
        global_avg_pool,
        dense 2,
    }
}

network! {
    pub struct TooLargeSequence<f32> {
        input [4, 2],
        conv1d 4 k7 valid,
        flatten,
        dense 2,
    }
}

fn main() {}
