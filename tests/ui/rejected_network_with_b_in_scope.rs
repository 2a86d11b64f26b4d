// A rejected network's stand-in types take a batch size `B`; a type named `B` in the user's
// module (a struct, an import, another network) must not be taken for it: the one error is
// the macro's own.
use gradflow::network;

#[allow(dead_code)]
struct B;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [relux],
        dense 2,
    }
}

fn main() {
    let _cache = NetCache::<2>::zeroed();
}
