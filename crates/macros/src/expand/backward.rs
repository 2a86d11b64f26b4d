//! The backward pass: from the loss gradient `dy`, each layer in reverse order adds its
//! parameter gradients into the network's grads and writes the gradient of its input into
//! the cache (or, for a layer reading the network input, into the caller's `dx` when asked).
//!
//! A residual add passes its gradient `g` unchanged to both branches. The body's last layer
//! reads `g` directly (it shares the add's gradient buffer); the body's backward then
//! *writes* the gradient of the block's input, and only after it, the skip *adds* its share:
//! `g` itself, or the projection's input gradient computed into the scratch `grad_skip_k`.
//! Every layer's backward overwrites its `dx`, so that order is what makes the sum right.

use super::{
    at_inputs, at_outputs, cache_field, cached, call, grad_skip_field, gradient_of,
    gradient_of_source, in_cache, in_grads, Cx,
};
use crate::model::{GradientAt, LayerKind, Shape, Source};
use proc_macro2::TokenStream;
use quote::quote;

/// `into += from` elementwise over batches of `shape`, where `into` is a mutable place
/// and `from` a reference.
fn accumulate(into: TokenStream, from: &TokenStream, shape: Shape) -> TokenStream {
    let (into, from) = (
        super::scalars_mut(&into, shape),
        super::scalars(from, shape),
    );
    quote!(::gradflow::tensor::elementwise::add_assign(#into, #from);)
}

/// The skip connection's share of the gradient of residual add `position`'s input.
fn skip_backward(cx: &Cx, position: usize) -> TokenStream {
    let t = cx.t();
    let layer = &cx.layers()[position];
    let LayerKind::Residual { project, .. } = layer.kind else {
        return quote!();
    };
    let g = gradient_of(cx, position);
    // Where the block input's gradient lives: `None` for the network input (the caller's
    // `dx`, which may be absent).
    let into = match layer.source {
        Source::Input => None,
        Source::Layer(k) => match cx.model.gradient_at(k) {
            GradientAt::Layer(k) => Some(in_cache(&super::grad_field(&cx.layers()[k]))),
            GradientAt::Output => None,
        },
    };
    if !project {
        return match into {
            Some(into) => accumulate(into, &g, layer.inputs),
            None => {
                let sum = accumulate(quote!(dx), &g, layer.inputs);
                quote!(if let ::core::option::Option::Some(dx) = ::core::option::Option::as_deref_mut(&mut dx) { #sum })
            }
        };
    }
    let (field, out) = (&layer.field, super::out_field(layer));
    let x = cached(cx, layer.source);
    let scratch = grad_skip_field(layer);
    let grads = in_grads(field);
    let grads = quote!(::core::option::Option::Some(&mut #grads));
    let layer_cache = if layer.has_cache() {
        let c = in_cache(&cache_field(layer));
        quote!(&#c)
    } else {
        quote!(&())
    };
    // The projection's backward reads its input, not its output, so the add's output stands
    // in for the projection's own (which is not kept).
    let (out, scratch) = (in_cache(&out), in_cache(&scratch));
    let backward = |dx: TokenStream| {
        quote! {
            ::gradflow::nn::Backward::<#t>::backward(
                &self.#field, &#x, &#out, #layer_cache, #g, #dx, #grads,
            );
        }
    };
    let with_dx = backward(quote!(::core::option::Option::Some(&mut #scratch)));
    let from = quote!(&#scratch);
    match into {
        Some(into) => {
            let sum = accumulate(into, &from, layer.inputs);
            quote!(#with_dx #sum)
        }
        None => {
            let without_dx = backward(quote!(::core::option::Option::None));
            let sum = accumulate(quote!(dx), &from, layer.inputs);
            quote! {
                if let ::core::option::Option::Some(dx) = ::core::option::Option::as_deref_mut(&mut dx) {
                    #with_dx
                    #sum
                } else {
                    #without_dx
                }
            }
        }
    }
}

pub fn backward(cx: &Cx) -> TokenStream {
    let forward_bounds = &cx.forward_bounds;
    let (name, t, cache, grads) = (cx.name, cx.t(), &cx.cache, &cx.grads);
    let bounds = &cx.training_bounds;
    let (input, output) = (cx.input_batch(), cx.output_batch());
    let layers = cx.layers();
    let batch_of_one = super::forward::batch_of_one(cx);
    let steps: Vec<_> = layers
        .iter()
        .enumerate()
        .rev()
        .map(|(k, layer)| {
            let field = &layer.field;
            let step = if let LayerKind::Residual { .. } = layer.kind {
                // The add's gradient reaches the body through the shared buffer; its skip
                // is handled after the body, below.
                quote!()
            } else {
                let out = super::out_field(layer);
                let x = cached(cx, layer.source);
                let (x, dx) = (quote!(&#x), gradient_of_source(cx, layer.source));
                let dy = gradient_of(cx, k);
                let layer_cache = if layer.has_cache() {
                    let c = in_cache(&cache_field(layer));
                    quote!(&#c)
                } else {
                    quote!(&())
                };
                let layer_grads = if layer.has_grads() {
                    let g = in_grads(field);
                    quote!(::core::option::Option::Some(&mut #g))
                } else {
                    quote!(::core::option::Option::None)
                };
                let (x, dx) = (at_inputs(layer, x), at_inputs(layer, dx));
                let (y, dy) = (
                    at_outputs(layer, {
                        let out = in_cache(&out);
                        quote!(&#out)
                    }),
                    at_outputs(layer, dy),
                );
                let path = quote!(::gradflow::nn::Backward::<#t>::backward);
                let args = quote!(&self.#field, #x, #y, #layer_cache, #dy, #dx, #layer_grads);
                let call = call(cx, layer, path, args);
                quote!(#call;)
            };
            let skips = cx.model.blocks_starting_at(k).map(|r| skip_backward(cx, r));
            quote!(#step #(#skips)*)
        })
        .collect();
    let split_grads = if layers.iter().any(|l| l.has_grads()) {
        super::structs::destructure_grads(cx, quote!(#grads), quote!(grads))
    } else {
        quote!(let _ = grads;)
    };
    let destructure = super::structs::destructure_cache(cx);
    let filled = in_cache(&quote::format_ident!("filled"));
    let unfilled = format!(
        "`{name}::backward` needs a cache that `{name}::forward_train` has filled; this one is \
         as it was created (its zeros would make every gradient zero)"
    );
    let doc = format!(
        "Backward pass of the last [`Self::forward_train`], from the loss gradient `dy` with \
         respect to the output: adds every trainable parameter's gradient into `grads` (reset \
         them with [`{grads}::zero`] between steps).\n\n# Panics\nIf `cache` has not been \
         through [`Self::forward_train`] (a fresh cache holds zeros, which would give zero \
         gradients). Running `backward` twice on one cache gives the same gradients twice."
    );
    quote! {
        impl #name #forward_bounds {
            #[doc = #doc]
            // A panic (an unfilled cache) points at the caller's line, not at `network!`.
            #[track_caller]
            pub fn backward<const B: ::core::primitive::usize>(
                &self,
                cache: &mut #cache<{ B }>,
                dy: &#output,
                grads: &mut #grads,
            ) #bounds {
                Self::backward_into(self, cache, dy, ::core::option::Option::None, grads);
            }

            /// Like [`Self::backward`], and also writes the gradient of the loss with respect
            /// to the network's input into `dx`.
            #[track_caller]
            pub fn backward_to_input<const B: ::core::primitive::usize>(
                &self,
                cache: &mut #cache<{ B }>,
                dy: &#output,
                dx: &mut #input,
                grads: &mut #grads,
            ) #bounds {
                Self::backward_into(self, cache, dy, ::core::option::Option::Some(dx), grads);
            }

            /// Like [`Self::backward`], writing the input gradient into `dx` when it is given.
            #[track_caller]
            pub fn backward_into<const B: ::core::primitive::usize>(
                &self,
                cache: &mut #cache<{ B }>,
                dy: &#output,
                mut dx: ::core::option::Option<&mut #input>,
                grads: &mut #grads,
            ) #bounds {
                #batch_of_one
                #split_grads
                #destructure
                ::core::assert!(#filled, #unfilled);
                #(#steps)*
            }
        }
    }
}
