//! One item's rules: the dispatch on its kind, and the rules of the vector layers (`dense`,
//! user layers, `standardize`, activations), of a standalone `batchnorm`, and of `repeat`.
//! Feature-map layers are in [`super::conv`], residual blocks in [`super::residual`].

use super::{is_flat, positive, Checker, Prev};
use crate::ast::Item;
use crate::attr::{self, Activation};
use crate::ctxt::Ctxt;
use crate::model::{LayerKind, Shape};
use quote::{format_ident, ToTokens};

impl Checker {
    pub(super) fn items(&mut self, items: &[Item], cx: &mut Ctxt) {
        for item in items {
            self.item(item, cx);
        }
    }

    pub(super) fn item(&mut self, item: &Item, real_cx: &mut Ctxt) {
        // In later repetitions an item's own errors (attributes, widths) were already
        // reported; only a shape mismatch can be new, and it is reported once per item.
        let first_visit = self.visited.insert(item as *const Item);
        let mut scratch = Ctxt::new();
        let cx = if first_visit {
            &mut *real_cx
        } else {
            &mut scratch
        };
        match item {
            Item::Input(input) => {
                let message = if self.has_input {
                    "`input` is given twice: a network has exactly one input, and it comes first"
                } else {
                    "`input` must be the first item of the network"
                };
                cx.error(input.span, message);
            }
            Item::Dense(dense) => {
                self.last_span = dense.keyword.span();
                let attrs = attr::dense_attrs(&dense.attrs, cx);
                let outputs = positive(
                    cx,
                    &dense.width,
                    "a dense layer needs a width of at least 1",
                );
                // An input count that overflows a usize (`flatten` after a huge convolution)
                // is reported on the layer that makes it, by the size check at the end.
                let inputs = self
                    .prev
                    .as_ref()
                    .filter(|p| is_flat(p.shape))
                    .and_then(|p| p.flattened.unwrap_or(p.shape).checked_elements());
                if let (Some(inputs), Some(outputs)) = (inputs, outputs) {
                    // `inputs x outputs` weights and `outputs` biases of up to 8 bytes each.
                    let bytes = inputs
                        .checked_mul(outputs)
                        .and_then(|w| w.checked_add(outputs))
                        .and_then(|n| n.checked_mul(8));
                    if bytes.is_none_or(|b| b > isize::MAX as usize) {
                        let message = format!(
                            "dense {outputs} after {inputs} inputs would hold {inputs} x {outputs} weights, \
                             more than any memory can"
                        );
                        cx.error(dense.width.span, &message);
                    }
                }
                if let Some(prev) = self.prev.as_ref().filter(|p| !is_flat(p.shape)) {
                    let message = format!(
                        "dense needs a flat input; {}: add `flatten` or `global_avg_pool`",
                        prev.before()
                    );
                    self.shape_error(item, real_cx, dense.keyword.span(), message);
                }
                let index = self.take_index();
                let description = format!("dense {}", dense.width.value);
                self.push(
                    format_ident!("dense_{}", index),
                    index,
                    outputs.map(Shape::Flat),
                    attrs.frozen,
                    LayerKind::Dense { init: attrs.init },
                    description.clone(),
                );
                self.attached(&attrs, index, &description);
            }
            Item::Conv(conv) => self.conv(item, conv, first_visit, real_cx),
            Item::Pool(pool) => self.pool(item, pool, real_cx),
            Item::GlobalAvgPool(keyword) | Item::Flatten(keyword) => {
                self.flatten_or_global_avg_pool(item, keyword, real_cx)
            }
            Item::Activation(item) => {
                self.last_span = item.name.span();
                let index = self.take_index();
                // The parser only produces activation items with a known name.
                if let Some(activation) = Activation::from_name(&item.name.to_string()) {
                    self.activation(activation, index, activation.name().to_string());
                }
            }
            Item::Layer(layer) => {
                self.last_span = layer.widths_span;
                let attrs = attr::layer_attrs(&layer.attrs, cx);
                let index = self.take_index();
                let name = layer.ty.to_token_stream().to_string().replace(' ', "");
                let message = "a layer's widths must be at least 1";
                let inputs = positive(cx, &layer.inputs, message);
                let outputs = positive(cx, &layer.outputs, message);
                if let (Some(prev), Some(inputs)) = (&self.prev, inputs) {
                    if prev.shape != Shape::Flat(inputs)
                        && self.mismatched.insert(item as *const Item)
                    {
                        real_cx.error(layer.inputs.span, mismatch(index, &name, inputs, prev));
                    }
                }
                self.push(
                    format_ident!("layer_{}", index),
                    index,
                    outputs.map(Shape::Flat),
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
            Item::BatchNorm(keyword, attrs) => {
                self.last_span = keyword.span();
                let attrs = attr::batchnorm_attrs(attrs, cx);
                let index = self.take_index();
                let shape = self.prev.as_ref().map(|p| p.shape);
                self.push(
                    format_ident!("batchnorm_{}", index),
                    index,
                    shape,
                    attrs.frozen,
                    LayerKind::BatchNorm,
                    "batchnorm".to_string(),
                );
            }
            Item::Standardize(keyword) => {
                self.last_span = keyword.span();
                let index = self.take_index();
                let shape = self.prev.as_ref().map(|p| p.shape);
                if let Some(prev) = self.prev.as_ref().filter(|p| !is_flat(p.shape)) {
                    let message = format!("`standardize` needs a flat input; {}", prev.before());
                    self.shape_error(item, real_cx, keyword.span(), message);
                }
                self.push(
                    format_ident!("standardize_{}", index),
                    index,
                    shape,
                    false,
                    LayerKind::Standardize,
                    "standardize".to_string(),
                );
            }
            Item::Residual(block) => self.residual(item, block, first_visit, real_cx),
            // Its error is already reported; what it outputs is unknown, so the next layer's
            // inputs are not checked against it. It takes an index, as every item but a block
            // does, so that the items after it keep the numbers they will have once it parses.
            Item::Invalid(span, error) => {
                // Inside a block: reported here, once however often the block repeats.
                if let Some(error) = error {
                    cx.syn_error(error.clone());
                }
                self.last_span = *span;
                self.take_index();
                self.prev = None;
            }
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
                let copies = if self.unroll {
                    repeat.count.value.max(1)
                } else {
                    1
                };
                for _ in 0..copies {
                    self.items(&repeat.items, real_cx);
                }
            }
        }
    }
}

fn mismatch(index: usize, name: &str, inputs: usize, prev: &Prev) -> String {
    let before = match (prev.description.starts_with("input "), prev.shape) {
        (true, Shape::Flat(width)) => {
            format!(
                "the network's input ({}) has width {width}",
                prev.description
            )
        }
        (true, shape) => format!("the network's input has shape {shape}"),
        (false, _) => format!(
            "the layer before it ({}) outputs {}",
            prev.description,
            prev.shown()
        ),
    };
    format!("layer {index} (`{name}`) is declared for {inputs} inputs, but {before}")
}
