// A network starts with exactly one `input`; every error is reported at once.
use gradflow::network;

network! {
    pub struct NoInput<f32> {
        dense 8,
    }
}

network! {
    pub struct TwoInputs<f32> {
        input 4,
        dense 8,
        input 8,
    }
}

network! {
    pub struct Empty<f32> {
        input 4,
    }
}

fn main() {}
