// Attributes in parentheses or in two lists, an activation after a `repeat` block, and two
// attributes without a comma are each told how to write them. The example in the message is
// the layer's own kind.
use gradflow::network;

network! {
    pub struct Parens<f32> { input 4, dense 8 (relu), dense 2 }
}

network! {
    pub struct ParensBatchnorm<f32> { input 4, dense 8, batchnorm (frozen), dense 2 }
}

network! {
    pub struct ParensConv<f32> { input [8, 8, 1], conv2d 4 k3 (relu), global_avg_pool, dense 2 }
}

network! {
    pub struct TwoLists<f32> { input 4, dense 8 [relu] [batchnorm], dense 2 }
}

network! {
    pub struct RepeatActivation<f32> { input 4, repeat 2 { dense 4 } relu, dense 2 }
}

network! {
    pub struct NoComma<f32> { input 4, dense 8 [he_init relu], dense 2 }
}

fn main() {}
