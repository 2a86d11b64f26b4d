//! The forward passes: `forward` / `forward_into` / `predict` for inference, with local
//! activation buffers, and `forward_train`, which keeps every activation in the cache.
//! A residual add is a call to `gradflow::tensor::elementwise`: `out = body + x`, or, with a
//! projection, `out = proj(x)` then `out += body`.

use super::{
    at_inputs, at_outputs, cache_field, cached, call, out_field, scalars, scalars_mut, Cx,
};
use crate::model::{LayerKind, Shape, Source};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// `out = a + b` elementwise over three batches of `shape` (each an expression of a batch
/// or a reference).
fn add(out: &TokenStream, a: &TokenStream, b: &TokenStream, shape: Shape) -> TokenStream {
    let (out, a, b) = (
        scalars_mut(out, shape),
        scalars(a, shape),
        scalars(b, shape),
    );
    quote!(::gradflow::tensor::elementwise::add(#out, #a, #b);)
}

/// `out += a` elementwise.
fn add_assign(out: &TokenStream, a: &TokenStream, shape: Shape) -> TokenStream {
    let (out, a) = (scalars_mut(out, shape), scalars(a, shape));
    quote!(::gradflow::tensor::elementwise::add_assign(#out, #a);)
}

pub fn forward(cx: &Cx) -> TokenStream {
    let (name, t) = (cx.name, cx.t());
    let (input, output) = (cx.input_batch(), cx.output_batch());
    let last = cx.layers().len() - 1;
    // Every buffer but the output is a local, `a_<field>`; they are read by later layers.
    let local = |source: Source| match source {
        Source::Input => quote!(x),
        Source::Layer(k) => {
            let a = format_ident!("a_{}", cx.layers()[k].field);
            quote!((&#a))
        }
    };
    let steps = cx.layers().iter().enumerate().map(|(k, layer)| {
        let field = &layer.field;
        let (y, declare) = if k == last {
            (quote!(y), quote!())
        } else {
            let a = format_ident!("a_{}", field);
            let batch = cx.batch(layer.outputs);
            (
                quote!(&mut #a),
                quote!(let mut #a: #batch = ::gradflow::nn::memory::zeroed();),
            )
        };
        let x = local(layer.source);
        let step = match layer.kind {
            LayerKind::Residual { project, body, .. } => {
                let body = local(Source::Layer(body));
                if project {
                    let sum = add_assign(&y, &body, layer.outputs);
                    quote! {
                        ::gradflow::nn::Forward::<#t>::forward(&self.#field, #x, #y);
                        #sum
                    }
                } else {
                    add(&y, &body, &x, layer.outputs)
                }
            }
            _ => {
                let x = at_inputs(layer, x);
                let y = at_outputs(layer, y);
                let call = call(
                    layer,
                    quote!(::gradflow::nn::Forward::<#t>::forward),
                    quote!(&self.#field, #x, #y),
                );
                quote!(#call;)
            }
        };
        quote!(#declare #step)
    });
    let steps: Vec<_> = steps.collect();
    quote! {
        impl #name {
            /// Inference on a batch of `B` samples (batchnorm layers use their running
            /// statistics).
            pub fn forward<const B: ::core::primitive::usize>(&self, x: &#input) -> #output {
                let mut y: #output = ::gradflow::nn::memory::zeroed();
                self.forward_into(x, &mut y);
                y
            }

            /// Inference on a batch of `B` samples, overwriting `y`.
            pub fn forward_into<const B: ::core::primitive::usize>(&self, x: &#input, y: &mut #output) {
                #(#steps)*
            }

            /// The index of the largest output of each sample, by
            /// [`argmax`](::gradflow::nn::loss::argmax): the first one on ties; a NaN output
            /// never wins.
            pub fn predict<const B: ::core::primitive::usize>(
                &self,
                x: &#input,
            ) -> [::core::primitive::usize; B] {
                let y = self.forward::<{ B }>(x);
                ::core::array::from_fn(|b| ::gradflow::nn::loss::argmax::<#t>(&y[b]))
            }
        }
    }
}

pub fn forward_train(cx: &Cx) -> TokenStream {
    let (name, t, cache) = (cx.name, cx.t(), &cx.cache);
    let bounds = &cx.training_bounds;
    let (input, output) = (cx.input_batch(), cx.output_batch());
    let steps: Vec<_> = cx
        .layers()
        .iter()
        .map(|layer| {
            let (field, out) = (&layer.field, out_field(layer));
            let x = cached(cx, layer.source);
            match layer.kind {
                LayerKind::Residual { project, body, .. } => {
                    let body = cached(cx, Source::Layer(body));
                    let y = quote!(cache.#out);
                    if project {
                        let sum = add_assign(&y, &body, layer.outputs);
                        let layer_cache = if layer.has_cache() {
                            let c = cache_field(layer);
                            quote!(&mut cache.#c)
                        } else {
                            quote!(&mut ())
                        };
                        quote! {
                            ::gradflow::nn::Forward::<#t>::forward_train(
                                &mut self.#field, &#x, &mut #y, #layer_cache,
                            );
                            #sum
                        }
                    } else {
                        add(&y, &body, &x, layer.outputs)
                    }
                }
                _ => {
                    let layer_cache = if layer.has_cache() {
                        let c = cache_field(layer);
                        quote!(&mut cache.#c)
                    } else {
                        quote!(&mut ())
                    };
                    let x = at_inputs(layer, quote!(&#x));
                    let y = at_outputs(layer, quote!(&mut cache.#out));
                    let path = quote!(::gradflow::nn::Forward::<#t>::forward_train);
                    let call = call(layer, path, quote!(&mut self.#field, #x, #y, #layer_cache));
                    quote!(#call;)
                }
            }
        })
        .collect();
    let result = cached(cx, Source::Layer(cx.layers().len() - 1));
    // Each `BatchNorm::forward_train` asserts the same, but its error points into gradflow;
    // this one names the network, and its instantiation note the user's call.
    let batch_of_one = if cx
        .layers()
        .iter()
        .any(|l| matches!(l.kind, LayerKind::BatchNorm))
    {
        let message = format!(
            "network `{name}` has batchnorm layers, which need a batch of at least 2 in \
             training mode (the variance of one sample is 0)"
        );
        quote!(const { ::core::assert!(B > 1, #message) };)
    } else {
        quote!()
    };
    quote! {
        impl #name {
            /// Training-mode forward pass: keeps the input and every activation in `cache`
            /// for [`Self::backward`], and returns the output, which lives in `cache`.
            /// Batchnorm layers normalize with the batch's statistics and update their
            /// running ones.
            pub fn forward_train<'c, const B: ::core::primitive::usize>(
                &mut self,
                x: &#input,
                cache: &'c mut #cache<{ B }>,
            ) -> &'c #output #bounds {
                #batch_of_one
                cache.input = *x;
                #(#steps)*
                &#result
            }
        }
    }
}
