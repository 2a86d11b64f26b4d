//! Visitors: `visit_params` walks every trainable tensor with its gradient and optimizer
//! state; `visit_tensors` / `visit_tensors_mut` walk every stored tensor. Each layer's own
//! visitor is called with a closure that stamps the layer's field name on what it visits.
//! `visit_activations` walks the outputs kept in a training cache, and `visit_output_grads`
//! the gradients back-propagated to them, for diagnostics.

use super::{grad_field, out_field, Cx};
use crate::model::{GradientAt, LayerKind};
use quote::quote;

pub fn activations(cx: &Cx) -> proc_macro2::TokenStream {
    let forward_bounds = &cx.forward_bounds;
    let (name, t, cache) = (cx.name, cx.t(), &cx.cache);
    let view = |layer: &crate::model::Layer, buffer: &proc_macro2::Ident| {
        let label = layer.field.to_string();
        let kind = match layer.kind {
            LayerKind::Residual { .. } => quote!("residual"),
            _ => {
                let ty = cx.layer_type(layer);
                quote!(<#ty as ::gradflow::nn::Forward<#t>>::KIND)
            }
        };
        let width = super::lit(layer.outputs.elements());
        let units = super::lit(layer.outputs.channels());
        let values = super::scalars(&super::in_cache(buffer), layer.outputs);
        quote! {
            f(::gradflow::nn::Activations {
                layer: #label,
                kind: #kind,
                width: #width,
                units: #units,
                values: #values,
            });
        }
    };
    let steps = cx
        .layers()
        .iter()
        .map(|layer| view(layer, &out_field(layer)));
    // Only layers that own a gradient buffer: the last layer's gradient is the caller's
    // `dy`, and a residual body's last layer shares its block's.
    let grad_steps = cx
        .layers()
        .iter()
        .enumerate()
        .filter(|(k, _)| cx.model.gradient_at(*k) == GradientAt::Layer(*k))
        .map(|(_, layer)| view(layer, &grad_field(layer)));
    let destructure = super::structs::destructure_cache(cx);
    quote! {
        impl #name #forward_bounds {
            /// Calls `f` with each layer's outputs from the last [`Self::forward_train`] that
            /// filled `cache`, in layer order (a residual block's add is `"residual"`).
            pub fn visit_activations<const B: ::core::primitive::usize>(
                cache: &#cache<{ B }>,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Activations<'_, #t>),
            ) {
                #destructure
                #(#steps)*
            }

            /// Calls `f` with the gradient of the loss with respect to each layer's outputs,
            /// as left in `cache` by the last [`Self::backward`], in layer order. The last
            /// layer (whose gradient is the caller's `dy`) and the last layer of each residual
            /// body (which shares its block's gradient) are not visited.
            pub fn visit_output_grads<const B: ::core::primitive::usize>(
                cache: &#cache<{ B }>,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Activations<'_, #t>),
            ) {
                let _ = (&cache, &f);
                #destructure
                #(#grad_steps)*
            }
        }
    }
}

pub fn visitors(cx: &Cx) -> proc_macro2::TokenStream {
    let forward_bounds = &cx.forward_bounds;
    let (name, t, grads) = (cx.name, cx.t(), &cx.grads);
    let bounds = &cx.training_bounds;
    let trainable: Vec<_> = cx.layers().iter().filter(|l| l.has_grads()).collect();
    let params_body = if trainable.is_empty() {
        quote!(let _ = (grads, states, f);)
    } else {
        // Each state split into its fields once, as the gradients are (see `in_grads`).
        let fields: Vec<_> = trainable.iter().map(|l| &l.field).collect();
        let locals: Vec<_> = fields
            .iter()
            .map(|f| quote::format_ident!("__state_{}", f))
            .collect();
        let split = super::structs::at_name(
            cx,
            quote! {
                let mut states = <[_; N]>::map(states, |#grads { #(#fields: #locals,)* }| (#(#locals,)*));
            },
        );
        let destructure = super::structs::destructure_grads(cx, quote!(#grads), quote!(grads));
        let steps = trainable.iter().enumerate().map(|(k, layer)| {
            let field = &layer.field;
            let label = field.to_string();
            let (g, k) = (super::in_grads(field), syn::Index::from(k));
            quote! {
                ::gradflow::nn::Trainable::<#t>::visit_params(
                    &mut self.#field,
                    &#g,
                    <[_; N]>::map(<[_; N]>::each_mut(&mut states), |state| &mut *state.#k),
                    &mut |mut param| {
                        param.layer = #label;
                        f(param);
                    },
                );
            }
        });
        quote!(#destructure #split #(#steps)*)
    };
    let with_tensors: Vec<_> = cx.layers().iter().filter(|l| l.has_tensors()).collect();
    // Each layer's visitor `method`, with a closure that stamps the layer's field name on
    // what it visits (a tensor or a setting) and, for a frozen layer's tensors, marks the
    // trainable ones frozen.
    let layer_steps =
        |method: proc_macro2::TokenStream, borrow: proc_macro2::TokenStream, tensors: bool| {
            if with_tensors.is_empty() {
                return quote!(let _ = f;);
            }
            let steps = with_tensors.iter().map(|layer| {
                let field = &layer.field;
                let label = field.to_string();
                let freeze = if layer.frozen && tensors {
                    quote! {
                        if item.kind == ::gradflow::nn::TensorKind::Trainable {
                            item.kind = ::gradflow::nn::TensorKind::Frozen;
                        }
                    }
                } else {
                    quote!()
                };
                quote! {
                    ::gradflow::nn::Forward::<#t>::#method(#borrow self.#field, &mut |mut item| {
                        item.layer = #label;
                        #freeze
                        f(item);
                    });
                }
            });
            quote!(#(#steps)*)
        };
    let visit = layer_steps(quote!(visit_tensors), quote!(&), true);
    let visit_mut = layer_steps(quote!(visit_tensors_mut), quote!(&mut), true);
    let settings = layer_steps(quote!(visit_settings), quote!(&), false);
    let settings_mut = layer_steps(quote!(visit_settings_mut), quote!(&mut), false);
    quote! {
        impl #name #forward_bounds {
            /// Calls `f` once per trainable tensor, in a fixed order, with the tensor, its
            /// gradient in `grads` and the matching part of each optimizer state in `states`.
            /// Frozen layers are not visited.
            pub fn visit_params<const N: ::core::primitive::usize>(
                &mut self,
                grads: &#grads,
                states: [&mut #grads; N],
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Param<'_, #t, { N }>),
            ) #bounds {
                #params_body
            }

            /// Calls `f` once per stored tensor (parameters of every layer, frozen ones marked
            /// [`TensorKind::Frozen`](::gradflow::nn::TensorKind::Frozen)), in a fixed order.
            pub fn visit_tensors(&self, f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Tensor<'_, #t>)) {
                #visit
            }

            /// Like [`Self::visit_tensors`], with mutable access.
            pub fn visit_tensors_mut(
                &mut self,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::TensorMut<'_, #t>),
            ) {
                #visit_mut
            }

            /// Calls `f` once per setting of a layer (a batchnorm's `eps` and `momentum`: not
            /// learned, but part of what the network computes), in layer order.
            pub fn visit_settings(&self, f: &mut dyn ::core::ops::FnMut(::gradflow::nn::Setting<#t>)) {
                #settings
            }

            /// Like [`Self::visit_settings`], with mutable access and what each setting admits.
            pub fn visit_settings_mut(
                &mut self,
                f: &mut dyn ::core::ops::FnMut(::gradflow::nn::SettingMut<'_, #t>),
            ) {
                #settings_mut
            }
        }
    }
}
