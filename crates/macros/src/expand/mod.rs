//! Code generation from the checked [`Model`] only: no user errors are found here.
//!
//! One file per generated concern: `declared` (the check of user layers' widths), `structs`
//! (the network, its gradients and its training cache), `consts`, `bytes` (the
//! baked-weights layout), `init` (constructors),
//! `forward`, `backward`, `visit` (parameter and tensor visitors) and `traits` (the
//! `gradflow::nn` trait impls). Every path is absolute
//! (`::gradflow::...`) and every call into a layer goes through its trait (UFCS), so nothing
//! in the user's crate can shadow or clash with the generated code.

mod backward;
mod bytes;
mod consts;
mod declared;
mod forward;
mod init;
mod structs;
mod traits;
mod visit;

use crate::model::{GradientAt, Layer, LayerKind, Model, Shape, Source};
use proc_macro2::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

/// Everything `network!` generates for a checked model.
pub fn expand(model: &Model) -> TokenStream {
    let cx = Cx::new(model);
    let parts = [
        declared::user_layer_widths(&cx),
        structs::network_struct(&cx),
        structs::grads_struct(&cx),
        structs::cache_struct(&cx),
        consts::consts(&cx),
        bytes::bytes(&cx),
        init::constructors(&cx),
        forward::forward(&cx),
        forward::forward_train(&cx),
        backward::backward(&cx),
        visit::visitors(&cx),
        visit::activations(&cx),
        traits::trait_impls(&cx),
    ];
    quote!(#(#parts)*)
}

/// The model plus the names and tokens every generator needs.
pub struct Cx<'m> {
    pub model: &'m Model,
    /// The network struct's name.
    pub name: &'m Ident,
    /// `NameGrads`.
    pub grads: Ident,
    /// `NameCache`.
    pub cache: Ident,
    /// `where for<'a> UserLayer: DeclaredLayer<T, IN, OUT>, ...` with the declared widths of
    /// every user layer (empty when there is none), on every generated item that calls into
    /// the layers or names their caches. `DeclaredLayer` (implemented for every `Forward` with
    /// those widths) is how the generated code calls a user layer: with `[T; IN]` and
    /// `[T; OUT]` batches, see [`call`].
    ///
    /// A bound like `UserLayer: Forward<f32>` names no generic parameter, so rustc would
    /// check it where the item is defined, once per item. The unused `for<'a>` makes the bound
    /// non-trivial: it is then checked only where the item is used. Inside the items it is
    /// assumed, so a type that is not a layer, or whose `Forward` impl has other widths, adds
    /// no errors in the generated bodies: the one error is `declared`'s check, on the user's
    /// type or widths (and each use of the network then says which bound it misses).
    pub forward_bounds: TokenStream,
    /// The predicates of `forward_bounds`, without `where`, to join with other bounds.
    pub forward_predicates: Vec<TokenStream>,
    /// `where for<'a> UserLayer: Backward<T>, ...` for every user layer (empty when none).
    ///
    /// Non-trivial as the bounds above: it is then checked only where a training item is
    /// used, and an unimplemented `Backward` prints the trait's `on_unimplemented` message
    /// there ("layer `X` has no backward pass ..."), while the network is still usable for
    /// inference.
    pub training_bounds: TokenStream,
    /// Both: for the items that train and also call the layers' `Forward` (the trait impls
    /// of `Trainable` and `TrainableNetwork`).
    pub all_bounds: TokenStream,
}

impl<'m> Cx<'m> {
    fn new(model: &'m Model) -> Self {
        let t = &model.elem;
        let mut seen = std::collections::HashSet::new();
        let layers: Vec<TokenStream> = model
            .layers
            .iter()
            .filter_map(|layer| {
                let LayerKind::User { ty, .. } = &layer.kind else {
                    return None;
                };
                let (i, o) = (lit(layer.inputs.elements()), lit(layer.outputs.elements()));
                let bound = quote_spanned! {ty.span()=>
                    for<'a> #ty: ::gradflow::nn::layer::DeclaredLayer<#t, #i, #o>
                };
                // One bound per distinct type and widths, however many layers share them.
                seen.insert(bound.to_string()).then_some(bound)
            })
            .collect();
        // With `#[derive(Clone, ..)]`, the gradients struct derives them too, which needs each
        // user layer's `Grads` to implement them: bounds of the same kind, so that a layer
        // without a backward pass (and so without `Grads`) still compiles.
        let derived = crate::check::derived_traits(&model.attrs);
        let training: Vec<TokenStream> = model
            .user_types()
            .flat_map(|ty| {
                let backward =
                    quote_spanned!(ty.span()=> for<'a> #ty: ::gradflow::nn::Backward<#t>);
                let grads = derived.iter().map(move |tr| {
                    quote_spanned! {ty.span()=>
                        for<'a> <#ty as ::gradflow::nn::Trainable<#t>>::Grads: #tr
                    }
                });
                std::iter::once(backward).chain(grads)
            })
            .filter(|bound| seen.insert(bound.to_string()))
            .collect();
        let clause = |bounds: &[&TokenStream]| {
            if bounds.is_empty() {
                TokenStream::new()
            } else {
                quote!(where #(#bounds,)*)
            }
        };
        let all_bounds = clause(&layers.iter().chain(&training).collect::<Vec<_>>());
        Cx {
            model,
            name: &model.name,
            grads: format_ident!("{}Grads", model.name),
            cache: format_ident!("{}Cache", model.name),
            forward_bounds: clause(&layers.iter().collect::<Vec<_>>()),
            training_bounds: clause(&training.iter().collect::<Vec<_>>()),
            all_bounds,
            forward_predicates: layers,
        }
    }

    /// The element type `T`.
    pub fn t(&self) -> &syn::Type {
        &self.model.elem
    }

    /// The element type's name for messages: `"f32"` or `"f64"`.
    pub fn elem_name(&self) -> String {
        match &self.model.elem {
            syn::Type::Path(path) => path
                .path
                .segments
                .last()
                .map_or_else(String::new, |s| s.ident.to_string()),
            other => quote!(#other).to_string(),
        }
    }

    /// The type of the layer's field, e.g. `::gradflow::nn::Dense<f32, 64, 128>`; for a
    /// residual add, the type of its projection (only used when it has one).
    pub fn layer_type(&self, layer: &Layer) -> TokenStream {
        let t = self.t();
        let (inputs, outputs) = (layer.inputs, layer.outputs);
        let (i, o) = (lit(inputs.elements()), lit(outputs.elements()));
        // The sizes of a feature map, as const arguments: `C, H, W` or `C, L`.
        let dims = |shape: Shape| {
            let dims = shape.type_args().into_iter().map(lit);
            quote!(#(#dims),*)
        };
        let spatial = |shape: Shape| {
            let dims = shape.type_args().into_iter().skip(1).map(lit);
            quote!(#(#dims),*)
        };
        let image = matches!(inputs, Shape::Image { .. });
        match &layer.kind {
            LayerKind::Dense { .. } => quote!(::gradflow::nn::Dense<#t, #i, #o>),
            LayerKind::Residual { stride, .. } => match inputs {
                Shape::Flat(_) => quote!(::gradflow::nn::Dense<#t, #i, #o>),
                _ => conv_type(t, inputs, outputs, 1, *stride, 0),
            },
            LayerKind::Conv {
                kernel,
                stride,
                padding,
                ..
            } => conv_type(t, inputs, outputs, *kernel, *stride, *padding),
            LayerKind::Pool {
                max,
                kernel,
                stride,
            } => {
                let ty = match (max, image) {
                    (true, true) => quote!(MaxPool2d),
                    (true, false) => quote!(MaxPool1d),
                    (false, true) => quote!(AvgPool2d),
                    (false, false) => quote!(AvgPool1d),
                };
                let (input, (k, s)) = (dims(inputs), (lit(*kernel), lit(*stride)));
                let output = spatial(outputs);
                quote!(::gradflow::nn::conv::#ty<#t, #input, #k, #s, #output>)
            }
            LayerKind::GlobalAvgPool => {
                let input = dims(inputs);
                if image {
                    quote!(::gradflow::nn::conv::GlobalAvgPool2d<#t, #input>)
                } else {
                    quote!(::gradflow::nn::conv::GlobalAvgPool1d<#t, #input>)
                }
            }
            LayerKind::Flatten => {
                let input = dims(inputs);
                if image {
                    quote!(::gradflow::nn::conv::Flatten2d<#t, #input, #o>)
                } else {
                    quote!(::gradflow::nn::conv::Flatten1d<#t, #input, #o>)
                }
            }
            LayerKind::BatchNorm => match outputs {
                Shape::Flat(_) => quote!(::gradflow::nn::BatchNorm<#t, #o>),
                Shape::Seq { c, l } => quote!(::gradflow::nn::conv::BatchNorm1d<#t, #c, #l>),
                shape => {
                    let dims = dims(shape);
                    quote!(::gradflow::nn::conv::BatchNorm2d<#t, #dims>)
                }
            },
            LayerKind::Standardize => quote!(::gradflow::nn::Standardize<#t, #o>),
            LayerKind::Activation(a) => match outputs {
                Shape::Flat(_) => {
                    let ty = format_ident!("{}", a.type_name());
                    quote!(::gradflow::nn::#ty<#t, #o>)
                }
                shape => {
                    let f = format_ident!("{}Fn", a.type_name());
                    let ty = if image {
                        quote!(Activation2d)
                    } else {
                        quote!(Activation1d)
                    };
                    let dims = dims(shape);
                    quote!(::gradflow::nn::conv::#ty<#t, ::gradflow::nn::activation::#f, #dims>)
                }
            },
            LayerKind::User { ty, .. } => quote!(#ty),
        }
    }

    /// One sample of `shape`: `[T; N]`, `[[T; C]; L]` or `[[[T; C]; W]; H]` (channels-last).
    pub fn sample(&self, shape: Shape) -> TokenStream {
        let t = self.t();
        let mut ty = quote!(#t);
        for n in shape.dims().into_iter().rev() {
            let n = lit(n);
            ty = quote!([#ty; #n]);
        }
        ty
    }

    /// `[SAMPLE; B]`, a batch of samples of `shape`.
    pub fn batch(&self, shape: Shape) -> TokenStream {
        let sample = self.sample(shape);
        quote!([#sample; B])
    }

    pub fn input_batch(&self) -> TokenStream {
        self.batch(self.model.input)
    }

    pub fn output_batch(&self) -> TokenStream {
        self.batch(self.model.output())
    }

    pub fn layers(&self) -> &'m [Layer] {
        &self.model.layers
    }
}

/// `Conv2d<T, C, H, W, OC, K, S, P, OH, OW>` or `Conv1d<T, C, L, OC, K, S, P, OL>`.
fn conv_type(
    t: &syn::Type,
    inputs: Shape,
    outputs: Shape,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> TokenStream {
    let input = inputs.type_args().into_iter().map(lit);
    let mut output = outputs.type_args().into_iter().map(lit);
    let oc = output.next();
    let (k, s, p) = (lit(kernel), lit(stride), lit(padding));
    let ty = if matches!(inputs, Shape::Image { .. }) {
        quote!(Conv2d)
    } else {
        quote!(Conv1d)
    };
    quote!(::gradflow::nn::conv::#ty<#t, #(#input,)* #oc, #k, #s, #p, #(#output),*>)
}

/// A batch (or a reference to one) of `shape` as a slice of scalars: `<[_]>::as_flattened(&(x)[..])`,
/// as many times as the sample has levels, in paths rather than method calls, so that no
/// method of a user's trait in scope is picked instead.
pub fn scalars(batch: &TokenStream, shape: Shape) -> TokenStream {
    let mut tokens = quote!(&(#batch)[..]);
    for _ in 0..shape.depth() {
        tokens = quote!(<[_]>::as_flattened(#tokens));
    }
    tokens
}

/// Like [`scalars`], mutable.
pub fn scalars_mut(batch: &TokenStream, shape: Shape) -> TokenStream {
    let mut tokens = quote!(&mut (#batch)[..]);
    for _ in 0..shape.depth() {
        tokens = quote!(<[_]>::as_flattened_mut(#tokens));
    }
    tokens
}

/// `tokens` (an argument of a call into `layer`), placed on a user layer's declared input
/// width: a type whose `Forward::Input` is not what it was declared with is reported on the
/// user's `(IN -> ..)`, not on the whole macro call. Unchanged for built-in layers.
pub fn at_inputs(layer: &Layer, tokens: TokenStream) -> TokenStream {
    match layer.declared_spans() {
        Some((inputs, _)) => respan(tokens, inputs),
        None => tokens,
    }
}

/// Like [`at_inputs`], for arguments shaped like the layer's output.
pub fn at_outputs(layer: &Layer, tokens: TokenStream) -> TokenStream {
    match layer.declared_spans() {
        Some((_, outputs)) => respan(tokens, outputs),
        None => tokens,
    }
}

/// `path(args)`, a call into `layer` (`path` is a method of `Forward` or `Backward`, like
/// `::gradflow::nn::Forward::<T>::forward`). A user layer is called through the same method of
/// `DeclaredLayer<T, IN, OUT>` (`forward_declared`), which takes the batches of its declared
/// widths whatever its `Forward` impl says (see `Cx::forward_bounds`), and the call is placed
/// on the layer's type.
pub fn call(cx: &Cx, layer: &Layer, path: TokenStream, args: TokenStream) -> TokenStream {
    match &layer.kind {
        LayerKind::User { ty, .. } => {
            let span = ty.span();
            let method = match path.into_iter().last() {
                Some(TokenTree::Ident(method)) => format_ident!("{}_declared", method),
                _ => unreachable!("a call's path ends with the method's name"),
            };
            let (t, i, o) = (
                cx.t(),
                lit(layer.inputs.elements()),
                lit(layer.outputs.elements()),
            );
            let path = quote!(::gradflow::nn::layer::DeclaredLayer::<#t, #i, #o>::#method);
            let mut group = Group::new(Delimiter::Parenthesis, args);
            group.set_span(Span::call_site().located_at(span));
            let mut tokens = respan(path, span);
            tokens.extend([TokenTree::Group(group)]);
            tokens
        }
        _ => quote!(#path(#args)),
    }
}

/// Moves every token to the location of `span`, keeping call-site name resolution.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    let span = Span::call_site().located_at(span);
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// An unsuffixed integer literal (`128`, not `128usize`).
pub fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// Field names in the training cache.
pub fn out_field(layer: &Layer) -> Ident {
    format_ident!("out_{}", layer.field)
}

pub fn cache_field(layer: &Layer) -> Ident {
    format_ident!("cache_{}", layer.field)
}

pub fn grad_field(layer: &Layer) -> Ident {
    format_ident!("grad_{}", layer.field)
}

/// The scratch buffer where a residual projection writes its input gradient.
pub fn grad_skip_field(layer: &Layer) -> Ident {
    format_ident!("grad_skip_{}", layer.index)
}

/// The place of the training cache's field `field` (`cache.out_dense_3`) in a generated
/// function, which destructures the cache first ([`structs::destructure_cache`]): `(*local)`,
/// a reference to the field bound by the pattern. Naming the struct once, in the pattern,
/// rather than in a field access per buffer: a type of the user's that takes the name
/// `NameCache` (and wins it, see `structs::at_name`) makes the pattern one error, which rustc
/// reports once, not one error per field access.
pub fn in_cache(field: &Ident) -> TokenStream {
    let local = format_ident!("__cache_{}", field);
    quote!((*#local))
}

/// Like [`in_cache`], for the gradients' field `field` ([`structs::destructure_grads`]).
pub fn in_grads(field: &Ident) -> TokenStream {
    let local = format_ident!("__grads_{}", field);
    quote!((*#local))
}

/// The cache field holding a buffer: `cache.input` or `cache.out_dense_3` (see [`in_cache`]).
pub fn cached(cx: &Cx, source: Source) -> TokenStream {
    match source {
        Source::Input => in_cache(&format_ident!("input")),
        Source::Layer(k) => in_cache(&out_field(&cx.layers()[k])),
    }
}

/// A reference to the gradient of layer `position`'s output, during the backward pass:
/// `dy` or `&cache.grad_..`.
pub fn gradient_of(cx: &Cx, position: usize) -> TokenStream {
    match cx.model.gradient_at(position) {
        GradientAt::Output => quote!(dy),
        GradientAt::Layer(k) => {
            let grad = in_cache(&grad_field(&cx.layers()[k]));
            quote!(&#grad)
        }
    }
}

/// `Option<&mut ..>` of the gradient of a buffer, for a layer's `dx`: the caller's `dx`
/// (reborrowed, as several layers may read the network input) or a cache field.
pub fn gradient_of_source(cx: &Cx, source: Source) -> TokenStream {
    match source {
        Source::Input => quote!(::core::option::Option::as_deref_mut(&mut dx)),
        Source::Layer(k) => match cx.model.gradient_at(k) {
            GradientAt::Layer(k) => {
                let grad = in_cache(&grad_field(&cx.layers()[k]));
                quote!(::core::option::Option::Some(&mut #grad))
            }
            // A layer's input is never the network's output (it would be read by no one).
            GradientAt::Output => quote!(::core::option::Option::None),
        },
    }
}

/// A one-line description of a layer for generated docs: "dense 64 -> 128".
pub fn describe(layer: &Layer) -> String {
    if let LayerKind::Residual { .. } = layer.kind {
        return format!(
            "Layer {}: the learned projection on residual block {}'s skip connection, {} -> {}.",
            layer.index, layer.index, layer.inputs, layer.outputs
        );
    }
    format!(
        "Layer {}: `{}`, {} -> {}{}.",
        layer.index,
        layer.kind_name(),
        layer.inputs,
        layer.outputs,
        if layer.frozen { ", frozen" } else { "" }
    )
}
