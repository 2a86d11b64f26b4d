// `backward` on a batch of one sample is refused like `forward_train`, for a network whose
// batchnorm sees one value per channel in a sample: its cache could only hold a batch that
// `forward_train` refused. (A post-monomorphization error: see batchnorm_batch_of_one.rs.)
use gradflow::network;

network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [he_init, batchnorm, relu],
        dense 2,
    }
}

fn main() {
    let net = Net::new(&mut gradflow::rng(0));
    let mut cache = NetCache::<1>::zeroed();
    let mut grads = NetGrads::zeroed();
    net.backward::<1>(&mut cache, &[[1.0, 0.0]], &mut grads);
}
