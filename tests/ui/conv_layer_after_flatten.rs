// A user layer declared for the wrong width after `flatten`: the error names the flattened
// shape.
use gradflow::network;

network! {
    pub struct AfterFlatten<f32> {
        input [8, 8, 1],
        conv2d 16 k3 valid [relu],
        maxpool 2,
        flatten,
        layer my_layers::Scale (100 -> 100),
        dense 10,
    }
}

fn main() {}
