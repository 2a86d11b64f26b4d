// A crate that forbids `unsafe` can host a `network!`. The expansion does contain `unsafe`
// (the `Zeroable` impls of the generated structs, and the size-checked `transmute`s of
// `const fn from_le_bytes`), but rustc does not report the `unsafe_code` lint inside code
// expanded from another crate's macro, so `#![forbid(unsafe_code)]` applies to the user's
// own code only. This case covers every generated item that holds `unsafe`: dense,
// batchnorm, convolution, standardization and marker layers in `from_le_bytes`, and the
// zeroed network, gradients and cache.
#![forbid(unsafe_code)]

use gradflow::network;

network! {
    pub struct Cnn<f32> {
        input [4, 4, 1],
        conv2d 4 k3 same [he_init, batchnorm, relu],
        residual {
            conv2d 4 k3 same [he_init, batchnorm, relu],
        },
        global_avg_pool,
        dense 3,
    }
}

network! {
    pub struct Mlp<f64> {
        input 3,
        standardize,
        dense 4 [batchnorm, tanh],
        dense 2,
    }
}

static BAKED: Cnn = Cnn::from_le_bytes(&[0; Cnn::PARAM_BYTES]);

fn main() {
    let mut net = Cnn::new(&mut gradflow::rng(0));
    let x = [[[[0.5f32]; 4]; 4], [[[-1.0f32]; 4]; 4]];
    let mut cache = CnnCache::<2>::zeroed();
    let mut grads = CnnGrads::zeroed();
    let y = *net.forward_train(&x, &mut cache);
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    net.backward(&mut cache, &[[1.0; 3]; 2], &mut grads);

    let mut bytes = [0u8; Cnn::PARAM_BYTES];
    net.write_le_bytes(&mut bytes);
    let copy = Cnn::from_le_bytes(&bytes);
    assert_eq!(copy.forward(&x), net.forward(&x));
    assert_eq!(BAKED.forward(&x), [[0.0; 3]; 2]);

    let mlp = Mlp::new(&mut gradflow::rng(1));
    let mut bytes = [0u8; Mlp::PARAM_BYTES];
    mlp.write_le_bytes(&mut bytes);
    let x = [[1.0, 2.0, 3.0]];
    assert_eq!(Mlp::from_le_bytes(&bytes).forward(&x), mlp.forward(&x));
}
