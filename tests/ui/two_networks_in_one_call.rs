// One network per `network!` call: a second one after the first's body is told to go in a
// call of its own.
use gradflow::network;

network! {
    pub struct First<f32> { input 4, dense 2 }
    pub struct Second<f32> { input 4, dense 2 }
}

fn main() {}
