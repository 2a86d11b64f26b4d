//! Every semantic check of a parsed network, and shape inference.
//!
//! Walks the items in order, unrolling `repeat`, carrying the width that flows out of the
//! previous layer. All errors go to a [`Ctxt`] and are reported together. An item inside a
//! `repeat` is visited once per repetition but reports its errors only once.
//!
//! A residual block's body is walked first and its add takes the next index after the
//! body's items, so indices follow the data flow: `residual { dense 8, dense 8 } relu` as
//! the first item makes `dense_0`, `dense_1`, then `residual_2` and `relu_2`.

use crate::ast::{Conv, Input, Item, Network, Padding, Pool, Residual, Width};
use crate::attr::{self, Activation};
use crate::ctxt::Ctxt;
use crate::model::{Layer, LayerKind, Model, Shape, Source};
use proc_macro2::Span;
use quote::{format_ident, ToTokens};
use std::collections::HashSet;
use syn::spanned::Spanned;
use syn::{parse_quote_spanned, Ident, Type};

/// Checks `net` and infers every shape, or returns all the errors found.
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
                });
            }
            Some(shape.unwrap_or(Shape::Flat(0)))
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

/// The shape of `input 64`, `input [C, L]` or `input [C, H, W]`.
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
        (true, [c, l]) => Shape::Seq {
            c: c.value,
            l: l.value,
        },
        (true, [c, h, w]) => Shape::Image {
            c: c.value,
            h: h.value,
            w: w.value,
        },
        _ => {
            cx.error(
                input.span,
                "expected the input's width, like `input 64`, or the channels-first shape of a \
                 sequence `input [C, L]` or an image `input [C, H, W]`",
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
}

impl Prev {
    /// The output as messages show it: `64`, `[16, 8, 8]`, or `144 (16x3x3)` after `flatten`.
    fn shown(&self) -> String {
        match self.flattened {
            Some(from) => {
                let dims: Vec<_> = from.dims().iter().map(usize::to_string).collect();
                format!("{} ({})", self.shape, dims.join("x"))
            }
            None => self.shape.to_string(),
        }
    }

    /// "the layer before it (conv2d 16) outputs [16, 8, 8]" or "the network's input is ...".
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

/// A feature map's spatial size in messages: `8x8`, or `of length 12`.
fn spatial(shape: Shape) -> String {
    match shape {
        Shape::Image { h, w, .. } => format!("{h}x{w}"),
        Shape::Seq { l, .. } => format!("of length {l}"),
        Shape::Flat(n) => format!("of width {n}"),
    }
}

/// `(in + 2p - k) / s + 1`, as PyTorch; `None` when the kernel does not fit.
fn output_len(input: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    (kernel <= input + 2 * padding && stride > 0)
        .then(|| (input + 2 * padding - kernel) / stride + 1)
}

impl Checker {
    fn items(&mut self, items: &[Item], cx: &mut Ctxt) {
        for item in items {
            self.item(item, cx);
        }
    }

    /// Reports an error that depends on the shapes flowing in, once per item.
    fn shape_error(&mut self, item: &Item, cx: &mut Ctxt, span: Span, message: String) {
        if self.mismatched.insert(item as *const Item) {
            cx.error(span, message);
        }
    }

    fn item(&mut self, item: &Item, real_cx: &mut Ctxt) {
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
                self.last_span = keyword.span();
                let flatten = matches!(item, Item::Flatten(_));
                let name = if flatten {
                    "flatten"
                } else {
                    "global_avg_pool"
                };
                let input = self.prev.as_ref().map(|p| p.shape);
                let output = match input {
                    Some(Shape::Flat(_)) => {
                        let message = format!(
                            "`{name}` needs an image or a sequence; {} (already flat)",
                            self.prev.as_ref().map(Prev::before).unwrap_or_default()
                        );
                        self.shape_error(item, real_cx, keyword.span(), message);
                        None
                    }
                    Some(shape) if flatten => Some(Shape::Flat(shape.elements())),
                    Some(shape) => Some(Shape::Flat(shape.channels())),
                    None => None,
                };
                let index = self.take_index();
                let kind = if flatten {
                    LayerKind::Flatten
                } else {
                    LayerKind::GlobalAvgPool
                };
                self.push(
                    format_ident!("{}_{}", name, index),
                    index,
                    output,
                    false,
                    kind,
                    name.to_string(),
                );
                if let (true, Some(prev), Some(from)) = (flatten, self.prev.as_mut(), input) {
                    prev.flattened = Some(from);
                }
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
                if let Some(shape @ Shape::Seq { .. }) = shape {
                    self.shape_error(item, real_cx, keyword.span(), batchnorm_on_sequence(shape));
                }
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

    /// `conv2d OC kK sS same [attrs]` or `conv1d ...`: the layer, then its batchnorm and
    /// activation.
    fn conv(&mut self, item: &Item, conv: &Conv, first_visit: bool, real_cx: &mut Ctxt) {
        let mut scratch = Ctxt::new();
        let cx = if first_visit {
            &mut *real_cx
        } else {
            &mut scratch
        };
        let keyword = conv.keyword.to_string();
        self.last_span = conv.keyword.span();
        let attrs = attr::conv_attrs(&conv.attrs, &format!("a {keyword} layer"), cx);
        let channels = positive(cx, &conv.channels, "a convolution needs at least 1 channel");
        let kernel = positive(cx, &conv.kernel, "the kernel size must be at least 1");
        let stride = match &conv.stride {
            Some(stride) => positive(cx, stride, "the stride must be at least 1"),
            None => Some(1),
        };
        let padding = match (conv.padding, kernel) {
            (Some((Padding::Same, span)), Some(k)) => {
                if k % 2 == 0 {
                    cx.error(
                        span,
                        format!(
                            "`same` padding needs an odd kernel: a {k}x{k} kernel cannot be \
                             centred on its input; use k{} or k{}, or `valid`",
                            k - 1,
                            k + 1
                        ),
                    );
                }
                k / 2
            }
            _ => 0,
        };
        let batchnorm_span = conv
            .attrs
            .iter()
            .find(|a| a.name == "batchnorm")
            .map(|a| a.name.span());
        let input = self.prev.as_ref().map(|p| p.shape);
        let mut output = None;
        match input {
            None => {}
            Some(shape @ (Shape::Image { .. } | Shape::Seq { .. }))
                if shape.depth() == conv.dims + 1 =>
            {
                if let (Some(oc), Some(k), Some(s)) = (channels, kernel, stride) {
                    let fits = |n: usize| output_len(n, k, s, padding);
                    output = match shape {
                        Shape::Image { h, w, .. } => {
                            fits(h).zip(fits(w)).map(|(oh, ow)| Shape::Image {
                                c: oc,
                                h: oh,
                                w: ow,
                            })
                        }
                        Shape::Seq { l, .. } => fits(l).map(|ol| Shape::Seq { c: oc, l: ol }),
                        Shape::Flat(_) => None,
                    };
                    if output.is_none() {
                        let message = format!(
                            "{keyword} kernel {k} is larger than its input {} (padding {padding})",
                            spatial(shape)
                        );
                        self.shape_error(item, real_cx, conv.kernel.span, message);
                    }
                }
                if let (Some(span), Shape::Seq { .. }) = (batchnorm_span, shape) {
                    let message = batchnorm_on_sequence(output.unwrap_or(shape));
                    self.shape_error(item, real_cx, span, message);
                }
            }
            Some(shape) => {
                let (needs, hint) = if conv.dims == 2 {
                    ("an image input [C, H, W]", "; use `conv1d` on a sequence")
                } else {
                    ("a sequence input [C, L]", "; use `conv2d` on an image")
                };
                let hint = if is_flat(shape) { "" } else { hint };
                let before = self.prev.as_ref().map(Prev::before).unwrap_or_default();
                let message = format!("{keyword} needs {needs}; {before}{hint}");
                self.shape_error(item, real_cx, conv.keyword.span(), message);
            }
        }
        let index = self.take_index();
        let description = format!("{keyword} {}", conv.channels.value);
        self.push(
            format_ident!("{}_{}", keyword, index),
            index,
            output,
            attrs.frozen,
            LayerKind::Conv {
                init: attrs.init,
                kernel: kernel.unwrap_or(1),
                stride: stride.unwrap_or(1),
                padding,
            },
            description.clone(),
        );
        self.attached(&attrs, index, &description);
    }

    /// `maxpool K` / `avgpool kK sS` over an image or a sequence.
    fn pool(&mut self, item: &Item, pool: &Pool, real_cx: &mut Ctxt) {
        self.last_span = pool.keyword.span();
        let keyword = pool.keyword.to_string();
        let kernel = pool.kernel.value;
        let stride = pool.stride.map_or(kernel, |s| s.value);
        let written = match pool.stride {
            Some(s) => format!("{keyword} k{kernel} s{}", s.value),
            None => format!("{keyword} {kernel}"),
        };
        let mut output = None;
        if kernel == 0 || stride == 0 {
            let span = if kernel == 0 {
                pool.kernel.span
            } else {
                pool.stride.map_or(pool.kernel.span, |s| s.span)
            };
            self.shape_error(
                item,
                real_cx,
                span,
                "a pooling window and its stride must be at least 1".to_string(),
            );
        } else if let Some(prev) = &self.prev {
            let shape = prev.shape;
            let lens = match shape {
                Shape::Image { h, w, .. } => vec![h, w],
                Shape::Seq { l, .. } => vec![l],
                Shape::Flat(_) => Vec::new(),
            };
            if lens.is_empty() {
                let message = format!(
                    "`{keyword}` needs an image or a sequence; {}",
                    prev.before()
                );
                self.shape_error(item, real_cx, pool.keyword.span(), message);
            } else if lens.iter().any(|&n| n < kernel) {
                let message = format!(
                    "{keyword} kernel {kernel} is larger than its input {}",
                    spatial(shape)
                );
                self.shape_error(item, real_cx, pool.kernel.span, message);
            } else {
                let dropped: Vec<usize> = lens.iter().map(|&n| (n - kernel) % stride).collect();
                if dropped.iter().any(|&d| d > 0) {
                    let what = dropped_description(&dropped);
                    let fix = if kernel == stride {
                        format!("use an input divisible by {kernel}")
                    } else {
                        format!("use an input whose size minus {kernel} is divisible by {stride}")
                    };
                    let on = match shape {
                        Shape::Image { h, w, .. } => {
                            let h = h.to_string();
                            let article = match h.as_str() {
                                "8" | "11" | "18" => "an",
                                _ if h.starts_with('8') => "an",
                                _ => "a",
                            };
                            format!("{article} {h}x{w} input")
                        }
                        _ => format!("an input {}", spatial(shape)),
                    };
                    let message = format!("{written} on {on} drops {what}; {fix}");
                    self.shape_error(item, real_cx, pool.kernel.span, message);
                }
                let out = |n: usize| (n - kernel) / stride + 1;
                output = Some(match shape {
                    Shape::Image { c, h, w } => Shape::Image {
                        c,
                        h: out(h),
                        w: out(w),
                    },
                    Shape::Seq { c, l } => Shape::Seq { c, l: out(l) },
                    Shape::Flat(n) => Shape::Flat(n),
                });
            }
        }
        let index = self.take_index();
        self.push(
            format_ident!("{}_{}", keyword, index),
            index,
            output,
            false,
            LayerKind::Pool {
                max: pool.max,
                kernel: kernel.max(1),
                stride: stride.max(1),
            },
            written,
        );
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
        let (input, source) = (self.prev.as_ref().map(|p| p.shape), self.cursor);
        let first = self.layers.len();
        self.items(&block.items, real_cx);
        let index = self.take_index();
        self.last_span = block.keyword.span();
        if self.layers.len() == first {
            return; // An empty body, reported above.
        }
        let output = self.prev.as_ref().map(|p| p.shape);
        let identity = !options.project && !options.unknown;
        let mut stride = 1;
        if let (Some(input), Some(output)) = (input, output) {
            let unit = if is_flat(input) { "width" } else { "shape" };
            if identity && input != output {
                let message = format!(
                    "residual block {index} adds its input ({input}) to its body's output \
                     ({output}); use `residual(project) {{ .. }}` for a learned projection, \
                     or make the body end at {unit} {input}"
                );
                self.shape_error(item, real_cx, block.keyword.span(), message);
            }
            if options.project {
                match projection_stride(input, output) {
                    Ok(s) => stride = s,
                    Err(why) => {
                        let message = format!(
                            "residual block {index} cannot project its input ({input}) onto \
                             its body's output ({output}): {why}"
                        );
                        self.shape_error(item, real_cx, block.keyword.span(), message);
                    }
                }
            }
        }
        let body = self.layers.len() - 1;
        self.layers.push(Layer {
            field: format_ident!("residual_{}", index),
            index,
            inputs: input.unwrap_or(Shape::Flat(0)),
            outputs: output.unwrap_or(Shape::Flat(0)),
            frozen: false,
            kind: LayerKind::Residual {
                project: options.project,
                stride,
                first,
                body,
            },
            source,
        });
        self.cursor = Source::Layer(body + 1);
        let description = format!("residual block {index}");
        self.prev = output.map(|shape| Prev {
            shape,
            description: description.clone(),
            flattened: None,
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
        outputs: Option<Shape>,
        frozen: bool,
        kind: LayerKind,
        description: String,
    ) {
        let inputs = self.prev.as_ref().map_or(Shape::Flat(0), |p| p.shape);
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

fn batchnorm_on_sequence(shape: Shape) -> String {
    format!(
        "batchnorm over a sequence ({shape}) is not supported: gradflow has no BatchNorm1d for \
         feature maps yet; remove it, or make the input an image [C, 1, L] and use conv2d"
    )
}

/// "the last row", "the last 2 columns", "the last row and column", for the elements along
/// each axis (rows, columns; or positions of a sequence) that no window reads.
fn dropped_description(dropped: &[usize]) -> String {
    let names: &[(&str, &str)] = if dropped.len() == 2 {
        &[("row", "rows"), ("column", "columns")]
    } else {
        &[("position", "positions")]
    };
    let parts: Vec<String> = dropped
        .iter()
        .zip(names)
        .filter(|(&d, _)| d > 0)
        .map(|(&d, (one, many))| {
            if d == 1 {
                one.to_string()
            } else {
                format!("{d} {many}")
            }
        })
        .collect();
    format!("the last {}", parts.join(" and "))
}

/// The stride of the 1x1 convolution that maps `input` onto `output` (1 for a dense
/// projection), or why there is none.
fn projection_stride(input: Shape, output: Shape) -> Result<usize, String> {
    let factor = |n: usize, o: usize| (o > 0 && n.is_multiple_of(o)).then(|| n / o);
    match (input, output) {
        (Shape::Flat(_), Shape::Flat(_)) => Ok(1),
        (Shape::Image { h, w, .. }, Shape::Image { h: oh, w: ow, .. }) => {
            match (factor(h, oh), factor(w, ow)) {
                (Some(a), Some(b)) if a == b => Ok(a),
                _ => Err(format!(
                    "a strided 1x1 convolution needs both sides to shrink by the same whole \
                     factor, but {h}x{w} becomes {oh}x{ow}"
                )),
            }
        }
        (Shape::Seq { l, .. }, Shape::Seq { l: ol, .. }) => factor(l, ol).ok_or_else(|| {
            format!("a strided 1x1 convolution needs a whole factor, but {l} becomes {ol}")
        }),
        _ => Err(
            "a projection maps a feature map to a feature map of the same kind, or a \
                  vector to a vector"
                .to_string(),
        ),
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

#[cfg(test)]
mod tests;
