// Generic training code (a training loop, an optimizer) over a network with a layer that has
// no backward pass names the layer too.
use gradflow::network;
use gradflow::nn::{Forward, TrainableNetwork};

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
        layer Double (4 -> 4),
        dense 3,
    }
}

fn train<N: TrainableNetwork<f32>>(_: &mut N) {}

fn main() {
    let mut net = Net::new(&mut gradflow::rng(0));
    train(&mut net);
}
