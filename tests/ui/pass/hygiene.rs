// The generated code resolves nothing in the user's scope: every path is absolute and the
// const generic parameters it passes as arguments are braced (`Cache<{ B }>`), so items
// named like them (`B`, `N`), like the element type's parameter (`T`) or like the traits
// and std types it uses do not change what it means.
#![allow(dead_code, non_camel_case_types)]

use gradflow::network;

struct B;
struct N;
struct T;
struct Option;
struct Some;
struct None;
struct Box;
struct Sized;
struct Forward;
struct Backward;
struct Trainable;
struct Network;
struct TrainableNetwork;
struct Grads;
struct Cache;
struct Dense;
struct BatchNorm;
struct Relu;
struct Tanh;
struct FnMut;
struct Iterator;
struct IntoIterator;
struct usize;
mod core {}

network! {
    /// A network declared next to items named like everything its expansion uses.
    pub struct Net<f32> {
        input 4,
        dense 8 [he_init, batchnorm, relu],
        residual(project) {
            dense 6 [he_init, relu],
            batchnorm,
        } tanh,
        relu,
        dense 6 [frozen],
        dense 3,
    }
}

fn main() {
    let mut net = Net::new(&mut gradflow::rng(0));
    let x = [[0.5f32, -1.0, 2.0, 0.25], [1.0, 0.0, -0.5, 3.0]];
    let y = net.forward(&x);
    let _classes = net.predict(&x);

    let mut cache = NetCache::<2>::zeroed();
    let mut grads = NetGrads::zeroed();
    let trained = *net.forward_train(&x, &mut cache);
    assert!(trained.iter().flatten().all(|v| v.is_finite()));
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    net.backward(&mut cache, &[[1.0; 3]; 2], &mut grads);

    let mut momentum = NetGrads::zeroed();
    let mut params = 0;
    net.visit_params(&grads, [&mut momentum], &mut |p| params += p.value.len());
    assert_eq!(params, Net::TRAINABLE_PARAM_COUNT);

    let mut layers = 0;
    Net::visit_activations(&cache, &mut |_| layers += 1);
    assert_eq!(layers, Net::LAYERS.len());
    Net::visit_output_grads(&cache, &mut |g| {
        assert!(g.values.iter().all(|v| v.is_finite()))
    });

    // Baked weights, and the memory consts.
    let bytes = net.to_le_bytes();
    let mut array = [0u8; Net::PARAM_BYTES];
    net.write_le_bytes(&mut array);
    assert_eq!(bytes[..], array[..]);
    let built = Net::from_le_bytes(&array);
    net.load_le_bytes(&array);
    assert_eq!(built.forward(&x), net.forward(&x));
    assert!(Net::INFER_SCRATCH_BYTES > 0 && Net::train_scratch_bytes(2) > 0);

    // The same, through the traits.
    let mut cache = <Net as gradflow::nn::TrainableNetwork<f32>>::Cache::<2>::zeroed();
    <Net as gradflow::nn::TrainableNetwork<f32>>::forward_train(&mut net, &x, &mut cache);
}
