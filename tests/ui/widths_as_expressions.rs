// Widths are whole numbers written out: a constant, arithmetic or a shape in parentheses is
// one error each, saying so (not "expected `,` between items").
use gradflow::network;

#[allow(dead_code)]
const HIDDEN: usize = 16;

network! {
    pub struct Named<f32> { input 4, dense HIDDEN [relu], dense 2 }
}

network! {
    pub struct Product<f32> { input 4, dense 2 * 8 [relu], dense 2 }
}

network! {
    pub struct Tuple<f32> { input (8, 8, 1), flatten, dense 2 }
}

fn main() {}
