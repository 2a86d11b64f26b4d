// A `frozen` layer of your own still needs a backward pass to be trained, even as the first
// layer, where no gradient flows through it: the network's backward pass is one function
// that also computes the gradient of the input. rustc names the layer at each training call.
use gradflow::network;
use gradflow::nn::Forward;

#[derive(bytemuck::Zeroable)]
pub struct Double;

impl Forward<f32> for Double {
    type Input = [f32; 4];
    type Output = [f32; 4];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "double";

    fn forward<const B: usize>(&self, x: &[[f32; 4]; B], y: &mut [[f32; 4]; B]) {
        *y = x.map(|row| row.map(|v| 2.0 * v));
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[[f32; 4]; B],
        y: &mut [[f32; 4]; B],
        _: &mut (),
    ) {
        self.forward(x, y);
    }
}

network! {
    pub struct Net<f32> {
        input 4,
        layer Double (4 -> 4) [frozen],
        dense 3,
    }
}

fn main() {
    let mut net = Net::new(&mut gradflow::rng(0));
    let mut cache = NetCache::<2>::zeroed();
    net.forward_train(&[[1.0; 4]; 2], &mut cache);
    let mut grads = NetGrads::zeroed();
    net.backward(&mut cache, &[[1.0; 3]; 2], &mut grads);
}
