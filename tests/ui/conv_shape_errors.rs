// Other shape errors of convolutional items, all reported at once.
use gradflow::network;

network! {
    pub struct ConvOnFlat<f32> {
        input 64,
        conv2d 4 k3 same,
        global_avg_pool,
        flatten,
        dense 2,
    }
}

network! {
    pub struct AlreadyFlat<f32> {
        input 64,
        global_avg_pool,
        dense 2,
    }
}

network! {
    pub struct WrongKind<f32> {
        input [16, 2],
        conv2d 4 k3 same,
        flatten,
        dense 2,
    }
}

network! {
    pub struct StandardizeImage<f32> {
        input [4, 4, 1],
        standardize,
        flatten,
        dense 2,
    }
}

network! {
    pub struct OutputNotFlat<f32> {
        input [8, 8, 1],
        conv2d 4 k3 same [relu],
    }
}

network! {
    pub struct BadInput<f32> {
        input [1, 8, 8, 8],
        dense 2,
    }
}

network! {
    pub struct BadOptions<f32> {
        input [8, 8, 1],
        conv2d 4 k3 stride2,
        global_avg_pool,
        dense 2,
    }
}

fn main() {}
