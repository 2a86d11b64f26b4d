// A network may have at most 512 items after `repeat` is unrolled: a larger count is
// reported on the count, before anything is unrolled (an unbounded `repeat` exhausted
// rustc's memory).
use gradflow::network;

network! {
    pub struct Huge<f32> {
        input 4,
        repeat 18446744073709551615 { dense 4 },
        dense 2,
    }
}

// Nested counts multiply: the inner `repeat` alone is too many.
network! {
    pub struct Nested<f32> {
        input 4,
        repeat 100000 { repeat 100000 { dense 4 } },
        dense 2,
    }
}

// 2 items before it and 2 in each copy: 2 + 256 x 2 = 514.
network! {
    pub struct JustOver<f32> {
        input 4,
        dense 4,
        relu,
        repeat 256 { dense 4, relu },
    }
}

// 512 items exactly is fine; this one is rejected only for its element type, which shows
// that its size was accepted.
network! {
    pub struct AtTheLimit<i32> {
        input 4,
        dense 4,
        relu,
        repeat 255 { dense 4, relu },
    }
}

fn main() {}
