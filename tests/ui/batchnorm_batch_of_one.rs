// Training batchnorm on a batch of one sample would divide by a variance of 0. The generated
// `forward_train` asserts it first, naming the network, with the user's call in a note
// (each `BatchNorm` then repeats it). This is a post-monomorphization error (an inline const
// assert): `cargo check` does not see it, so the suite holds a pass case (tests/ui/pass/)
// to make trybuild build.
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [he_init, batchnorm, relu],
        dense 2,
    }
}

fn main() {
    let mut net = Net::new(&mut gradflow::rng(0));
    // Inference on one sample is fine: it uses the running statistics.
    let _ = net.forward(&[[1.0; 4]; 1]);
    let mut cache = NetCache::<1>::zeroed();
    net.forward_train::<1>(&[[1.0; 4]; 1], &mut cache);
}
