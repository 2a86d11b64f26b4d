//! The forward passes: `forward` / `forward_into` / `predict` for inference, whose layer
//! outputs share as few local buffers as their lifetimes allow, and `forward_train`, which
//! keeps every activation in the cache.
//! A residual add is a call to `gradflow::tensor::elementwise`: `out = body + x`, or, with a
//! projection, `out = proj(x)` then `out += body`.

use super::{
    at_inputs, at_outputs, cache_field, cached, call, in_cache, out_field, scalars, scalars_mut, Cx,
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

/// For a network with a batchnorm that sees one value per channel in each sample (on a flat
/// vector, a sequence of length 1 or a 1x1 map), a compile-time assertion that the batch `B`
/// is at least 2: the variance of one value is 0. Each such layer asserts the same, but its
/// error points into gradflow; this one names the network, and its instantiation note the
/// user's call. A batchnorm over positions (`B * H * W` values per channel) trains on one
/// sample.
pub(super) fn batch_of_one(cx: &Cx) -> TokenStream {
    let one_value = cx.layers().iter().any(|l| {
        matches!(l.kind, LayerKind::BatchNorm) && l.inputs.elements() == l.inputs.channels()
    });
    if !one_value {
        return quote!();
    }
    let message = format!(
        "network `{}` has batchnorm layers that see one value per channel in a sample, which \
         need a batch of at least 2 in training mode (the variance of one value is 0)",
        cx.name
    );
    quote!(const { ::core::assert!(B > 1, #message) };)
}

/// `out += a` elementwise.
fn add_assign(out: &TokenStream, a: &TokenStream, shape: Shape) -> TokenStream {
    let (out, a) = (scalars_mut(out, shape), scalars(a, shape));
    quote!(::gradflow::tensor::elementwise::add_assign(#out, #a);)
}

/// Which inference buffer holds each layer's output (`None` for the last layer, which writes
/// the caller's `y`), and how many scalars each buffer's row holds. An output lives from its
/// layer to its last reader (the next layer, or a residual add that reads it as its body or
/// its skip); a buffer is reused once its output's last reader has run, so the buffers are as
/// many as the outputs live at once (two in a plain chain, three in a residual block, one
/// more per level of nesting). Reader and writer never share a buffer, and the borrow checker checks it: each
/// buffer is a separate local, borrowed mutably for the output it holds.
pub fn inference_buffers(layers: &[crate::model::Layer]) -> (Vec<Option<usize>>, Vec<usize>) {
    let mut last_read = vec![0; layers.len()];
    for (k, layer) in layers.iter().enumerate() {
        if let Source::Layer(j) = layer.source {
            last_read[j] = last_read[j].max(k);
        }
        if let LayerKind::Residual { body, .. } = layer.kind {
            last_read[body] = last_read[body].max(k);
        }
    }
    // Per buffer: the last reader of the output it holds, and its row length.
    let mut buffers: Vec<(usize, usize)> = Vec::new();
    let mut assigned = vec![None; layers.len()];
    for (k, layer) in layers
        .iter()
        .enumerate()
        .take(layers.len().saturating_sub(1))
    {
        let elements = layer.outputs.elements();
        let free = buffers.iter().position(|&(until, _)| until < k);
        let b = free.unwrap_or_else(|| {
            buffers.push((0, 0));
            buffers.len() - 1
        });
        buffers[b] = (last_read[k], buffers[b].1.max(elements));
        assigned[k] = Some(b);
    }
    (assigned, buffers.into_iter().map(|(_, e)| e).collect())
}

pub fn forward(cx: &Cx) -> TokenStream {
    let forward_bounds = &cx.forward_bounds;
    let (name, t) = (cx.name, cx.t());
    let (input, output) = (cx.input_batch(), cx.output_batch());
    let (assigned, rows) = inference_buffers(cx.layers());
    let buffer = |b: usize| format_ident!("buffer_{}", b);
    let buffers = rows.iter().enumerate().map(|(b, &elements)| {
        let (name, elements) = (buffer(b), super::lit(elements));
        quote!(let mut #name: [[#t; #elements]; B] = ::gradflow::nn::memory::zeroed();)
    });
    // Every output but the last is `a_<field>`, a view of its buffer; later layers read it.
    let local = |source: Source| match source {
        Source::Input => quote!(x),
        Source::Layer(k) => {
            let a = format_ident!("a_{}", cx.layers()[k].field);
            quote!((&*#a))
        }
    };
    let steps = cx.layers().iter().enumerate().map(|(k, layer)| {
        let field = &layer.field;
        let (y, declare) = match assigned[k] {
            None => (quote!(y), quote!()),
            Some(b) => {
                let (a, b) = (format_ident!("a_{}", field), buffer(b));
                let batch = cx.batch(layer.outputs);
                (
                    quote!(&mut *#a),
                    quote!(let #a: &mut #batch = ::gradflow::nn::memory::carve(&mut #b);),
                )
            }
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
                    cx,
                    layer,
                    quote!(::gradflow::nn::Forward::<#t>::forward),
                    quote!(&self.#field, #x, #y),
                );
                quote!(#call;)
            }
        };
        quote!(#declare #step)
    });
    let buffers: Vec<_> = buffers.collect();
    let steps: Vec<_> = steps.collect();
    quote! {
        impl #name #forward_bounds {
            /// Inference on a batch of `B` samples (batchnorm layers use their running
            /// statistics).
            pub fn forward<const B: ::core::primitive::usize>(&self, x: &#input) -> #output {
                let mut y: #output = ::gradflow::nn::memory::zeroed();
                Self::forward_into(self, x, &mut y);
                y
            }

            /// Inference on a batch of `B` samples, overwriting `y`.
            pub fn forward_into<const B: ::core::primitive::usize>(&self, x: &#input, y: &mut #output) {
                #(#buffers)*
                #(#steps)*
            }

            /// The index of the largest output of each sample, by
            /// [`argmax`](::gradflow::nn::loss::argmax): the first one on ties; a NaN output
            /// never wins, so a sample whose outputs are all NaN (a NaN in its input) gets
            /// class 0. Where that can happen, check the outputs of `forward` first.
            pub fn predict<const B: ::core::primitive::usize>(
                &self,
                x: &#input,
            ) -> [::core::primitive::usize; B] {
                let y = Self::forward::<{ B }>(self, x);
                ::core::array::from_fn(|b| ::gradflow::nn::loss::argmax::<#t>(&y[b]))
            }
        }
    }
}

pub fn forward_train(cx: &Cx) -> TokenStream {
    let forward_bounds = &cx.forward_bounds;
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
                    let y = in_cache(&out);
                    if project {
                        let sum = add_assign(&y, &body, layer.outputs);
                        let layer_cache = if layer.has_cache() {
                            let c = in_cache(&cache_field(layer));
                            quote!(&mut #c)
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
                        let c = in_cache(&cache_field(layer));
                        quote!(&mut #c)
                    } else {
                        quote!(&mut ())
                    };
                    let x = at_inputs(layer, quote!(&#x));
                    let out = in_cache(&out);
                    let y = at_outputs(layer, quote!(&mut #out));
                    let path = quote!(::gradflow::nn::Forward::<#t>::forward_train);
                    let call = call(
                        cx,
                        layer,
                        path,
                        quote!(&mut self.#field, #x, #y, #layer_cache),
                    );
                    quote!(#call;)
                }
            }
        })
        .collect();
    let result = cached(cx, Source::Layer(cx.layers().len() - 1));
    let input_place = cached(cx, Source::Input);
    let filled = in_cache(&format_ident!("filled"));
    let destructure = super::structs::destructure_cache(cx);
    let batch_of_one = batch_of_one(cx);
    quote! {
        impl #name #forward_bounds {
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
                #destructure
                #input_place = *x;
                #(#steps)*
                #filled = true;
                &#result
            }
        }
    }
}
