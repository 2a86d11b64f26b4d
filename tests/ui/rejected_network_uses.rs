// A network that `network!` rejects is reported once, on the layer at fault; the code that
// uses it adds no errors of its own ("no function `new`", "cannot find type `NetGrads`"),
// while an unrelated error elsewhere is still reported. `impl Net { .. }` stays valid.
gradflow::network! {
    pub struct Net<f32> {
        input 4,
        dense 8 [relu],
        layer Scale (3 -> 3),
        dense 2,
    }
}

pub struct Scale;

impl Net {
    pub fn describe(&self) -> &'static str {
        "a network"
    }
}

fn main() {
    let mut rng = gradflow::rng(0);
    let mut net = Net::new(&mut rng);
    let boxed = Net::new_boxed(&mut rng);
    let mut cache = NetCache::<2>::new_boxed();
    let mut grads = NetGrads::new_boxed();
    let y: [[f32; 2]; 2] = net.forward_train(&[[0.0; 4]; 2], &mut cache);
    net.backward(&mut cache, &y, &mut grads);
    let classes: [usize; 2] = boxed.predict(&[[0.0; 4]; 2]);
    println!("{} {} {classes:?}", Net::PARAM_COUNT, net.describe());
    let unrelated: u8 = "not a number";
}

// Methods of one name on the network and its gradients, and impls generic over the cache's
// batch, are valid on a network that compiles, and stay so on a rejected one.
impl NetGrads {
    pub fn describe(&self) -> &'static str {
        "its gradients"
    }
}

pub trait Batched {}

impl<const B: usize> Batched for NetCache<B> {}
