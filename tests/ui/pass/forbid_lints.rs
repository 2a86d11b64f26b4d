// A crate that forbids the lints the expansion could otherwise have to allow (`dead_code`,
// `unused_mut`, `unused_variables`) can host a `network!`: `#[allow]` under a `forbid` is an
// error (E0453), so the expansion leaves out what would go unused instead, as `from_le_bytes`
// does for a network whose layers hold no tensors.
#![forbid(dead_code, unused_mut, unused_variables)]

use gradflow::network;

network! {
    pub struct Weighted<f32> {
        input 3,
        dense 4 [batchnorm, relu],
        dense 2,
    }
}

network! {
    pub struct Unweighted<f32> {
        input 3,
        relu,
    }
}

fn main() {
    let net = Weighted::new(&mut gradflow::rng(0));
    let y = net.forward(&[[1.0, 2.0, 3.0]]);
    let bare = Unweighted::from_le_bytes(&[]);
    let z = bare.forward(&[[-1.0, 0.0, 1.0]]);
    assert!(y[0].iter().all(|v| v.is_finite()));
    assert_eq!(z, [[0.0, 0.0, 1.0]]);
}
