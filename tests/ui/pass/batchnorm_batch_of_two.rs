// The companion of ui/batchnorm_batch_of_one.rs: a batch of two trains. Its presence also
// makes trybuild build (not just check) every case, so post-monomorphization errors show
// (dtolnay/trybuild#258).
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
    let mut cache = NetCache::<2>::zeroed();
    let y = net.forward_train::<2>(&[[1.0; 4], [2.0; 4]], &mut cache);
    assert!(y.iter().flatten().all(|v| v.is_finite()));
}
