//! Every semantic check of a parsed network, and shape inference.
//!
//! Walks the items in order, unrolling `repeat`, carrying the width that flows out of the
//! previous layer. All errors go to a [`Ctxt`] and are reported together. An item inside a
//! `repeat` is visited once per repetition but reports its errors only once.
//!
//! A residual block's body is walked first and its add takes the next index after the
//! body's items, so indices follow the data flow: `residual { dense 8, dense 8 } relu` as
//! the first item makes `dense_0`, `dense_1`, then `residual_2` and `relu_2`.

use crate::ast::{Item, Network, Residual, Width};
use crate::attr::{self, Activation};
use crate::ctxt::Ctxt;
use crate::model::{Layer, LayerKind, Model, Source};
use quote::{format_ident, ToTokens};
use std::collections::HashSet;
use syn::spanned::Spanned;
use syn::{parse_quote_spanned, Ident, Type};

/// Checks `net` and infers every width, or returns all the errors found.
pub fn check(net: &Network) -> syn::Result<Model> {
    let mut cx = Ctxt::new();
    for attr in &net.attrs {
        if attr.path().is_ident("derive") {
            cx.error_spanned(
                attr,
                "`network!` does not accept `#[derive]`: the network struct holds large arrays and \
                 derives only `Zeroable` itself; doc comments and lint attributes are fine",
            );
        }
    }
    let elem = element_type(&net.elem, &mut cx);
    let mut checker = Checker {
        visited: HashSet::new(),
        mismatched: HashSet::new(),
        layers: Vec::new(),
        prev: None,
        cursor: Source::Input,
        has_input: false,
        next_index: 0,
    };
    let input = match net.items.first() {
        Some(Item::Input(width)) => {
            checker.has_input = true;
            if let Some(width) = positive(&mut cx, width, "the input needs a width of at least 1") {
                checker.prev = Some(Prev {
                    width,
                    description: format!("input {width}"),
                });
            }
            Some(width.value)
        }
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
    checker.items(rest, &mut cx);
    if checker.layers.is_empty() && input.is_some() {
        cx.error(
            net.body_span,
            "the network has no layers after `input`; add at least one, like `dense 10`",
        );
    }
    cx.finish()?;
    Ok(Model {
        attrs: net.attrs.clone(),
        vis: net.vis.clone(),
        name: net.name.clone(),
        elem: elem.unwrap_or_else(|| net.elem.clone()),
        input: input.unwrap_or(0),
        layers: checker.layers,
    })
}

/// What flows into the next layer: its width and a description for error messages.
struct Prev {
    width: usize,
    description: String,
}

struct Checker {
    /// Items already visited, so that a repeated item reports its errors once.
    visited: HashSet<*const Item>,
    /// `layer` items whose width mismatch was reported.
    mismatched: HashSet<*const Item>,
    layers: Vec<Layer>,
    /// `None` when the width is unknown after an earlier error: no mismatch is reported then.
    prev: Option<Prev>,
    /// The buffer the next layer reads.
    cursor: Source,
    /// Whether the list starts with `input`.
    has_input: bool,
    next_index: usize,
}

impl Checker {
    fn items(&mut self, items: &[Item], cx: &mut Ctxt) {
        for item in items {
            self.item(item, cx);
        }
    }

    fn item(&mut self, item: &Item, real_cx: &mut Ctxt) {
        // In later repetitions an item's own errors (attributes, widths) were already
        // reported; only a width mismatch can be new, and it is reported once per item.
        let first_visit = self.visited.insert(item as *const Item);
        let mut scratch = Ctxt::new();
        let cx = if first_visit {
            &mut *real_cx
        } else {
            &mut scratch
        };
        match item {
            Item::Input(width) => {
                let message = if self.has_input {
                    "`input` is given twice: a network has exactly one input, and it comes first"
                } else {
                    "`input` must be the first item of the network"
                };
                cx.error(width.span, message);
            }
            Item::Dense(dense) => {
                let attrs = attr::dense_attrs(&dense.attrs, cx);
                let outputs = positive(
                    cx,
                    &dense.width,
                    "a dense layer needs a width of at least 1",
                );
                let index = self.take_index();
                self.push(
                    format_ident!("dense_{}", index),
                    index,
                    outputs,
                    attrs.frozen,
                    LayerKind::Dense { init: attrs.init },
                    format!("dense {}", dense.width.value),
                );
                if attrs.batchnorm {
                    self.push(
                        format_ident!("batchnorm_{}", index),
                        index,
                        outputs,
                        attrs.frozen,
                        LayerKind::BatchNorm,
                        format!("dense {} [batchnorm]", dense.width.value),
                    );
                }
                if let Some(activation) = attrs.activation {
                    let description =
                        format!("dense {} [{}]", dense.width.value, activation.name());
                    self.activation(activation, index, description);
                }
            }
            Item::Activation(item) => {
                let index = self.take_index();
                // The parser only produces activation items with a known name.
                if let Some(activation) = Activation::from_name(&item.name.to_string()) {
                    self.activation(activation, index, activation.name().to_string());
                }
            }
            Item::Layer(layer) => {
                let attrs = attr::layer_attrs(&layer.attrs, cx);
                let index = self.take_index();
                let name = layer.ty.to_token_stream().to_string().replace(' ', "");
                let message = "a layer's widths must be at least 1";
                let inputs = positive(cx, &layer.inputs, message);
                let outputs = positive(cx, &layer.outputs, message);
                if let (Some(prev), Some(inputs)) = (&self.prev, inputs) {
                    if prev.width != inputs && self.mismatched.insert(item as *const Item) {
                        real_cx.error(layer.inputs.span, mismatch(index, &name, inputs, prev));
                    }
                }
                self.push(
                    format_ident!("layer_{}", index),
                    index,
                    outputs,
                    attrs.frozen,
                    LayerKind::User {
                        ty: Box::new(layer.ty.clone()),
                        name: name.clone(),
                        declared: (layer.inputs.span, layer.outputs.span),
                        widths: layer.widths_span,
                    },
                    format!("layer `{name}`"),
                );
            }
            Item::BatchNorm(attrs) => {
                let attrs = attr::batchnorm_attrs(attrs, cx);
                let index = self.take_index();
                let width = self.prev.as_ref().map(|p| p.width);
                self.push(
                    format_ident!("batchnorm_{}", index),
                    index,
                    width,
                    attrs.frozen,
                    LayerKind::BatchNorm,
                    "batchnorm".to_string(),
                );
            }
            Item::Standardize => {
                let index = self.take_index();
                let width = self.prev.as_ref().map(|p| p.width);
                self.push(
                    format_ident!("standardize_{}", index),
                    index,
                    width,
                    false,
                    LayerKind::Standardize,
                    "standardize".to_string(),
                );
            }
            Item::Residual(block) => self.residual(item, block, first_visit, real_cx),
            Item::Repeat(repeat) => {
                if repeat.count.value == 0 {
                    cx.error(
                        repeat.count.span,
                        "`repeat 0` would remove these layers; the count must be at least 1",
                    );
                }
                if repeat.items.is_empty() {
                    cx.error(
                        repeat.keyword.span(),
                        "`repeat` needs at least one layer inside its braces",
                    );
                }
                for _ in 0..repeat.count.value.max(1) {
                    self.items(&repeat.items, real_cx);
                }
            }
        }
    }

    /// The body, then the add (`residual_k`, with the next index), then the activation.
    fn residual(&mut self, item: &Item, block: &Residual, first_visit: bool, real_cx: &mut Ctxt) {
        let mut scratch = Ctxt::new();
        let cx = if first_visit {
            &mut *real_cx
        } else {
            &mut scratch
        };
        let options = attr::residual_options(&block.options, cx);
        if block.items.is_empty() {
            cx.error(
                block.keyword.span(),
                "a residual block needs at least one layer inside its braces, \
                 like `residual { dense 64 [relu], dense 64 }`",
            );
        }
        let (input, source) = (self.prev.as_ref().map(|p| p.width), self.cursor);
        let first = self.layers.len();
        self.items(&block.items, real_cx);
        let index = self.take_index();
        if self.layers.len() == first {
            return; // An empty body, reported above.
        }
        let output = self.prev.as_ref().map(|p| p.width);
        let identity = !options.project && !options.unknown;
        if let (true, Some(input), Some(output)) = (identity, input, output) {
            if input != output && self.mismatched.insert(item as *const Item) {
                real_cx.error(
                    block.keyword.span(),
                    format!(
                        "residual block {index} adds its input ({input}) to its body's output \
                         ({output}); use `residual(project) {{ .. }}` for a learned projection, \
                         or make the body end at width {input}"
                    ),
                );
            }
        }
        let body = self.layers.len() - 1;
        self.layers.push(Layer {
            field: format_ident!("residual_{}", index),
            index,
            inputs: input.unwrap_or(0),
            outputs: output.unwrap_or(0),
            frozen: false,
            kind: LayerKind::Residual {
                project: options.project,
                first,
                body,
            },
            source,
        });
        self.cursor = Source::Layer(body + 1);
        let description = format!("residual block {index}");
        self.prev = output.map(|width| Prev {
            width,
            description: description.clone(),
        });
        // The parser only accepts a known activation name here.
        let activation = block.activation.as_ref();
        if let Some(activation) = activation.and_then(|a| Activation::from_name(&a.to_string())) {
            let description = format!("{description} {}", activation.name());
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
        outputs: Option<usize>,
        frozen: bool,
        kind: LayerKind,
        description: String,
    ) {
        let inputs = self.prev.as_ref().map_or(0, |p| p.width);
        self.layers.push(Layer {
            field,
            index,
            inputs,
            outputs: outputs.unwrap_or(0),
            frozen,
            kind,
            source: self.cursor,
        });
        self.cursor = Source::Layer(self.layers.len() - 1);
        self.prev = outputs.map(|width| Prev { width, description });
    }

    fn activation(&mut self, activation: Activation, index: usize, description: String) {
        let width = self.prev.as_ref().map(|p| p.width);
        self.push(
            format_ident!("{}_{}", activation.name(), index),
            index,
            width,
            false,
            LayerKind::Activation(activation),
            description,
        );
    }
}

/// The element type, `f32` or `f64`, as the absolute path of the primitive on the user's
/// token, so that nothing named `f32` in the user's scope can stand in for it.
fn element_type(elem: &Type, cx: &mut Ctxt) -> Option<Type> {
    let name = match elem {
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

fn mismatch(index: usize, name: &str, inputs: usize, prev: &Prev) -> String {
    let before = if prev.description.starts_with("input ") {
        format!(
            "the network's input ({}) has width {}",
            prev.description, prev.width
        )
    } else {
        format!(
            "the layer before it ({}) outputs {}",
            prev.description, prev.width
        )
    };
    format!("layer {index} (`{name}`) is declared for {inputs} inputs, but {before}")
}

#[cfg(test)]
mod tests;
