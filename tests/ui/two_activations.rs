use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [relu, tanh],
        dense 2 [frozen, frozen],
    }
}

fn main() {}
