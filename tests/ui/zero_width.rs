use gradflow::network;

network! {
    pub struct Net<f32> {
        input 0,
        dense 0 [relu],
        layer Custom (0 -> 4),
        dense 2,
    }
}

fn main() {}
