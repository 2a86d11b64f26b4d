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
    train_cnn_on_one_sample();
}

// A batchnorm over a feature map normalizes each channel over the batch and the positions:
// one 2x2 sample gives 4 values per channel, and trains.
network! {
    pub struct Cnn<f32> {
        input [2, 2, 1],
        conv2d 3 k1 [he_init, batchnorm, relu],
        global_avg_pool,
        dense 2,
    }
}

fn train_cnn_on_one_sample() {
    let mut net = Cnn::new(&mut gradflow::rng(0));
    let mut cache = CnnCache::<1>::zeroed();
    let mut grads = CnnGrads::zeroed();
    let x = [[[[1.0], [2.0]], [[3.0], [5.0]]]];
    let y = *net.forward_train::<1>(&x, &mut cache);
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    net.backward::<1>(&mut cache, &[[1.0, -1.0]], &mut grads);
}
