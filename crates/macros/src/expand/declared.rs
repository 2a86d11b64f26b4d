//! What `check` cannot see: that a user layer's type implements `Forward` at all, and with
//! the widths its `layer Type (IN -> OUT)` declares. One item per user layer requires its
//! `(Input, Output)` to be the declared arrays, so a type that is not a layer is one error on
//! the type, and a disagreement one error on the user's declaration naming both shapes,
//! before any use of the layer.
//!
//! The other generated items assume these bounds (`Cx::forward_bounds`), so their bodies add
//! no errors of their own; each use of the network in the user's code reports the bound it
//! misses.

use super::{lit, respan, Cx};
use crate::model::LayerKind;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

pub fn user_layer_widths(cx: &Cx) -> TokenStream {
    let t = cx.t();
    let elem = cx.elem_name();
    let checks = cx.layers().iter().filter_map(|layer| {
        let LayerKind::User {
            ty, name, widths, ..
        } = &layer.kind
        else {
            return None;
        };
        let (inputs, outputs) = (layer.inputs.elements(), layer.outputs.elements());
        let (inputs_lit, outputs_lit) = (lit(inputs), lit(outputs));
        let message = format!(
            "layer {} (`{name}`) is declared ({} -> {}), but its `Forward<{elem}>` impl has \
             `(Input, Output)` = `{{Self}}`",
            layer.index, inputs, outputs
        );
        let label = format!(
            "declared as `(Input, Output)` = `([{elem}; {}], [{elem}; {}])`",
            inputs, outputs
        );
        let note = format!(
            "change the widths declared here or `{name}`'s `Forward::Input` and \
             `Forward::Output` so that they agree"
        );
        // Named after the network and the layer: the user's type is resolved inside this
        // block, where a common name could be shadowed by the trait, and rustc's notes about
        // "similarly named" traits would otherwise name another network's check.
        let declared_trait = format_ident!("{}Layer{}DeclaredWidths", cx.name, layer.index);
        // On the declared widths, all but the user's type, which keeps its own span: a type
        // that does not resolve is then reported once, on its name, not again here.
        let at = Span::call_site().located_at(*widths);
        let (t_at, trait_at) = (
            respan(quote!(#t), *widths),
            respan(quote!(#declared_trait), *widths),
        );
        let forward = quote_spanned!(at=> ::gradflow::nn::Forward<#t_at>);
        let declared = quote_spanned!(at=> (<#ty as #forward>::Input, <#ty as #forward>::Output));
        Some(quote! {
            const _: () = {
                #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
                trait #declared_trait {}
                // Not listed in the error ("the trait is implemented for ..."): the label
                // already names the declared shapes.
                #[diagnostic::do_not_recommend]
                impl #declared_trait for ([#t; #inputs_lit], [#t; #outputs_lit]) {}

                fn declared_widths<L: #trait_at>() {}
                // Checked where it is written. For a type that is not a layer at all, the
                // projections are the error, on the type: the same error as the consts'
                // `<Type as Forward<T>>::PARAM_COUNT`, which rustc then reports once.
                let _ = declared_widths::<#declared>;
            };
        })
    });
    quote!(#(#checks)*)
}
