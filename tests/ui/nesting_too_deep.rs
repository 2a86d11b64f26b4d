// `residual` and `repeat` blocks nest at most 64 deep: about a thousand levels overflowed the
// macro's stack. The block that goes too deep is reported.
use gradflow::network;

// 64 levels are fine: this network is rejected only for its element type.
network! {
    pub struct Deepest<i32> {
        input 4,
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
            dense 4
        }}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}},
        dense 2,
    }
}

// 65 `residual` blocks.
network! {
    pub struct TooDeep<f32> {
        input 4,
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual { residual { residual { residual { residual { residual { residual { residual {
        residual {
            dense 4
        }}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}},
        dense 2,
    }
}

// 65 `repeat 1`, the last without braces.
network! {
    pub struct TooDeepRepeat<f32> {
        input 4,
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
        repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 {
            repeat 1 dense 4
        }}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}},
        dense 2,
    }
}

fn main() {}
