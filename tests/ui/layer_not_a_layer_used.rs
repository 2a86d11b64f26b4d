// A network holding a type that is not a layer: beside the one error on the type in the
// network (tests/ui/layer_not_a_layer.rs), each use of the network says which bound its
// type misses.
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

fn main() {
    let net: Net = bytemuck::Zeroable::zeroed();
    let _ = net.predict(&[[1.0; 4]; 2]);
}
