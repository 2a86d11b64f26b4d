use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [batchnorm, relu, batchnorm],
        dense 2,
    }
}

fn main() {}
