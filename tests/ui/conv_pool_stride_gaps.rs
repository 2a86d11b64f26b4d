// A pooling stride larger than its window would skip the elements between windows: the
// input's 100 in `[1, 2, 100, 3, 4]` under `maxpool k2 s3` would never be read.
use gradflow::network;

network! {
    pub struct Gap<f32> {
        input [5, 1],
        maxpool k2 s3,
        flatten,
        dense 2,
    }
}

network! {
    pub struct Sparse<f32> {
        input [5, 5, 1],
        avgpool k1 s2,
        flatten,
        dense 2,
    }
}

fn main() {}
