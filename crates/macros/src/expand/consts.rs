//! The network's associated consts: widths, parameter counts and the layer table.

use super::{lit, Cx};
use crate::model::Layer;
use quote::quote;

pub fn consts(cx: &Cx) -> proc_macro2::TokenStream {
    let (name, t) = (cx.name, cx.t());
    let (input, output) = (lit(cx.model.input), lit(cx.model.output()));
    let count = |keep: fn(&Layer) -> bool| {
        let terms: Vec<_> = cx
            .layers()
            .iter()
            .filter(|l| l.has_tensors() && keep(l))
            .map(|layer| {
                let ty = cx.layer_type(layer);
                quote!(<#ty as ::gradflow::nn::Forward<#t>>::PARAM_COUNT)
            })
            .collect();
        if terms.is_empty() {
            quote!(0)
        } else {
            quote!(#(#terms)+*)
        }
    };
    let param_count = count(|_| true);
    let trainable_count = count(|l| !l.frozen);
    let infos = cx.layers().iter().map(|layer| {
        let field = layer.field.to_string();
        let kind = layer.kind_name();
        let (index, inputs, outputs) = (lit(layer.index), lit(layer.inputs), lit(layer.outputs));
        let frozen = layer.frozen;
        quote! {
            ::gradflow::nn::LayerInfo {
                name: #field,
                kind: #kind,
                index: #index,
                inputs: #inputs,
                outputs: #outputs,
                frozen: #frozen,
            }
        }
    });
    quote! {
        impl #name {
            /// Width of one input sample.
            pub const INPUT: usize = #input;
            /// Width of one output sample.
            pub const OUTPUT: usize = #output;
            /// Number of stored scalars: trainable and frozen parameters and running statistics.
            pub const PARAM_COUNT: usize = #param_count;
            /// Number of scalars the optimizer updates (the parameters of unfrozen layers).
            pub const TRAINABLE_PARAM_COUNT: usize = #trainable_count;
            /// Size of the stored scalars in bytes: `PARAM_COUNT * size_of::<T>()`.
            pub const PARAM_BYTES: usize = Self::PARAM_COUNT * ::core::mem::size_of::<#t>();
            /// Every layer in order, with its field name, kind and widths.
            pub const LAYERS: &'static [::gradflow::nn::LayerInfo] = &[#(#infos),*];
        }
    }
}
