// A user layer declared for 100 inputs after a layer that outputs 64.
use gradflow::network;
use gradflow::nn::Forward;

#[derive(bytemuck::Zeroable)]
pub struct Scale;

impl Forward<f32> for Scale {
    type Input = [f32; 100];
    type Output = [f32; 100];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "scale";

    fn forward<const B: usize>(&self, x: &[[f32; 100]; B], y: &mut [[f32; 100]; B]) {
        *y = *x;
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[[f32; 100]; B],
        y: &mut [[f32; 100]; B],
        _: &mut (),
    ) {
        *y = *x;
    }
}

network! {
    pub struct Net<f32> {
        input 32,
        dense 64 [relu],
        layer Scale (100 -> 100),
        dense 10,
    }
}

fn main() {}
