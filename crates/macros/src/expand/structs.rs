//! The three generated structs: the network (its layers), `NameGrads` (one gradient entry
//! per trainable layer, also the shape of optimizer state) and `NameCache<B>` (everything a
//! training step keeps for a batch of `B`), with their zeroed constructors.

use super::{cache_field, describe, grad_field, grad_skip_field, out_field, respan, Cx};
use crate::model::{GradientAt, LayerKind};
use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::quote;

/// Derives `Zeroable` through the facade, so the user's crate needs no bytemuck dependency.
fn derive_zeroable() -> TokenStream {
    quote! {
        #[derive(::gradflow::__private::bytemuck::Zeroable)]
        #[bytemuck(crate = "::gradflow::__private::bytemuck")]
    }
}

/// `vis struct Name` placed on the network's name, the span of the struct's definition. A
/// generated struct whose name is taken in the user's module (`NetGrads` next to
/// `network! { struct Net .. }`) is then reported on the network's name ("the name `NetGrads`
/// is defined multiple times"), not on the whole macro call.
pub fn at_name(cx: &Cx, header: TokenStream) -> TokenStream {
    respan(header, cx.name.span())
}

/// `{ fields }`, its braces placed on the network's name (the end of the struct's span, see
/// [`at_name`]); the fields keep their spans.
fn body_at_name(cx: &Cx, fields: TokenStream) -> TokenStream {
    let mut body = Group::new(Delimiter::Brace, fields);
    body.set_span(Span::call_site().located_at(cx.name.span()));
    TokenTree::Group(body).into()
}

pub fn network_struct(cx: &Cx) -> TokenStream {
    let model = cx.model;
    let (attrs, vis, name) = (&model.attrs, &model.vis, cx.name);
    let derive = derive_zeroable();
    let header = at_name(cx, quote!(#vis struct #name));
    let fields = cx.layers().iter().filter(|l| l.has_field()).map(|layer| {
        let (field, ty, doc) = (&layer.field, cx.layer_type(layer), describe(layer));
        quote!(#[doc = #doc] pub #field: #ty,)
    });
    let body = body_at_name(cx, quote!(#(#fields)*));
    quote! {
        #(#attrs)*
        #derive
        #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(64)))]
        #header #body
    }
}

pub fn grads_struct(cx: &Cx) -> TokenStream {
    let (vis, name, grads, t) = (&cx.model.vis, cx.name, &cx.grads, cx.t());
    let bounds = &cx.training_bounds;
    let derive = derive_zeroable();
    let header = at_name(cx, quote!(#vis struct #grads));
    let doc = format!(
        "Gradients of [`{name}`]'s trainable parameters, one field per layer that is neither \
         frozen nor parameter-free. Optimizer state (momentum, Adam's moments) is stored in \
         values of this same type."
    );
    let trained: Vec<_> = cx.layers().iter().filter(|l| l.has_grads()).collect();
    let fields = trained.iter().map(|layer| {
        let (field, ty) = (&layer.field, cx.layer_type(layer));
        let doc = format!("Gradients of `{field}`.");
        quote!(#[doc = #doc] pub #field: <#ty as ::gradflow::nn::Trainable<#t>>::Grads,)
    });
    let body = body_at_name(cx, quote!(#(#fields)*));
    let zero = trained.iter().map(|layer| {
        let field = super::in_grads(&layer.field);
        quote!(::gradflow::nn::memory::zero_in_place(&mut #field);)
    });
    let destructure = destructure_grads(cx, quote!(Self), quote!(self));
    // The network's `#[derive(Clone, Debug, PartialEq)]`, also for its gradients, so that
    // optimizers (`Sgd<NetGrads>`), which derive `Clone` and `Debug`, have them too.
    let derives = cx.model.attrs.iter().filter(|a| crate::check::is_derive(a));
    let shared = crate::check::shared_attributes(&cx.model.attrs);
    quote! {
        #[doc = #doc]
        #(#shared)*
        #(#derives)*
        #derive
        #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(64)))]
        #header #bounds #body

        impl #grads #bounds {
            /// All-zero gradients, on the stack.
            pub fn zeroed() -> Self {
                ::gradflow::nn::memory::zeroed()
            }

            ::gradflow::__if_alloc! {
                /// All-zero gradients allocated directly on the heap, for large networks.
                pub fn new_boxed() -> ::gradflow::__private::Box<Self> {
                    ::gradflow::nn::memory::zeroed_box()
                }
            }

            ::gradflow::__without_alloc! {
                /// Needs gradflow's `alloc` feature: without it, calling this is a compile
                /// error that says so; use a `static` built by `const_zeroed()` instead.
                pub fn new_boxed() -> Self
                where
                    for<'a> (): ::gradflow::__private::NeedsAlloc,
                {
                    ::core::unreachable!()
                }
            }

            /// Resets every gradient to zero in place, before the next accumulation: layer by
            /// layer, so that with the `parallel` feature each thread zeroes half of each
            /// large layer's gradients, the half its share of the backward pass and of the
            /// optimizer's update then works on.
            pub fn zero(&mut self) {
                #destructure
                #(#zero)*
            }
        }
    }
}

pub fn cache_struct(cx: &Cx) -> TokenStream {
    let (vis, name, cache, t) = (&cx.model.vis, cx.name, &cx.cache, cx.t());
    let (bounds, predicates) = (&cx.forward_bounds, &cx.forward_predicates);
    let header = at_name(
        cx,
        quote!(#vis struct #cache<const B: ::core::primitive::usize>),
    );
    let doc = format!(
        "What a training step of [`{name}`] keeps for a batch of `B`: the input, every \
         layer's output and cache, and the gradient flowing back into every layer but the \
         last. Allocate it once ([`{cache}::new_boxed`] for large batches) and reuse it."
    );
    let input = cx.input_batch();
    let mut types = vec![input.clone()];
    let fields: Vec<_> = cx
        .layers()
        .iter()
        .enumerate()
        .map(|(k, layer)| {
            let (field, out) = (&layer.field, out_field(layer));
            let batch = cx.batch(layer.outputs);
            let out_doc = match layer.kind {
                LayerKind::Residual { .. } => format!(
                    "Output of residual block {}: its body's output plus its skip connection.",
                    layer.index
                ),
                _ => format!("Output of `{field}`."),
            };
            let mut tokens = quote!(#[doc = #out_doc] pub #out: #batch,);
            types.push(batch.clone());
            if layer.has_cache() {
                let (name, ty) = (cache_field(layer), cx.layer_type(layer));
                let doc = format!("What `{field}` keeps for its backward pass.");
                let ty = quote!(<#ty as ::gradflow::nn::Forward<#t>>::Cache<{ B }>);
                tokens.extend(quote!(#[doc = #doc] pub #name: #ty,));
                types.push(ty);
            }
            // The last layer's gradient is the caller's `dy`; a residual body's last layer
            // shares its block's gradient.
            if cx.model.gradient_at(k) == GradientAt::Layer(k) {
                let grad = grad_field(layer);
                let doc = format!("Gradient of the loss with respect to `{out}`.");
                tokens.extend(quote!(#[doc = #doc] pub #grad: #batch,));
                types.push(batch.clone());
            }
            if let LayerKind::Residual { project: true, .. } = layer.kind {
                let grad = grad_skip_field(layer);
                let doc = format!(
                    "Gradient flowing back through residual block {}'s projection to its input.",
                    layer.index
                );
                let batch = cx.batch(layer.inputs);
                tokens.extend(quote!(#[doc = #doc] pub #grad: #batch,));
                types.push(batch);
            }
            tokens
        })
        .collect();
    let body = body_at_name(
        cx,
        quote! {
            /// The batch's input, copied by `forward_train`.
            pub input: #input,
            #(#fields)*
            /// Whether `forward_train` has filled this cache: `backward` refuses (panics on) a
            /// cache it has not, whose zeros would give zero gradients without a word.
            pub filled: ::core::primitive::bool,
        },
    );
    let zeroable = quote!(::gradflow::__private::bytemuck::Zeroable);
    let shared = crate::check::shared_attributes(&cx.model.attrs);
    // Not derived: the derive would write `NameCache<B>`, where a type `B` in the user's
    // scope would be taken for the argument.
    quote! {
        #[doc = #doc]
        #(#shared)*
        #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(64)))]
        #header #bounds #body

        // SAFETY: the bounds make every field `Zeroable`, so all-zero bytes are a valid
        // value of each field and hence of the struct.
        unsafe impl<const B: ::core::primitive::usize> #zeroable for #cache<{ B }>
        where
            #(#types: #zeroable,)*
            #(#predicates,)*
        {
        }

        impl<const B: ::core::primitive::usize> #cache<{ B }> #bounds {
            /// A zeroed cache on the stack, for small networks and batches.
            pub fn zeroed() -> Self {
                ::gradflow::nn::memory::zeroed()
            }

            ::gradflow::__if_alloc! {
                /// A zeroed cache allocated directly on the heap.
                pub fn new_boxed() -> ::gradflow::__private::Box<Self> {
                    ::gradflow::nn::memory::zeroed_box()
                }
            }

            ::gradflow::__without_alloc! {
                /// Needs gradflow's `alloc` feature: without it, calling this is a compile
                /// error that says so; use a `static` built by `const_zeroed()` instead.
                pub fn new_boxed() -> Self
                where
                    for<'a> (): ::gradflow::__private::NeedsAlloc,
                {
                    ::core::unreachable!()
                }
            }
        }
    }
}

/// Every field of the training cache, in order: `input`, then each layer's `out_`, `cache_`,
/// `grad_` and `grad_skip_` fields that [`cache_struct`] declares, then `filled`.
fn cache_fields(cx: &Cx) -> Vec<proc_macro2::Ident> {
    let mut fields = vec![quote::format_ident!("input")];
    for (k, layer) in cx.layers().iter().enumerate() {
        fields.push(out_field(layer));
        if layer.has_cache() {
            fields.push(cache_field(layer));
        }
        if cx.model.gradient_at(k) == GradientAt::Layer(k) {
            fields.push(grad_field(layer));
        }
        if let LayerKind::Residual { project: true, .. } = layer.kind {
            fields.push(grad_skip_field(layer));
        }
    }
    fields.push(quote::format_ident!("filled"));
    fields
}

/// `let NameCache { input: __cache_input, .. } = cache;`, every field bound to its local (see
/// `super::in_cache`), at the start of a generated function that reads or writes the cache.
/// On the network's name, as the struct's definition ([`at_name`]): if a type of the user's
/// has taken the name, rustc reports there that it lacks these fields.
pub fn destructure_cache(cx: &Cx) -> TokenStream {
    let cache = &cx.cache;
    let fields = cache_fields(cx);
    let locals = fields.iter().map(|f| quote::format_ident!("__cache_{}", f));
    at_name(cx, quote!(let #cache { #(#fields: #locals,)* } = cache;))
}

/// `let NameGrads { dense_0: __grads_dense_0, .. } = from;`, every field bound to its local
/// (see `super::in_grads`); `ty` is the struct's name or `Self`.
pub fn destructure_grads(cx: &Cx, ty: TokenStream, from: TokenStream) -> TokenStream {
    let fields: Vec<_> = cx
        .layers()
        .iter()
        .filter(|l| l.has_grads())
        .map(|l| &l.field)
        .collect();
    let locals = fields.iter().map(|f| quote::format_ident!("__grads_{}", f));
    at_name(cx, quote!(let #ty { #(#fields: #locals,)* } = #from;))
}
