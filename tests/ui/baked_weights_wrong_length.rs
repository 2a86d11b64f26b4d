// Baked weights of the wrong length do not compile: `from_le_bytes` takes exactly
// `&[u8; PARAM_BYTES]` (here 2 * 3 + 3 + 3 + 1 = 13 scalars, 52 bytes).
use gradflow::network;

network! {
    pub struct Tiny<f32> {
        input 2,
        dense 3 [relu],
        dense 1,
    }
}

static NET: Tiny = Tiny::from_le_bytes(&[0; 48]);

fn main() {
    let _ = NET.forward(&[[0.0; 2]]);
}
