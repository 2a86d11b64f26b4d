//! `network!` in a crate whose `Cargo.toml` renames gradflow
//! (`gf = { package = "gradflow", .. }`): the expansion's paths follow the rename, so every
//! layer kind, the constructors, training and the byte layout work as under the usual name.
//! Built and tested by `cargo test --workspace`.

use gf::prelude::*;

network! {
    /// Every kind of item the expansion has its own code for, over images.
    pub struct Images<f32> {
        input [6, 6, 2],
        conv2d 4 k3 same [he_init, batchnorm, relu],
        residual(project) { conv2d 4 k3 s2 same [relu] } relu,
        maxpool k3,
        flatten,
        standardize,
        dense 5 [batchnorm, tanh],
        residual { dense 5 [relu] },
        dense 3 [frozen],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_trains_saves_and_loads_under_a_renamed_dependency() {
        let mut net = Images::new(&mut gf::rng(3));
        let boxed = Images::new_boxed(&mut gf::rng(3));
        assert_eq!(
            gf::weights::to_bytes(&net).unwrap(),
            gf::weights::to_bytes(&*boxed).unwrap()
        );

        let x: [[[[f32; 2]; 6]; 6]; 4] = core::array::from_fn(|b| {
            core::array::from_fn(|i| {
                core::array::from_fn(|j| [(b + i) as f32 * 0.1, j as f32 * -0.2])
            })
        });
        let mut cache = ImagesCache::<4>::new_boxed();
        let mut grads = ImagesGrads::new_boxed();
        let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
        let mut dlogits = [[0.0f32; 3]; 4];
        let labels = [0, 1, 2, 1];
        let mut losses = Vec::new();
        for _ in 0..20 {
            grads.zero();
            let logits = net.forward_train(&x, &mut cache);
            losses.push(softmax_cross_entropy(logits, &labels, &mut dlogits).unwrap());
            net.backward(&mut cache, &dlogits, &mut grads);
            assert!(sgd.step(&mut net, &grads).applied);
        }
        assert!(
            losses[19] < losses[0],
            "loss {} -> {}",
            losses[0],
            losses[19]
        );

        let bytes = gf::weights::to_bytes(&net).unwrap();
        let mut copy = Images::new(&mut gf::rng(4));
        gf::weights::from_bytes(&mut copy, &bytes).unwrap();
        assert_eq!(copy.forward(&x), net.forward(&x));
        let bytes = net.to_le_bytes();
        let baked: &[u8; Images::PARAM_BYTES] = bytes.as_slice().try_into().unwrap();
        assert_eq!(Images::from_le_bytes(baked).forward(&x), net.forward(&x));
    }
}
