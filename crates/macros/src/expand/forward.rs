//! The forward passes: `forward` / `forward_into` / `predict` for inference, with local
//! activation buffers, and `forward_train`, which keeps every activation in the cache.

use super::{at_inputs, at_outputs, cache_field, call, out_field, Cx};
use quote::{format_ident, quote};

pub fn forward(cx: &Cx) -> proc_macro2::TokenStream {
    let (name, t) = (cx.name, cx.t());
    let (input, output) = (cx.input_batch(), cx.output_batch());
    let last = cx.layers().len() - 1;
    let mut prev = quote!(x);
    let steps = cx.layers().iter().enumerate().map(|(k, layer)| {
        let field = &layer.field;
        let x = at_inputs(layer, prev.clone());
        if k == last {
            let y = at_outputs(layer, quote!(y));
            let call = call(
                layer,
                quote!(::gradflow::nn::Forward::<#t>::forward),
                quote!(&self.#field, #x, #y),
            );
            quote!(#call;)
        } else {
            let y = format_ident!("a_{}", field);
            let batch = cx.batch(layer.outputs);
            prev = quote!(&#y);
            let y_arg = at_outputs(layer, quote!(&mut #y));
            let call = call(
                layer,
                quote!(::gradflow::nn::Forward::<#t>::forward),
                quote!(&self.#field, #x, #y_arg),
            );
            quote! {
                let mut #y: #batch = ::gradflow::nn::memory::zeroed();
                #call;
            }
        }
    });
    let steps: Vec<_> = steps.collect();
    quote! {
        impl #name {
            /// Inference on a batch of `B` samples.
            pub fn forward<const B: usize>(&self, x: &#input) -> #output {
                let mut y: #output = ::gradflow::nn::memory::zeroed();
                self.forward_into(x, &mut y);
                y
            }

            /// Inference on a batch of `B` samples, overwriting `y`.
            pub fn forward_into<const B: usize>(&self, x: &#input, y: &mut #output) {
                #(#steps)*
            }

            /// The index of the largest output of each sample (the first one on ties; a NaN
            /// output never wins a comparison).
            pub fn predict<const B: usize>(&self, x: &#input) -> [usize; B] {
                let y = self.forward(x);
                let mut classes = [0usize; B];
                for (class, row) in classes.iter_mut().zip(y.iter()) {
                    let mut best = 0;
                    for (j, value) in row.iter().enumerate() {
                        if *value > row[best] {
                            best = j;
                        }
                    }
                    *class = best;
                }
                classes
            }
        }
    }
}

pub fn forward_train(cx: &Cx) -> proc_macro2::TokenStream {
    let (name, t, cache) = (cx.name, cx.t(), &cx.cache);
    let bounds = &cx.training_bounds;
    let (input, output) = (cx.input_batch(), cx.output_batch());
    let mut prev = quote!(cache.input);
    let steps: Vec<_> = cx
        .layers()
        .iter()
        .map(|layer| {
            let (field, out) = (&layer.field, out_field(layer));
            let layer_cache = if layer.has_cache() {
                let c = cache_field(layer);
                quote!(&mut cache.#c)
            } else {
                quote!(&mut ())
            };
            let x = std::mem::replace(&mut prev, quote!(cache.#out));
            let x = at_inputs(layer, quote!(&#x));
            let y = at_outputs(layer, quote!(&mut cache.#out));
            let path = quote!(::gradflow::nn::Forward::<#t>::forward_train);
            let call = call(layer, path, quote!(&mut self.#field, #x, #y, #layer_cache));
            quote!(#call;)
        })
        .collect();
    quote! {
        impl #name {
            /// Training-mode forward pass: keeps the input and every activation in `cache`
            /// for [`Self::backward`], and returns the output, which lives in `cache`.
            pub fn forward_train<'c, const B: usize>(
                &mut self,
                x: &#input,
                cache: &'c mut #cache<B>,
            ) -> &'c #output #bounds {
                cache.input = *x;
                #(#steps)*
                &#prev
            }
        }
    }
}
