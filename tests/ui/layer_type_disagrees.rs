// A user layer whose type does not have the widths its declaration claims.
use gradflow::network;
use gradflow::nn::Forward;

#[derive(bytemuck::Zeroable)]
pub struct Scale;

impl Forward<f32> for Scale {
    type Input = [f32; 5];
    type Output = [f32; 5];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "scale";

    fn forward<const B: usize>(&self, x: &[[f32; 5]; B], y: &mut [[f32; 5]; B]) {
        *y = *x;
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[[f32; 5]; B],
        y: &mut [[f32; 5]; B],
        _: &mut (),
    ) {
        *y = *x;
    }
}

network! {
    pub struct Net<f32> {
        input 4,
        layer Scale (4 -> 4),
        dense 10,
    }
}

fn main() {}
