// Each layer fits, but the whole network does not: rustc bounds a value below 2^61 bytes on
// 64-bit targets. The layer whose parameters (or, per sample, whose output in the training
// cache) take the total past it is reported, not "values of the type `Net` are too big for
// the target architecture" from the generated code.
use gradflow::network;

// 2^29 x 2^29 weights of 4 bytes are 2^60 bytes per layer: the second layer goes past 2^61.
network! {
    pub struct TooManyParams<f32> {
        input 536870912,
        repeat 9 { dense 536870912 },
    }
}

// In f64 the first layer alone is 2^61 bytes.
network! {
    pub struct TooManyParamsF64<f64> {
        input 536870912,
        dense 536870912,
    }
}

// A 2^20 x 2^20 image of 2^19 channels is 2^61 bytes of f32 per sample.
network! {
    pub struct TooManyActivations<f32> {
        input [1048576, 1048576, 1],
        conv2d 524288 k1,
        global_avg_pool,
        dense 2,
    }
}

// One input sample of 2^31 x 2^30 values of 4 bytes: 2^63 bytes.
network! {
    pub struct TooLargeInput<f32> {
        input [2147483648, 1073741824, 1],
        global_avg_pool,
        dense 2,
    }
}

fn main() {}

// Shapes whose element counts overflow usize, through `flatten` and through `same` padding of
// a huge kernel: the size errors, not a panic of the macro.
network! {
    pub struct FlattenOverflow<f32> {
        input [1000, 1000, 3],
        conv2d 100000000000000 k3 same [relu],
        flatten,
        dense 10,
    }
}

network! {
    pub struct SeqFlattenOverflow<f32> {
        input [4, 1],
        conv1d 4611686018427387904 k1,
        flatten,
        dense 2,
    }
}

network! {
    pub struct HugeSameKernel<f32> {
        input [8, 8, 1],
        conv2d 4 k18446744073709551615 same,
        flatten,
        dense 2,
    }
}
