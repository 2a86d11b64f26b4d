// A user layer whose type does not exist is reported once, on its name.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        layer Missing (4 -> 4),
        dense 2,
    }
}

fn main() {}
