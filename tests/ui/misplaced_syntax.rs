use gradflow::network;

// A convolution's option after its attributes: options come first.
network! {
    pub struct Late<f32> {
        input [8, 8, 1],
        conv2d 4 k3 [relu] same,
        flatten,
        dense 2,
    }
}

// A residual block's options go in parentheses.
network! {
    pub struct Bracketed<f32> {
        input 4,
        residual [project] { dense 2 },
        dense 2,
    }
}

// The `>` after the element type is missing.
network! {
    pub struct Open<f32 {
        input 4,
        dense 2,
    }
}

fn main() {}
