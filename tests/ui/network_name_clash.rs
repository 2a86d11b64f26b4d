// `network! { struct Net .. }` also defines `NetGrads` and `NetCache`: a type of that name in
// the same module is reported on the network's name, saying which generated type clashed.
// The generated code names each struct once per function (in a pattern), so the fields it
// then misses are one more error, on the name too, however many layers the network has.
use gradflow::network;

pub struct NetGrads;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [relu],
        dense 8 [batchnorm, relu],
        dense 2,
    }
}

mod cache {
    use gradflow::network;

    pub struct NetCache;

    network! {
        pub struct Net<f32> {
            input 4,
            dense 8 [relu],
            dense 2,
        }
    }
}

fn main() {}
