// Two independent errors in one network, found while checking it: both are reported, each on
// its own token, not just the first.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [relux],
        dense 0,
        dense 2,
    }
}

fn main() {}
