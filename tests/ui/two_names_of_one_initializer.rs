use gradflow::network;

// `he_normal` is `he_init` under its other name: a repeat, not a conflict.
network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [he_init, he_normal, ReLU],
        dense 2,
    }
}

fn main() {}
