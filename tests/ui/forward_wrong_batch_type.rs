// A batch is an array of samples of the network's element type: samples of another element
// type, or a `Vec` instead of an array, are type errors naming both types.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 2,
    }
}

fn main() {
    let net = Net::new(&mut gradflow::rng(0));
    let x = [[0.0f64; 4]; 3];
    let _ = net.forward(&x);
    let v = vec![[0.0f32; 4]; 3];
    let _ = net.predict(&v);
}
