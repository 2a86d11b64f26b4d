// Malformed items and attribute lists are reported on the token at fault, saying what is
// expected there.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        /// An item takes no doc comment.
        dense 8 [relu],
        dense 8 [42],
        dense 8 [gradflow::relu],
        dense 8 [he_init relu],
        residual(project = true) { dense 8 },
        batchnorm frozen frozen,
        42,
        dense 2,
    }
}

fn main() {}
