// A network's elements are f32 or f64: anything else is one error on the type, and the
// network still names a (placeholder) type.
use gradflow::network;

network! {
    pub struct Ints<i32> {
        input 4,
        dense 2,
    }
}

network! {
    pub struct Generic<T> {
        input 4,
        dense 2,
    }
}

network! {
    pub struct Borrowed<'a, f32> {
        input 4,
        dense 2,
    }
}

fn main() {
    let _ = (
        core::mem::size_of::<Ints>(),
        core::mem::size_of::<Generic>(),
    );
}
