// An identity skip cannot add a block's input (128) to a body that ends at width 64.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 64,
        dense 128 [he_init, relu],
        residual {
            dense 128 [he_init, relu],
            dense 64,
        } relu,
        dense 10,
    }
}

fn main() {}
