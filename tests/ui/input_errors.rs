// A network starts with exactly one `input`, its shape a number or in brackets; every error
// is reported at once.
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

// An image's shape written as text: the bracket form is suggested.
network! {
    pub struct TextShape<f32> {
        input 8x8,
        dense 2,
    }
}

fn main() {}
