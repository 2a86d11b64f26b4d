//! The `gradflow::nn` trait impls, each delegating to the inherent method of the same name,
//! so generic training loops, optimizers and diagnostics work with every generated network.

use super::Cx;
use quote::quote;

pub fn trait_impls(cx: &Cx) -> proc_macro2::TokenStream {
    let (name, t, grads, cache) = (cx.name, cx.t(), &cx.grads, &cx.cache);
    let (forward_bounds, bounds) = (&cx.forward_bounds, &cx.all_bounds);
    let (input, output) = (cx.sample(cx.model.input), cx.sample(cx.model.output()));
    let input_scalars = super::scalars(&quote!(cache.input), cx.model.input);
    quote! {
        impl ::gradflow::nn::Network<#t> for #name #forward_bounds {
            type Input = #input;
            type Output = #output;
            const INPUT: ::core::primitive::usize = #name::INPUT;
            const OUTPUT: ::core::primitive::usize = #name::OUTPUT;
            const PARAM_COUNT: ::core::primitive::usize = #name::PARAM_COUNT;
            const PARAM_BYTES: ::core::primitive::usize = #name::PARAM_BYTES;
            const TRAINABLE_PARAM_COUNT: ::core::primitive::usize = #name::TRAINABLE_PARAM_COUNT;
            const LAYERS: &'static [::gradflow::nn::LayerInfo] = #name::LAYERS;

            fn forward_into<const B: ::core::primitive::usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
                #name::forward_into(self, x, y);
            }

            fn visit_tensors(&self, f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Tensor<'_, #t>)) {
                #name::visit_tensors(self, f);
            }

            fn visit_tensors_mut(
                &mut self,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::TensorMut<'_, #t>),
            ) {
                #name::visit_tensors_mut(self, f);
            }

            fn visit_settings(&self, f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Setting<#t>)) {
                #name::visit_settings(self, f);
            }

            fn visit_settings_mut(
                &mut self,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::SettingMut<'_, #t>),
            ) {
                #name::visit_settings_mut(self, f);
            }
        }

        impl ::gradflow::nn::Trainable<#t> for #name #bounds {
            type Grads = #grads;

            fn visit_params<const N: ::core::primitive::usize>(
                &mut self,
                grads: &Self::Grads,
                states: [&mut Self::Grads; N],
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Param<'_, #t, { N }>),
            ) {
                #name::visit_params(self, grads, states, f);
            }
        }

        impl ::gradflow::nn::TrainableNetwork<#t> for #name #bounds {
            type Cache<const B: ::core::primitive::usize> = #cache<{ B }>;

            fn forward_train<'c, const B: ::core::primitive::usize>(
                &mut self,
                x: &[Self::Input; B],
                cache: &'c mut Self::Cache<{ B }>,
            ) -> &'c [Self::Output; B] {
                #name::forward_train(self, x, cache)
            }

            fn backward_into<const B: ::core::primitive::usize>(
                &self,
                cache: &mut Self::Cache<{ B }>,
                dy: &[Self::Output; B],
                dx: ::core::option::Option<&mut [Self::Input; B]>,
                grads: &mut Self::Grads,
            ) {
                #name::backward_into(self, cache, dy, dx, grads);
            }

            fn zero_grads(grads: &mut Self::Grads) {
                #grads::zero(grads);
            }

            fn visit_activations<const B: ::core::primitive::usize>(
                cache: &Self::Cache<{ B }>,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Activations<'_, #t>),
            ) {
                #name::visit_activations(cache, f);
            }

            fn visit_output_grads<const B: ::core::primitive::usize>(
                cache: &Self::Cache<{ B }>,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Activations<'_, #t>),
            ) {
                #name::visit_output_grads(cache, f);
            }

            fn cache_filled<const B: ::core::primitive::usize>(cache: &Self::Cache<{ B }>) -> ::core::primitive::bool {
                cache.filled
            }

            fn cached_input<const B: ::core::primitive::usize>(cache: &Self::Cache<{ B }>) -> &[#t] {
                #input_scalars
            }
        }
    }
}
