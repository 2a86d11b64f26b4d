//! The `network!` input as plain Rust types, exactly as the user wrote it: nothing is
//! validated or unrolled here. `check` turns this into the checked model that `expand` reads.

use proc_macro2::Span;
use syn::{Attribute, Ident, Type, Visibility};

/// `network! { #[attrs] vis struct Name<T> { items } }`.
pub struct Network {
    /// Outer attributes, copied onto the generated struct (`#[derive]` is rejected by `check`).
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// The element type between the angle brackets, as written (`check` accepts `f32` and
    /// `f64` only).
    pub elem: Type,
    /// Span of the `{ ... }` body, for errors about the list as a whole.
    pub body_span: Span,
    pub items: Vec<Item>,
    /// The errors of the items that did not parse (each is an [`Item::Invalid`] in `items`),
    /// reported by `check` together with its own errors about the items that did.
    pub parse_errors: Option<syn::Error>,
}

/// One entry of a layer list.
pub enum Item {
    /// `input 64`, `input [28, 28, 1]` or `input [100, 2]`
    Input(Input),
    /// `dense 128 [he_init, relu]`
    Dense(Dense),
    /// `conv2d 16 k3 s2 same [he_init, relu]` or `conv1d 8 k5 valid`
    Conv(Box<Conv>),
    /// `maxpool 2`, `avgpool k3 s2`
    Pool(Pool),
    /// `global_avg_pool`
    GlobalAvgPool(Ident),
    /// `flatten`
    Flatten(Ident),
    /// A standalone activation: `relu`, `tanh`, ...
    Activation(ActivationItem),
    /// `layer path::Type (64 -> 64) [frozen]`
    Layer(Box<UserLayer>),
    /// `batchnorm [frozen]`: the keyword and its attributes.
    BatchNorm(Ident, Vec<RawAttr>),
    /// `standardize`
    Standardize(Ident),
    /// `repeat 3 { items }` or `repeat 3 item`
    Repeat(Repeat),
    /// `residual(project) { items } relu`
    Residual(Residual),
    /// An item that did not parse, at its first token, with its error: taken out into
    /// [`Network::parse_errors`] for the network's own list, reported by `check` where it
    /// meets the item inside a `residual` or `repeat` body. `check` knows nothing of its
    /// shape: the layers after it are checked on their own, not against it.
    Invalid(Span, Option<syn::Error>),
}

/// An integer written by the user, with its span for error messages.
#[derive(Clone, Copy)]
pub struct Width {
    pub value: usize,
    pub span: Span,
}

/// An attribute in the `[...]` after a layer. Only bare names for now; arguments
/// (`leaky_relu(0.1)`) would be a new field here.
#[derive(Clone)]
pub struct RawAttr {
    pub name: Ident,
}

/// `input 64` (one width) or `input [H, W, C]` / `input [L, C]` (bracketed dimensions, in
/// the order of the sample's channels-last array).
pub struct Input {
    pub dims: Vec<Width>,
    /// Whether the dimensions were bracketed (`input [64]` is a sequence-less error).
    pub bracketed: bool,
    /// Span of the width or of the brackets.
    pub span: Span,
}

pub struct Dense {
    pub keyword: Ident,
    pub width: Width,
    pub attrs: Vec<RawAttr>,
}

/// Padding of a convolution, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// `same`: `kernel / 2` zeros on each side (odd kernels only).
    Same,
    /// `valid`: no padding.
    Valid,
}

/// `conv2d OC kK [sS] [same|valid] [attrs]` (or `conv1d`).
pub struct Conv {
    pub keyword: Ident,
    /// 2 for `conv2d`, 1 for `conv1d`.
    pub dims: usize,
    pub channels: Width,
    pub kernel: Width,
    pub stride: Option<Width>,
    pub padding: Option<(Padding, Span)>,
    pub attrs: Vec<RawAttr>,
}

/// `maxpool K` / `maxpool kK [sS]` (or `avgpool`): the stride defaults to the kernel.
pub struct Pool {
    pub keyword: Ident,
    pub max: bool,
    pub kernel: Width,
    pub stride: Option<Width>,
}

pub struct ActivationItem {
    pub name: Ident,
}

pub struct UserLayer {
    pub ty: Type,
    pub inputs: Width,
    pub outputs: Width,
    /// Span of the parenthesized `(IN -> OUT)`.
    pub widths_span: Span,
    pub attrs: Vec<RawAttr>,
}

pub struct Repeat {
    pub keyword: Ident,
    pub count: Width,
    pub items: Vec<Item>,
    /// Whether the items were written in braces (`repeat 3 { .. }`), not as one item
    /// (`repeat 3 dense 8`), whose own attributes may follow.
    pub braced: bool,
}

/// `residual (OPTIONS) { items } ACTIVATION`: `act(skip(x) + body(x))`.
pub struct Residual {
    pub keyword: Ident,
    /// The names between the parentheses (`project`), as written.
    pub options: Vec<RawAttr>,
    pub items: Vec<Item>,
    /// The activation after the closing brace, validated by the parser.
    pub activation: Option<Ident>,
}

/// The item keywords, as listed in error messages; `input` first (the parser leaves it out of
/// the list past a network's first item).
pub const ITEM_KEYWORDS: &[&str] = &[
    "input",
    "dense",
    "conv2d",
    "conv1d",
    "maxpool",
    "avgpool",
    "global_avg_pool",
    "flatten",
    "layer",
    "repeat",
    "residual",
    "batchnorm",
    "standardize",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "identity",
];

/// How deep `residual` and `repeat` blocks may nest. Parsing and checking recurse once per
/// level, and a few hundred levels overflow the stack rustc gives a proc macro; no real
/// network needs more than a handful.
pub const MAX_NESTING: usize = 64;

/// How many items a network may have after `repeat` is unrolled (the indices of `dense_k`,
/// `relu_k`, ... run from 0 to `MAX_ITEMS - 1`). Every item is generated code, and an
/// unbounded `repeat` exhausted rustc's memory. The deepest networks of the examples and
/// tests have under 100 items. 512 items of `dense 4 [batchnorm, relu]` (1534 layers, the most
/// layers per item) build with debug info in 22 s and 1 GB; 1024 take `cargo check` 81 s
/// and 2 GB, and `cargo build` then overflows LLVM's stack while writing the debug info of
/// the scopes of one function per layer.
pub const MAX_ITEMS: usize = 512;
