// Widths and counts are whole numbers of at least 1: 0 is reported by the check, with the
// layer it sizes, and a negative or fractional number where it is written.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 0,
        dense 0 [relu],
        layer Custom (0 -> 4),
        dense 2,
    }
}

fn main() {}

network! {
    pub struct Negative<f32> {
        input 4,
        dense -2 [relu],
        layer Custom (-1 -> 4),
        repeat -3 { dense 4 },
        dense 2.5,
    }
}

// A whole number that does not fit a usize is too large, not malformed.
network! {
    pub struct Huge<f32> {
        input 4,
        dense 99999999999999999999999,
        repeat 99999999999999999999999 { dense 4 },
    }
}
