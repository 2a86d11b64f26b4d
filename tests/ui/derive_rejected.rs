use gradflow::network;

network! {
    /// Doc comments are fine; derives are not.
    #[derive(Clone, Debug)]
    pub struct Net<f32> {
        input 4,
        dense 2,
    }
}

fn main() {}
