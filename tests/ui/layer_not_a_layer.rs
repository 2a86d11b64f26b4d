// A user layer type that is not a layer (no `Forward` impl) is one error, on its name in the
// network, naming the trait it must implement; the generated code adds no errors of its own.
use gradflow::network;

#[derive(bytemuck::Zeroable)]
pub struct Plain;

network! {
    pub struct Net<f32> {
        input 4,
        layer Plain (4 -> 4),
        dense 2,
    }
}

fn main() {}
