//! The networks of the workloads in WORKLOADS.md, shared by the benches (each bench uses some).

use gradflow::prelude::*;

network! {
    /// W1: a tiny controller-sized MLP.
    pub struct Tiny<f32> {
        input 16,
        dense 32 [he_init, relu],
        dense 32 [he_init, relu],
        dense 4,
    }
}

network! {
    /// W2: the digits MLP with batch normalization.
    pub struct DigitsBn<f32> {
        input 64,
        dense 128 [he_init, batchnorm, relu],
        dense 128 [he_init, batchnorm, relu],
        dense 10,
    }
}

network! {
    /// W3: 16 residual blocks `relu(x + BN(Dense(relu(BN(Dense(x))))))` of width 64.
    pub struct DeepResidual<f32> {
        input 64,
        dense 64 [he_init, relu],
        repeat 16 residual {
            dense 64 [he_init, batchnorm, relu],
            dense 64 [he_init, batchnorm],
        } relu,
        dense 10,
    }
}

network! {
    /// W6/W7: a residual CNN on 8x8 images.
    pub struct ConvResidual<f32> {
        input [8, 8, 1],
        conv2d 16 k3 same [he_init, batchnorm, relu],
        repeat 4 residual {
            conv2d 16 k3 same [he_init, batchnorm, relu],
            conv2d 16 k3 same [he_init, batchnorm],
        } relu,
        global_avg_pool,
        dense 10,
    }
}

network! {
    /// W4/W5: an MNIST-sized MLP.
    pub struct Wide<f32> {
        input 784,
        dense 512 [he_init, relu],
        dense 512 [he_init, relu],
        dense 10,
    }
}
