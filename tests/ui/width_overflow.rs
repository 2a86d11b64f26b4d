// A width whose weights no memory could hold is reported on the width, not as an overflow
// deep inside the layer's constants.
use gradflow::network;

network! {
    pub struct Huge<f32> {
        input 4,
        dense 18446744073709551615,
        dense 2,
    }
}

network! {
    pub struct Wide<f32> {
        input 65536,
        dense 4611686018427387904,
    }
}

fn main() {}
