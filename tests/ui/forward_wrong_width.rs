// Inference with samples of the wrong width is a type error naming both array types.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [relu],
        dense 2,
    }
}

fn main() {
    let net = Net::new(&mut gradflow::rng(0));
    let x = [[0.0f32; 3]; 5];
    let _ = net.forward(&x);
    let _ = net.predict(&[[0.0f32; 5]; 2]);
}
