//! The network's associated consts: widths, parameter counts and the layer table.

use super::{lit, Cx};
use crate::model::{Layer, LayerKind};
use quote::{quote, ToTokens};

pub fn consts(cx: &Cx) -> proc_macro2::TokenStream {
    let forward_bounds = &cx.forward_bounds;
    let (name, t) = (cx.name, cx.t());
    // The batches whose cache sizes `train_scratch_bytes` starts from: 0 to 15.
    let residues = (0..16usize).map(lit);
    let (input, output) = (
        lit(cx.model.input.elements()),
        lit(cx.model.output().elements()),
    );
    // A loop over an array rather than `a + b + c + ..`: a chain of thousands of `+` is an
    // expression thousands deep, which overflows rustc's stack.
    let sum = |terms: Vec<proc_macro2::TokenStream>| {
        let n = lit(terms.len());
        quote!({
            const TERMS: [::core::primitive::usize; #n] = [#(#terms),*];
            let mut total: ::core::primitive::usize = 0;
            let mut i = 0;
            while i < #n {
                total += TERMS[i];
                i += 1;
            }
            total
        })
    };
    let stored = |layer: &Layer| {
        let ty = cx.layer_type(layer);
        quote!(<#ty as ::gradflow::nn::Forward<#t>>::PARAM_COUNT)
    };
    let param_count = sum(cx
        .layers()
        .iter()
        .filter(|l| l.has_tensors())
        .map(stored)
        .collect());
    // Running statistics and a standardizer's fitted values are stored but not trained; a
    // layer of the user's says how much of it is trained.
    let trainable = |layer: &Layer| match layer.kind {
        LayerKind::BatchNorm => Some(lit(2 * layer.outputs.channels()).into_token_stream()),
        LayerKind::Standardize => None,
        LayerKind::User { .. } => {
            let ty = cx.layer_type(layer);
            Some(quote!(<#ty as ::gradflow::nn::Forward<#t>>::TRAINABLE_PARAM_COUNT))
        }
        _ => Some(stored(layer)),
    };
    let trainable_count = sum(cx
        .layers()
        .iter()
        .filter(|l| l.has_tensors() && !l.frozen)
        .filter_map(trainable)
        .collect());
    // `forward`'s local buffers, which the layers' outputs (all but the last, written into
    // the caller's `y`) share as their lifetimes allow.
    let (_, rows) = super::forward::inference_buffers(cx.layers());
    let scratch = lit(rows.iter().sum());
    let cache = &cx.cache;
    let infos = cx.layers().iter().map(|layer| {
        let field = layer.field.to_string();
        let kind = layer.kind_name();
        let (index, inputs, outputs) = (
            lit(layer.index),
            lit(layer.inputs.elements()),
            lit(layer.outputs.elements()),
        );
        let frozen = layer.frozen;
        let params = if layer.has_tensors() {
            stored(layer)
        } else {
            quote!(0)
        };
        let input_shape = match layer.inputs {
            crate::model::Shape::Flat(n) => vec![n],
            crate::model::Shape::Seq { c, l } => vec![l, c],
            crate::model::Shape::Image { c, h, w } => vec![h, w, c],
        }
        .into_iter()
        .map(lit);
        let source = match layer.source {
            crate::model::Source::Input => quote!(::core::option::Option::None),
            crate::model::Source::Layer(k) => {
                let k = lit(k);
                quote!(::core::option::Option::Some(#k))
            }
        };
        quote! {
            ::gradflow::nn::LayerInfo {
                name: #field,
                kind: #kind,
                index: #index,
                inputs: #inputs,
                input_shape: &[#(#input_shape),*],
                source: #source,
                outputs: #outputs,
                frozen: #frozen,
                params: #params,
            }
        }
    });
    quote! {
        // Without the user layers' bounds (`Cx::forward_bounds`), which the array lengths of
        // `write_le_bytes`' signature (`Self::PARAM_BYTES`) could not see. For a type that is
        // not a layer, `<Type as Forward<T>>::PARAM_COUNT` is then an error on the type, the
        // same as `declared`'s check, so rustc reports it once.
        impl #name {
            /// Number of scalars in one input sample.
            pub const INPUT: ::core::primitive::usize = #input;
            /// Number of scalars in one output sample.
            pub const OUTPUT: ::core::primitive::usize = #output;
            /// Number of stored scalars: trainable and frozen parameters and running statistics.
            pub const PARAM_COUNT: ::core::primitive::usize = #param_count;
            /// Number of scalars the optimizer updates: the parameters of unfrozen layers, not
            /// counting batchnorm's running statistics or a standardizer's mean and deviation.
            /// A layer of your own counts with its `Forward::TRAINABLE_PARAM_COUNT` (by
            /// default all of its `PARAM_COUNT`).
            pub const TRAINABLE_PARAM_COUNT: ::core::primitive::usize = #trainable_count;
            /// Size of the stored scalars in bytes: `PARAM_COUNT * size_of::<T>()`.
            pub const PARAM_BYTES: ::core::primitive::usize = Self::PARAM_COUNT * ::core::mem::size_of::<#t>();
            /// Every layer in order, with its field name, kind and widths.
            pub const LAYERS: &'static [::gradflow::nn::LayerInfo] = &[#(#infos),*];
            /// Bytes of activations that inference keeps at batch 1: the local buffers of
            /// [`Self::forward`], which the layers' outputs (all but the last) share, an output
            /// living from its layer to its last reader; as many buffers as outputs are live at
            /// once, each as long as the longest output it holds. Add the input and output
            /// samples for the whole working set.
            pub const INFER_SCRATCH_BYTES: ::core::primitive::usize =
                #scratch * ::core::mem::size_of::<#t>();

            /// Bytes of activations that inference keeps at batch `batch`: every buffer of
            /// [`Self::forward`] holds the whole batch, so `batch * INFER_SCRATCH_BYTES`. The
            /// input and the returned output (`batch` samples each) come on top, and so does
            /// the stack frame of the calls themselves (about 0.5 KiB on a Cortex-M4F).
            /// A size beyond `usize::MAX` reads `usize::MAX`, so a budget check stays false.
            pub const fn infer_scratch_bytes(batch: ::core::primitive::usize) -> ::core::primitive::usize {
                batch.saturating_mul(Self::INFER_SCRATCH_BYTES)
            }
        }

        impl #name #forward_bounds {
            /// Bytes of the training cache for a batch of `batch` samples: the size of
            /// the cache type at that batch (exact when every element of the cache is 4 or 8
            /// bytes wide, as in every built-in layer). A training step also needs
            /// the gradients (`TRAINABLE_PARAM_COUNT * size_of::<T>()` bytes), the loss
            /// gradient (`batch * OUTPUT * size_of::<T>()`) and the optimizer's state.
            /// A size beyond `usize::MAX` reads `usize::MAX`, so a budget check stays false.
            pub const fn train_scratch_bytes(batch: ::core::primitive::usize) -> ::core::primitive::usize {
                // Every buffer in the cache is an array over the batch, plus fixed parts
                // (per-feature statistics, the `filled` flag): its unpadded size is
                // `fixed + batch * per_sample`, and the type's size is that rounded up to its
                // alignment (a 64-byte cache line on x86_64 and aarch64, at most 8
                // elsewhere). Elements of 4 bytes and more make `per_sample` a multiple of 4,
                // so 16 samples add a multiple of 64 bytes, and no padding: the size at
                // `batch` is the size at `batch % 16` and `batch / 16` times what 16 take.
                let sizes = [#(::core::mem::size_of::<#cache<#residues>>()),*];
                let sixteen = ::core::mem::size_of::<#cache<17>>() - ::core::mem::size_of::<#cache<1>>();
                (batch / 16).saturating_mul(sixteen).saturating_add(sizes[batch % 16])
            }
        }
    }
}
