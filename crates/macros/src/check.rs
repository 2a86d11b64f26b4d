//! Every semantic check of a parsed network, and shape inference.
//!
//! Walks the items in order, unrolling `repeat`, carrying the width that flows out of the
//! previous layer. All errors go to a [`Ctxt`] and are reported together. An item inside a
//! `repeat` is visited once per repetition but reports its errors only once.
//!
//! A residual block's body is walked first and its add takes the next index after the
//! body's items, so indices follow the data flow: `residual { dense 8, dense 8 } relu` as
//! the first item makes `dense_0`, `dense_1`, then `residual_2` and `relu_2`.
//!
//! The walk is split by concept: [`items`] dispatches each item and holds the rules of
//! vector layers and `repeat`; [`conv`] the feature-map layers (convolution, pooling,
//! `flatten`, `global_avg_pool`); [`residual`] residual blocks. This file holds the
//! network-level rules and the state the walk carries from one layer to the next.

mod conv;
mod items;
mod residual;

use crate::ast::{Input, Item, Network, Width, MAX_ITEMS};
use crate::attr::{self, Activation};
use crate::ctxt::Ctxt;
use crate::model::{Layer, LayerKind, Model, Shape, Source};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, ToTokens};
use std::collections::HashSet;
use syn::spanned::Spanned;
use syn::{parse_quote_spanned, Attribute, Ident, Type};

/// Checks `net` and infers every shape, or returns all the errors found.
pub fn check(net: &Network) -> syn::Result<Model> {
    let mut cx = Ctxt::new();
    // The items that did not parse come first; the items that did are checked all the same,
    // so that an error in one item does not hide the errors in the others.
    if let Some(errors) = &net.parse_errors {
        cx.syn_error(errors.clone());
    }
    let invalid = net.items.iter().any(|i| matches!(i, Item::Invalid(..)));
    for attr in &net.attrs {
        outer_attribute(attr, &net.name, &mut cx);
    }
    let elem = element_type(&net.elem, &mut cx);
    let mut checker = Checker {
        unroll: true,
        spans: Vec::new(),
        visited: HashSet::new(),
        mismatched: HashSet::new(),
        layers: Vec::new(),
        prev: None,
        cursor: Source::Input,
        has_input: false,
        next_index: 0,
        last_span: net.body_span,
    };
    let input = match net.items.first() {
        Some(Item::Input(input)) => {
            checker.has_input = true;
            let shape = input_shape(input, &mut cx);
            if let Some(shape) = shape {
                checker.prev = Some(Prev {
                    shape,
                    description: format!("input {shape}"),
                    flattened: None,
                    reported: false,
                });
            }
            Some(shape.unwrap_or(Shape::Flat(0)))
        }
        // A first item that did not parse may have been the `input`.
        Some(Item::Invalid(..)) => None,
        _ => {
            if !net.items.iter().any(|i| matches!(i, Item::Input(_))) {
                cx.error(
                    net.name.span(),
                    "a network's first item is `input N`, the width of one input sample, \
                     like `input 64`",
                );
            }
            None
        }
    };
    let rest = if input.is_some() {
        &net.items[1..]
    } else {
        &net.items[..]
    };
    // An input too large to hold is reported before the layers, whose shape arithmetic
    // (`flatten`'s `h * w * c`) it would overflow.
    if let Some(shape) = input {
        let bytes = shape
            .checked_elements()
            .and_then(|n| n.checked_mul(scalar_size(net)));
        if bytes.is_none_or(|b| b >= MAX_VALUE_BYTES) {
            let message = format!(
                "one input sample ({shape}) takes {} bytes, more than one value can hold \
                 (rustc's limit is 2^61 bytes on 64-bit targets)",
                bytes.map_or("more than 2^64".to_string(), |b| b.to_string())
            );
            cx.error(net.items[0].span(), message);
            return Err(cx.finish().expect_err("an error was just reported"));
        }
    }
    // Counted before anything is unrolled: a huge `repeat` is reported, not attempted.
    checker.unroll = count_items(rest, &mut 0, &mut cx);
    checker.items(rest, &mut cx);
    if checker.layers.is_empty() && input.is_some() && !invalid {
        cx.error(
            net.body_span,
            "the network has no layers after `input`; add at least one, like `dense 10`",
        );
    }
    if let Some(prev) = checker.prev.as_ref().filter(|_| !checker.layers.is_empty()) {
        if !matches!(prev.shape, Shape::Flat(_)) {
            cx.error(
                checker.last_span,
                format!(
                    "the network's output must be flat (one vector per sample, for `predict` \
                     and the losses), but its last layer ({}) outputs {}; end with `flatten` \
                     or `global_avg_pool`, and a `dense` layer",
                    prev.description, prev.shape
                ),
            );
        }
    }
    if let (Some(_), Some(input), true) = (&elem, input, cx.is_empty()) {
        sizes(&checker, input, scalar_size(net), &mut cx);
    }
    cx.finish()?;
    Ok(Model {
        attrs: net.attrs.clone(),
        vis: net.vis.clone(),
        name: net.name.clone(),
        elem: elem.unwrap_or_else(|| net.elem.clone()),
        input: input.unwrap_or(Shape::Flat(0)),
        layers: checker.layers,
    })
}

/// The shape of `input 64`, `input [L, C]` or `input [H, W, C]`: bracketed sizes read in the
/// order of the sample's (channels-last) array, outermost first.
fn input_shape(input: &Input, cx: &mut Ctxt) -> Option<Shape> {
    let mut zero = false;
    for dim in &input.dims {
        if dim.value == 0 {
            zero = true;
            let message = if input.bracketed {
                "the input's dimensions must be at least 1"
            } else {
                "the input needs a width of at least 1"
            };
            cx.error(dim.span, message);
        }
    }
    let shape = match (input.bracketed, input.dims.as_slice()) {
        (false, [n]) => Shape::Flat(n.value),
        (true, [l, c]) => Shape::Seq {
            c: c.value,
            l: l.value,
        },
        (true, [h, w, c]) => Shape::Image {
            c: c.value,
            h: h.value,
            w: w.value,
        },
        _ => {
            cx.error(
                input.span,
                "expected the input's width, like `input 64`, or the channels-last shape of a \
                 sequence `input [L, C]` or an image `input [H, W, C]`",
            );
            return None;
        }
    };
    (!zero).then_some(shape)
}

/// What flows into the next layer: its shape and a description for error messages.
struct Prev {
    shape: Shape,
    description: String,
    /// For the output of `flatten`, the shape it flattened, shown in messages.
    flattened: Option<Shape>,
    /// The output of an identity residual block whose body's shape differs from its input,
    /// already reported: a block whose body ends here does not report the same mistake.
    reported: bool,
}

impl Prev {
    /// The output as messages show it: `64`, `[8, 8, 16]`, or `144 (3x3x16)` after `flatten`.
    fn shown(&self) -> String {
        match self.flattened {
            Some(from) => {
                let dims: Vec<_> = from.dims().iter().map(usize::to_string).collect();
                format!("{} ({})", self.shape, dims.join("x"))
            }
            None => self.shape.to_string(),
        }
    }

    /// "the layer before it (conv2d 16) outputs [8, 8, 16]" or "the network's input is ...".
    fn before(&self) -> String {
        if self.description.starts_with("input ") {
            format!("the network's input is {}", self.shown())
        } else {
            format!(
                "the layer before it ({}) outputs {}",
                self.description,
                self.shown()
            )
        }
    }
}

struct Checker {
    /// Whether `repeat` makes its copies: not when the unrolled network would be too large
    /// (reported by [`count_items`]), so that the walk only reports the items' own errors.
    unroll: bool,
    /// The user's token for each layer of `layers`, for errors about the network as a whole.
    spans: Vec<Span>,
    /// Items already visited, so that a repeated item reports its errors once.
    visited: HashSet<*const Item>,
    /// Items whose shape error was reported (once, even inside `repeat`).
    mismatched: HashSet<*const Item>,
    layers: Vec<Layer>,
    /// `None` when the shape is unknown after an earlier error: no mismatch is reported then.
    prev: Option<Prev>,
    /// The buffer the next layer reads.
    cursor: Source,
    /// Whether the list starts with `input`.
    has_input: bool,
    next_index: usize,
    /// The keyword of the item that produced the current output, for an error about the
    /// network's output.
    last_span: Span,
}

impl Checker {
    /// Reports an error that depends on the shapes flowing in, once per item.
    fn shape_error(&mut self, item: &Item, cx: &mut Ctxt, span: Span, message: String) {
        if self.mismatched.insert(item as *const Item) {
            cx.error(span, message);
        }
    }

    /// A dense or convolution layer's batchnorm and activation, in that order.
    fn attached(&mut self, attrs: &attr::DenseAttrs, index: usize, description: &str) {
        if attrs.batchnorm {
            self.push(
                format_ident!("batchnorm_{}", index),
                index,
                self.prev.as_ref().map(|p| p.shape),
                attrs.frozen,
                LayerKind::BatchNorm,
                format!("{description} [batchnorm]"),
            );
        }
        if let Some(activation) = attrs.activation {
            let description = format!("{description} [{}]", activation.name());
            self.activation(activation, index, description);
        }
    }

    fn take_index(&mut self) -> usize {
        self.next_index += 1;
        self.next_index - 1
    }

    /// Appends a layer fed by the previous one; `outputs` is `None` when unknown.
    fn push(
        &mut self,
        field: Ident,
        index: usize,
        outputs: Option<Shape>,
        frozen: bool,
        kind: LayerKind,
        description: String,
    ) {
        let inputs = self.prev.as_ref().map_or(Shape::Flat(0), |p| p.shape);
        self.spans.push(self.last_span);
        self.layers.push(Layer {
            field,
            index,
            inputs,
            outputs: outputs.unwrap_or(Shape::Flat(0)),
            frozen,
            kind,
            source: self.cursor,
        });
        self.cursor = Source::Layer(self.layers.len() - 1);
        self.prev = outputs.map(|shape| Prev {
            shape,
            description,
            flattened: None,
            reported: false,
        });
    }

    fn activation(&mut self, activation: Activation, index: usize, description: String) {
        let shape = self.prev.as_ref().map(|p| p.shape);
        self.push(
            format_ident!("{}_{}", activation.name(), index),
            index,
            shape,
            false,
            LayerKind::Activation(activation),
            description,
        );
    }
}

fn is_flat(shape: Shape) -> bool {
    matches!(shape, Shape::Flat(_))
}

/// The lint attributes, which `network!` copies onto the struct; with doc comments and
/// `#[derive]` of [`DERIVABLE`], the only outer attributes accepted. Any other would apply to
/// the struct alone, not to the code generated for it: `#[cfg]` would remove the struct but
/// not its impls, `#[repr]` would change a layout the expansion relies on.
const LINT_ATTRIBUTES: &[&str] = &["allow", "warn", "deny", "forbid", "expect"];

/// The traits a network may derive, for itself and its gradients struct: every built-in
/// layer and gradient type implements them (a layer of your own must too).
pub const DERIVABLE: &[&str] = &["Clone", "Debug", "PartialEq"];

/// The network's attributes that its gradients and cache structs take too: `#[doc(hidden)]`
/// (a hidden network's companions would otherwise be listed, with links to it that do not
/// resolve) and `#[allow(..)]`. Doc comments stay the network's; `expect` would be unfulfilled
/// on a companion the lint does not fire on, and `warn`/`deny`/`forbid` only tighten.
pub fn shared_attributes(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs
        .iter()
        .filter(|a| {
            let hidden = matches!(&a.meta, syn::Meta::List(l)
                if l.path.is_ident("doc") && l.tokens.to_string() == "hidden");
            hidden || a.path().is_ident("allow")
        })
        .collect()
}

/// Whether `attr` is a `#[derive(..)]`.
pub fn is_derive(attr: &Attribute) -> bool {
    attr.path().is_ident("derive")
}

/// `names`, each put in `format` (`` `{}` ``), separated by commas.
fn list(names: &[&str], format: impl Fn(&str) -> String) -> String {
    names
        .iter()
        .map(|name| format(name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The traits of a `#[derive(..)]`, or its parse error.
fn derive_paths(attr: &Attribute) -> syn::Result<Vec<syn::Path>> {
    attr.parse_args_with(syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
        .map(|paths| paths.into_iter().collect())
}

/// The std trait `path` derives, if it is one of [`DERIVABLE`] written bare (`Clone`) or
/// through `core`/`std` (`core::fmt::Debug`): a trait of another crate or module that merely
/// shares the name is not one of them.
fn derivable(path: &syn::Path) -> Option<&'static str> {
    let last = path.segments.last()?.ident.to_string();
    let name = DERIVABLE.iter().find(|&&name| name == last)?;
    let first = path.segments.first()?.ident.to_string();
    let bare = path.segments.len() == 1 && path.leading_colon.is_none();
    (bare || first == "core" || first == "std").then_some(name)
}

/// The traits the network's `#[derive(..)]` attributes ask for that it derives, as paths
/// that name them wherever the expansion lands (`::core::clone::Clone`).
pub fn derived_traits(attrs: &[Attribute]) -> Vec<TokenStream> {
    attrs
        .iter()
        .filter(|a| is_derive(a))
        .filter_map(|a| derive_paths(a).ok())
        .flatten()
        .filter_map(|path| match derivable(&path)? {
            "Clone" => Some(quote::quote!(::core::clone::Clone)),
            "Debug" => Some(quote::quote!(::core::fmt::Debug)),
            _ => Some(quote::quote!(::core::cmp::PartialEq)),
        })
        .collect()
}

/// Reports each trait in a `#[derive(..)]` that is not one of [`DERIVABLE`].
fn derive_attribute(attr: &Attribute, network: &Ident, cx: &mut Ctxt) {
    let paths = match derive_paths(attr) {
        Ok(paths) => paths,
        Err(err) => return cx.syn_error(err),
    };
    let accepted = list(DERIVABLE, |name| format!("`{name}`"));
    for path in paths {
        if derivable(&path).is_some() {
            continue;
        }
        let last = path.segments.last().map(|s| s.ident.to_string());
        let why = match last.as_deref() {
            Some(name) if DERIVABLE.contains(&name) => String::from(
                "a trait of that name is derived only as the standard library's (`Clone`, \
                 `core::clone::Clone`)",
            ),
            Some("Copy") => String::from(
                "a network is not `Copy`: its arrays would be copied without a word at every \
                 move (derive `Clone` and call `clone()`)",
            ),
            Some("Default") => format!(
                "`{network}::new(&mut rng)` gives an initialized network (a zeroed one is of no \
                 use: its gradients are all zero)"
            ),
            _ => String::from("the built-in layers do not implement it"),
        };
        let name = path.to_token_stream().to_string().replace(' ', "");
        cx.error_spanned(
            &path,
            format!(
                "`network!` does not derive `{name}`: {why}; it derives {accepted}, for the \
                 network and its gradients struct"
            ),
        );
    }
}

/// Reports an outer attribute of the network other than a doc comment, a lint attribute or
/// a derive.
fn outer_attribute(attr: &Attribute, network: &Ident, cx: &mut Ctxt) {
    let path = attr.path();
    if path.is_ident("doc") || LINT_ATTRIBUTES.iter().any(|lint| path.is_ident(lint)) {
        return;
    }
    if is_derive(attr) {
        return derive_attribute(attr, network, cx);
    }
    let accepted = format!(
        "only doc comments, `#[derive(..)]` of {} and the lint attributes {} are accepted",
        list(DERIVABLE, |name| format!("`{name}`")),
        list(LINT_ATTRIBUTES, |lint| format!("`#[{lint}(..)]`")),
    );
    let name = path.to_token_stream().to_string().replace(' ', "");
    let message = if path.is_ident("cfg") || path.is_ident("cfg_attr") {
        format!(
            "`network!` does not accept `#[{name}]` on the network: it would apply to the \
             struct, not to the code generated for it; {accepted} (to compile a network \
             conditionally, put the `network!` call in a `#[cfg(..)]` module)"
        )
    } else {
        format!(
            "`network!` does not accept `#[{name}]` on the network: it would apply to the \
             struct, not to the code generated for it; {accepted}"
        )
    };
    cx.error_spanned(attr, message);
}

impl Item {
    /// The item's first token, or for a user layer its widths.
    fn span(&self) -> Span {
        match self {
            Item::Input(input) => input.span,
            Item::Dense(dense) => dense.keyword.span(),
            Item::Conv(conv) => conv.keyword.span(),
            Item::Pool(pool) => pool.keyword.span(),
            Item::GlobalAvgPool(keyword)
            | Item::Flatten(keyword)
            | Item::BatchNorm(keyword, _)
            | Item::Standardize(keyword) => keyword.span(),
            Item::Activation(activation) => activation.name.span(),
            Item::Layer(layer) => layer.widths_span,
            Item::Repeat(repeat) => repeat.keyword.span(),
            Item::Residual(block) => block.keyword.span(),
            Item::Invalid(span, _) => *span,
        }
    }
}

/// Counts the items of `items` after unrolling `repeat` into `total`, and reports the first
/// item that takes the network past [`MAX_ITEMS`]: for a `repeat`, on its count. Returns
/// whether the network stays within the limit.
fn count_items(items: &[Item], total: &mut usize, cx: &mut Ctxt) -> bool {
    for item in items {
        let (span, added) = match item {
            Item::Repeat(repeat) => {
                let before = *total;
                if !count_items(&repeat.items, total, cx) {
                    return false;
                }
                // The first copy is counted; the others add as much again.
                let body = *total - before;
                let copies = repeat.count.value.max(1);
                (repeat.count.span, body.checked_mul(copies - 1))
            }
            Item::Residual(block) => {
                if !count_items(&block.items, total, cx) {
                    return false;
                }
                (block.keyword.span(), Some(1)) // The add.
            }
            Item::Input(_) => (item.span(), Some(0)),
            _ => (item.span(), Some(1)),
        };
        match added.and_then(|n| total.checked_add(n)) {
            Some(n) if n <= MAX_ITEMS => *total = n,
            _ => {
                let message = match item {
                    Item::Repeat(repeat) => format!(
                        "`repeat {}` would unroll the network to more than {MAX_ITEMS} items, \
                         the most a network may have ({} before it, {} in each copy)",
                        repeat.count.value,
                        *total - count_body(repeat),
                        count_body(repeat),
                    ),
                    _ => format!(
                        "the network has more than {MAX_ITEMS} items after `repeat` is \
                         unrolled, the most a network may have"
                    ),
                };
                cx.error(span, message);
                return false;
            }
        }
    }
    true
}

/// The number of items in one copy of a `repeat`'s body (only called once it is known to be
/// within the limit).
fn count_body(repeat: &crate::ast::Repeat) -> usize {
    let mut total = 0;
    count_items(&repeat.items, &mut total, &mut Ctxt::new());
    total
}

/// The bytes of one scalar of the network's element type (4 unless it is `f64`).
fn scalar_size(net: &Network) -> usize {
    if matches!(&net.elem, Type::Path(p) if p.path.is_ident("f64")) {
        8
    } else {
        4
    }
}

/// The largest value rustc accepts on a 64-bit target: 2^61 bytes (`isize::MAX` would be
/// 2^63, but rustc bounds every type below 2^61 there, and reports "values of the type .. are
/// too big for the target architecture" past it).
const MAX_VALUE_BYTES: usize = 1 << 61;

/// Reports a network whose parameters, or one sample's activations in the training cache,
/// take more bytes than one value may hold, on the layer whose addition goes past it.
fn sizes(checker: &Checker, input: Shape, size: usize, cx: &mut Ctxt) {
    let bytes = |n: Option<usize>| n.and_then(|n| n.checked_mul(size));
    let mut params = Some(0usize);
    // Per sample, the training cache holds the input and, for every layer, its output, the
    // gradient flowing back into it and the layer's own cache (batchnorm's normalized
    // values, pooling's indices); a projected residual also keeps its skip's gradient.
    // Counted as four buffers the size of each layer's output, which bounds them all.
    let mut activations = bytes(input.checked_elements());
    for (layer, &span) in checker.layers.iter().zip(&checker.spans) {
        let before = params;
        params = params
            .zip(bytes(param_count(layer)))
            .and_then(|(total, n)| total.checked_add(n));
        if before.is_some_and(|b| b < MAX_VALUE_BYTES)
            && params.is_none_or(|p| p >= MAX_VALUE_BYTES)
        {
            let message = format!(
                "with layer {} ({}), the network's parameters take {} bytes, more than one value \
                 can hold (rustc's limit is 2^61 bytes on 64-bit targets)",
                layer.index,
                layer.field,
                params.map_or("more than 2^64".to_string(), |p| p.to_string())
            );
            cx.error(span, message);
        }
        let before = activations;
        activations = activations
            .zip(bytes(
                layer
                    .outputs
                    .checked_elements()
                    .and_then(|n| n.checked_mul(4)),
            ))
            .and_then(|(total, n)| total.checked_add(n));
        if before.is_some_and(|b| b < MAX_VALUE_BYTES)
            && activations.is_none_or(|a| a >= MAX_VALUE_BYTES)
        {
            let message = format!(
                "with layer {} ({}), the training cache of one sample may take {} bytes \
                 (outputs, gradients and layer caches), more than one value can hold (rustc's \
                 limit is 2^61 bytes on 64-bit \
                 targets)",
                layer.index,
                layer.field,
                activations.map_or("more than 2^64".to_string(), |a| a.to_string())
            );
            cx.error(span, message);
        }
    }
}

/// The scalars a layer stores (parameters, running statistics), as the layers of
/// `gradflow::nn` hold them; a user layer's are unknown here and counted as 0. `None` on
/// overflow.
fn param_count(layer: &Layer) -> Option<usize> {
    let (inputs, outputs) = (layer.inputs, layer.outputs);
    let weights = |fan_in: usize, out: usize| fan_in.checked_mul(out)?.checked_add(out);
    match layer.kind {
        LayerKind::Dense { .. } => weights(inputs.checked_elements()?, outputs.checked_elements()?),
        LayerKind::Residual { project: true, .. } if is_flat(inputs) => {
            weights(inputs.checked_elements()?, outputs.checked_elements()?)
        }
        LayerKind::Residual { project: true, .. } => weights(inputs.channels(), outputs.channels()),
        LayerKind::Conv { kernel, .. } => {
            // `[K][K][C][OC]` in 2d, `[K][C][OC]` in 1d.
            let taps = kernel.checked_pow(inputs.depth() as u32 - 1)?;
            weights(taps.checked_mul(inputs.channels())?, outputs.channels())
        }
        LayerKind::BatchNorm => outputs.channels().checked_mul(4)?.checked_add(2),
        LayerKind::Standardize => outputs.checked_elements()?.checked_mul(2),
        _ => Some(0),
    }
}

/// The element type, `f32` or `f64`, as the absolute path of the primitive on the user's
/// token, so that nothing named `f32` in the user's scope can stand in for it.
fn element_type(elem: &Type, cx: &mut Ctxt) -> Option<Type> {
    // A `$t:ty` of a `macro_rules!` arrives wrapped in an invisible group.
    let mut inner = elem;
    while let Type::Group(syn::TypeGroup { elem, .. }) = inner {
        inner = elem;
    }
    let name = match inner {
        Type::Path(path) if path.qself.is_none() => path.path.get_ident().map(Ident::to_string),
        _ => None,
    };
    match name.as_deref() {
        Some(name @ ("f32" | "f64")) => {
            let primitive = Ident::new(name, elem.span());
            Some(parse_quote_spanned!(elem.span()=> ::core::primitive::#primitive))
        }
        _ => {
            let found = elem.to_token_stream().to_string().replace(' ', "");
            cx.error_spanned(
                elem,
                format!("the element type must be f32 or f64, found `{found}`"),
            );
            None
        }
    }
}

fn positive(cx: &mut Ctxt, width: &Width, message: &str) -> Option<usize> {
    if width.value == 0 {
        cx.error(width.span, message);
        None
    } else {
        Some(width.value)
    }
}

#[cfg(test)]
mod tests;
