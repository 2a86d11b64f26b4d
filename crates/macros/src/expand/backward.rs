//! The backward pass: from the loss gradient `dy`, each layer in reverse order adds its
//! parameter gradients into the network's grads and writes the gradient of its input into
//! the cache (or, for the first layer, into the caller's `dx` when asked).

use super::{at_inputs, at_outputs, cache_field, call, grad_field, out_field, Cx};
use quote::quote;

pub fn backward(cx: &Cx) -> proc_macro2::TokenStream {
    let (name, t, cache, grads) = (cx.name, cx.t(), &cx.cache, &cx.grads);
    let bounds = &cx.training_bounds;
    let (input, output) = (cx.input_batch(), cx.output_batch());
    let layers = cx.layers();
    let last = layers.len() - 1;
    let steps: Vec<_> = layers
        .iter()
        .enumerate()
        .rev()
        .map(|(k, layer)| {
            let field = &layer.field;
            let out = out_field(layer);
            let (x, dx) = if k == 0 {
                (quote!(&cache.input), quote!(dx))
            } else {
                let before = &layers[k - 1];
                let (out, grad) = (out_field(before), grad_field(before));
                (
                    quote!(&cache.#out),
                    quote!(::core::option::Option::Some(&mut cache.#grad)),
                )
            };
            let dy = if k == last {
                quote!(dy)
            } else {
                let grad = grad_field(layer);
                quote!(&cache.#grad)
            };
            let layer_cache = if layer.has_cache() {
                let c = cache_field(layer);
                quote!(&cache.#c)
            } else {
                quote!(&())
            };
            let layer_grads = if layer.has_grads() {
                quote!(::core::option::Option::Some(&mut grads.#field))
            } else {
                quote!(::core::option::Option::None)
            };
            let (x, dx) = (at_inputs(layer, x), at_inputs(layer, dx));
            let (y, dy) = (
                at_outputs(layer, quote!(&cache.#out)),
                at_outputs(layer, dy),
            );
            let path = quote!(::gradflow::nn::Backward::<#t>::backward);
            let args = quote!(&self.#field, #x, #y, #layer_cache, #dy, #dx, #layer_grads);
            let call = call(layer, path, args);
            quote!(#call;)
        })
        .collect();
    let unused_grads = if layers.iter().any(|l| l.has_grads()) {
        quote!()
    } else {
        quote!(let _ = grads;)
    };
    let doc = format!(
        "Backward pass of the last [`Self::forward_train`], from the loss gradient `dy` with \
         respect to the output: adds every trainable parameter's gradient into `grads` (reset \
         them with [`{grads}::zero`] between steps)."
    );
    quote! {
        impl #name {
            #[doc = #doc]
            pub fn backward<const B: usize>(
                &self,
                cache: &mut #cache<B>,
                dy: &#output,
                grads: &mut #grads,
            ) #bounds {
                self.backward_into(cache, dy, ::core::option::Option::None, grads);
            }

            /// Like [`Self::backward`], and also writes the gradient of the loss with respect
            /// to the network's input into `dx`.
            pub fn backward_to_input<const B: usize>(
                &self,
                cache: &mut #cache<B>,
                dy: &#output,
                dx: &mut #input,
                grads: &mut #grads,
            ) #bounds {
                self.backward_into(cache, dy, ::core::option::Option::Some(dx), grads);
            }

            /// Like [`Self::backward`], writing the input gradient into `dx` when it is given.
            pub fn backward_into<const B: usize>(
                &self,
                cache: &mut #cache<B>,
                dy: &#output,
                dx: ::core::option::Option<&mut #input>,
                grads: &mut #grads,
            ) #bounds {
                #unused_grads
                #(#steps)*
            }
        }
    }
}
