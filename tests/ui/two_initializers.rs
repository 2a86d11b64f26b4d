use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [he_init, relu, xavier_init],
        dense 2,
    }
}

fn main() {}
