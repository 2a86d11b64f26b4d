//! Constructors: a zeroed network, then each layer's initializer in order.

use super::Cx;
use crate::model::LayerKind;
use quote::{format_ident, quote};

pub fn constructors(cx: &Cx) -> proc_macro2::TokenStream {
    let forward_bounds = &cx.forward_bounds;
    let (name, t) = (cx.name, cx.t());
    let steps: Vec<_> = cx
        .layers()
        .iter()
        .filter_map(|layer| {
            let field = &layer.field;
            match &layer.kind {
                LayerKind::Dense { init } | LayerKind::Conv { init, .. } => {
                    let init = format_ident!("{}", init.variant());
                    let ty = cx.layer_type(layer);
                    Some(quote! {
                        <#ty>::init_with(&mut self.#field, ::gradflow::nn::Init::#init, rng);
                    })
                }
                LayerKind::Residual { project: true, .. } => {
                    let ty = cx.layer_type(layer);
                    Some(quote! {
                        <#ty>::init_with(
                            &mut self.#field,
                            ::gradflow::nn::Init::XavierUniform,
                            rng,
                        );
                    })
                }
                LayerKind::User { .. } | LayerKind::BatchNorm | LayerKind::Standardize => {
                    Some(quote! {
                        ::gradflow::nn::Forward::<#t>::init(&mut self.#field, rng);
                    })
                }
                LayerKind::Activation(_)
                | LayerKind::Pool { .. }
                | LayerKind::GlobalAvgPool
                | LayerKind::Flatten
                | LayerKind::Residual { project: false, .. } => None,
            }
        })
        .collect();
    let body = if steps.is_empty() {
        quote!(let _ = rng;)
    } else {
        quote!(#(#steps)*)
    };
    quote! {
        impl #name #forward_bounds {
            /// A network with freshly initialized parameters, built on the stack. For networks
            /// too big for the stack use [`Self::new_boxed`], or without a heap a `static`
            /// built by `gradflow::nn::memory::const_zeroed()` and [`Self::init`].
            pub fn new(mut rng: &mut (impl ::gradflow::__private::RngCore + ?::core::marker::Sized)) -> Self {
                let mut network: Self = ::gradflow::nn::memory::zeroed();
                Self::init(&mut network, &mut rng);
                network
            }

            ::gradflow::__if_alloc! {
                /// A network with freshly initialized parameters, allocated zeroed directly on
                /// the heap (never built on the stack).
                pub fn new_boxed(
                    mut rng: &mut (impl ::gradflow::__private::RngCore + ?::core::marker::Sized),
                ) -> ::gradflow::__private::Box<Self> {
                    let mut network: ::gradflow::__private::Box<Self> =
                        ::gradflow::nn::memory::zeroed_box();
                    Self::init(&mut *network, &mut rng);
                    network
                }
            }

            ::gradflow::__without_alloc! {
                /// Needs gradflow's `alloc` feature: without it, calling this is a compile
                /// error that says so; without a heap, build the network in a `static` with
                /// `const_zeroed()` and draw its parameters with [`Self::init`].
                pub fn new_boxed(
                    rng: &mut (impl ::gradflow::__private::RngCore + ?::core::marker::Sized),
                ) -> Self
                where
                    for<'a> (): ::gradflow::__private::NeedsAlloc,
                {
                    let _ = rng;
                    ::core::unreachable!()
                }
            }

            /// Draws fresh parameters for every layer, in order, each with its initializer;
            /// resets every batchnorm and makes every standardizer the identity again.
            pub fn init(&mut self, rng: &mut dyn ::gradflow::__private::RngCore) {
                #body
            }
        }
    }
}
