use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        residual(projection) {
            dense 8 [relu],
        },
        dense 2,
    }
}

fn main() {}
