// Only doc comments, lint attributes and `#[derive(Clone, Debug, PartialEq)]` may decorate a
// network (derive_rejected.rs has the other derives): any other attribute would
// apply to the generated struct alone, not to the code generated for it (`#[cfg]` would
// remove the struct and leave its impls, `#[repr(packed)]` would break references into it),
// and a `derive` must not slip through `cfg_attr` or a path, where it would escape the check.
use gradflow::network;

network! {
    /// Doc comments and lint attributes are accepted.
    #[doc(alias = "Accepted")]
    #[allow(dead_code)]
    #[warn(missing_docs)]
    #[deny(missing_debug_implementations)]
    #[forbid(unsafe_code)]
    #[expect(clippy::large_types_passed_by_value)]
    pub struct Accepted<i32> {
        input 4,
        dense 2,
    }
}

network! {
    #[cfg(any())]
    pub struct Conditional<f32> {
        input 4,
        dense 2,
    }
}

network! {
    #[repr(packed)]
    pub struct Packed<f32> {
        input 4,
        dense 2,
    }
}

network! {
    #[cfg_attr(all(), derive(Clone, Debug))]
    pub struct DeriveThroughCfgAttr<f32> {
        input 4,
        dense 2,
    }
}

network! {
    #[::core::prelude::v1::derive(Clone)]
    pub struct DeriveByPath<f32> {
        input 4,
        dense 2,
    }
}

network! {
    #[must_use]
    #[rustfmt::skip]
    pub struct Others<f32> {
        input 4,
        dense 2,
    }
}

fn main() {}
