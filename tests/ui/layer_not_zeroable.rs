// A user layer that implements `Forward` but is not `bytemuck::Zeroable` (README: "Layers of
// your own"): one error, on its name in the network. rustc names the trait by the path it
// reaches it through (`gradflow::__private::bytemuck`); a trait of gradflow's own with a
// message of its own would need an impl from every layer, since rustc reports the unmet bound
// behind a blanket impl, not the blanket trait's message.
use gradflow::nn::Forward;
use gradflow::network;

pub struct Scale {
    factor: f32,
}

impl Forward<f32> for Scale {
    type Input = [f32; 4];
    type Output = [f32; 4];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "scale";

    fn init(&mut self, _: &mut dyn rand::RngCore) {
        self.factor = 2.0;
    }

    fn forward<const B: usize>(&self, x: &[[f32; 4]; B], y: &mut [[f32; 4]; B]) {
        for (xb, yb) in x.iter().zip(y) {
            for (xi, yi) in xb.iter().zip(yb) {
                *yi = self.factor * xi;
            }
        }
    }

    fn forward_train<const B: usize>(&mut self, x: &[[f32; 4]; B], y: &mut [[f32; 4]; B], _: &mut ()) {
        self.forward(x, y);
    }
}

network! {
    pub struct Net<f32> {
        input 4,
        layer Scale (4 -> 4),
        dense 2,
    }
}

fn main() {}
