// Malformed items are all reported, and the network still names a (placeholder) type, so
// code using it does not add errors of its own.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        desne 8,
        dense 8.5,
        layer Custom,
        dense,
    }
}

fn main() {
    let _ = core::mem::size_of::<Net>();
}
