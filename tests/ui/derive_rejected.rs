// A network derives `Clone`, `Debug` and `PartialEq` (for itself and its gradients) and
// nothing else: each other trait is an error on its name, saying why, and so is a trait of
// another path named like an accepted one (`fake::Clone`).
use gradflow::network;

network! {
    /// Doc comments are fine, and so are these derives.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Hash)]
    pub struct Net<f32> {
        input 4,
        dense 2,
    }
}

mod fake {
    pub use core::clone::Clone;
}

network! {
    #[derive(fake::Clone)]
    pub struct Elsewhere<f32> {
        input 4,
        dense 2,
    }
}

fn main() {}
