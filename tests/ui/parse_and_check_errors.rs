// An item that does not parse does not hide the errors the other items have: the syntax
// error and the checker's errors are reported together. The layers after the broken item
// are not checked against its (unknown) output.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        desne 8,
        dense 8 [he_init, xavier_init],
        layer Scale (3 -> 3),
        repeat 0 { dense 2 },
        dense 2,
    }
}

// Inside a block likewise: the block's other items are checked, and an error inside a
// `repeat` is reported once.
network! {
    pub struct Blocks<f32> {
        input 4,
        residual { dense 4 [relux], desne 4, dense 0 },
        repeat 3 { dense 4 [he_init, xavier_init], desne 4 },
        dense 2,
    }
}

fn main() {}
