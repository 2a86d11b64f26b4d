//! The baked-weights methods: `write_le_bytes`, `to_le_bytes` and `load_le_bytes` for every
//! network (through `gradflow::nn::bytes`), and `const fn from_le_bytes`, which builds the
//! network at compile time (into a `static`) when every layer is built in.
//!
//! The layout is `gradflow::nn::bytes`'s: every stored tensor in `visit_tensors` order,
//! row-major, little-endian. `from_le_bytes` copies each layer's bytes out whole (swapping
//! each scalar's bytes on a big-endian target) and moves them into the layer with
//! `transmute`, whose size check makes a layer that is not exactly its stored scalars a
//! compile error.

use super::{lit, Cx};
use crate::model::LayerKind;
use quote::quote;

pub fn bytes(cx: &Cx) -> proc_macro2::TokenStream {
    let forward_bounds = &cx.forward_bounds;
    let (name, t) = (cx.name, cx.t());
    let bytes = quote!(&[::core::primitive::u8; Self::PARAM_BYTES]);
    let from_le_bytes = const_constructor(cx);
    quote! {
        impl #name #forward_bounds {
            /// Writes every stored tensor (parameters and running statistics) into `out`, in
            /// the baked-weights layout of [`gradflow::nn::bytes`](::gradflow::nn::bytes):
            /// `visit_tensors` order, row-major, little-endian.
            pub fn write_le_bytes(&self, out: &mut [::core::primitive::u8; Self::PARAM_BYTES]) {
                ::gradflow::nn::bytes::write_le_bytes::<#t, Self>(self, out);
            }

            ::gradflow::__if_alloc! {
                /// The baked-weights bytes (see [`Self::write_le_bytes`]) in a new vector.
                pub fn to_le_bytes(&self) -> ::gradflow::__private::Vec<::core::primitive::u8> {
                    ::gradflow::nn::bytes::to_le_bytes::<#t, Self>(self)
                }
            }

            ::gradflow::__without_alloc! {
                /// Needs gradflow's `alloc` feature: without it, calling this is a compile
                /// error that says so; [`Self::write_le_bytes`] fills an array instead.
                pub fn to_le_bytes(&self) -> [::core::primitive::u8; Self::PARAM_BYTES]
                where
                    for<'a> (): ::gradflow::__private::NeedsAlloc,
                {
                    ::core::unreachable!()
                }
            }

            /// Overwrites every stored tensor with the values in `bytes`, written by
            /// [`Self::write_le_bytes`]; state that is not stored (a batchnorm's `eps`) is kept,
            /// but a zeroed network's (`eps` 0) gets the defaults: see
            /// [`gradflow::nn::bytes::load_le_bytes`](::gradflow::nn::bytes::load_le_bytes).
            pub fn load_le_bytes(&mut self, bytes: #bytes) {
                ::gradflow::nn::bytes::load_le_bytes::<#t, Self>(self, bytes);
            }

            #from_le_bytes
        }
    }
}

/// `const fn from_le_bytes`, or nothing when a user layer's layout is unknown.
fn const_constructor(cx: &Cx) -> proc_macro2::TokenStream {
    if cx
        .layers()
        .iter()
        .any(|l| matches!(l.kind, LayerKind::User { .. }))
    {
        return quote!();
    }
    let t = cx.t();
    // `{ count * size_of::<T>() }`: the bytes of `count` scalars, as a const argument.
    let size_of =
        |count: proc_macro2::TokenStream| quote!({ (#count) * ::core::mem::size_of::<#t>() });
    // Whether any layer reads bytes: without one (a network of activations), `take` and
    // `offset` are left out rather than allowed to go unused, so that a crate that forbids
    // `dead_code` or `unused_mut` can use the macro.
    let reads = cx.layers().iter().any(|l| l.has_field() && l.has_tensors());
    let fields = cx.layers().iter().filter(|l| l.has_field()).map(|layer| {
        let (field, ty) = (&layer.field, cx.layer_type(layer));
        let value = if !layer.has_tensors() {
            // SAFETY: a layer without tensors (activation, pooling, flattening) is a
            // zero-sized `Zeroable` struct of markers.
            quote!(unsafe { ::core::mem::zeroed::<#ty>() })
        } else if let LayerKind::BatchNorm = layer.kind {
            // Four tensors of one scalar per channel, then the state that is not stored.
            let n = lit(layer.outputs.channels());
            let size = size_of(quote!(#n));
            let tensor = quote! {
                // SAFETY: as many bytes as the array has, and every bit pattern is a float.
                unsafe {
                    ::core::mem::transmute::<[::core::primitive::u8; #size], [#t; #n]>(
                        take::<#size>(bytes, &mut offset),
                    )
                }
            };
            // `BatchNorm1d` (over sequences) wraps a height-1 `BatchNorm2d`.
            let bn = match layer.outputs {
                crate::model::Shape::Seq { .. } => quote!(layer.0),
                _ => quote!(layer),
            };
            quote! {{
                // SAFETY: batchnorm layers are `Zeroable`; every field is set below.
                let mut layer: #ty = unsafe { ::core::mem::zeroed() };
                #bn.gamma = #tensor;
                #bn.beta = #tensor;
                #bn.running_mean = #tensor;
                #bn.running_var = #tensor;
                #bn.eps = ::gradflow::nn::batchnorm::DEFAULT_EPS as #t;
                #bn.momentum = ::gradflow::nn::batchnorm::DEFAULT_MOMENTUM as #t;
                layer
            }}
        } else {
            let size = size_of(quote!(<#ty as ::gradflow::nn::Forward<#t>>::PARAM_COUNT));
            // SAFETY: dense, convolution and standardization layers are `#[repr(C)]` structs
            // of arrays of `T` (no padding, every bit pattern valid) in their `visit_tensors`
            // order, and `transmute` checks at compile time that the sizes agree.
            quote! {
                unsafe {
                    ::core::mem::transmute::<[::core::primitive::u8; #size], #ty>(
                        take::<#size>(bytes, &mut offset),
                    )
                }
            }
        };
        quote!(#field: #value,)
    });
    let reader = reads.then(|| quote! {
        /// The next `N` bytes from `offset` on, advancing it, with each scalar's bytes
        /// put in the target's order (they are stored little-endian). Layers are copied
        /// whole: a loop over scalars would make big networks trip rustc's
        /// `long_running_const_eval` lint.
        const fn take<const N: ::core::primitive::usize>(
            bytes: &[::core::primitive::u8],
            offset: &mut ::core::primitive::usize,
        ) -> [::core::primitive::u8; N] {
            const SIZE: ::core::primitive::usize = ::core::mem::size_of::<#t>();
            let mut chunk = match <[::core::primitive::u8]>::first_chunk::<{ N }>(<[::core::primitive::u8]>::split_at(bytes, *offset).1) {
                ::core::option::Option::Some(chunk) => *chunk,
                ::core::option::Option::None => ::core::panic!("baked weights: too short"),
            };
            *offset += N;
            if ::core::cfg!(target_endian = "big") {
                let mut i = 0;
                while i < N {
                    let mut j = 0;
                    while j < SIZE / 2 {
                        let byte = chunk[i + j];
                        chunk[i + j] = chunk[i + SIZE - 1 - j];
                        chunk[i + SIZE - 1 - j] = byte;
                        j += 1;
                    }
                    i += SIZE;
                }
            }
            chunk
        }
        let mut offset: ::core::primitive::usize = 0;
    });
    // Without a reader, `bytes` is of length 0 and unread.
    let unread = (!reads).then(|| quote!(let _ = bytes;));
    quote! {
        /// The network whose stored tensors are `bytes` (written by [`Self::write_le_bytes`]),
        /// built at compile time when used in a `static` or `const`:
        /// `static NET: Net = Net::from_le_bytes(include_bytes!("net.bin"));` puts the
        /// weights in flash with no start-up cost, and a file of the wrong length is a type
        /// error (`expected &[u8; PARAM_BYTES]`). Batchnorm layers get the default `eps` and
        /// `momentum`. Not generated for networks with user layers (use
        /// [`Self::load_le_bytes`]).
        pub const fn from_le_bytes(bytes: &[::core::primitive::u8; Self::PARAM_BYTES]) -> Self {
            #reader
            #unread
            Self { #(#fields)* }
        }
    }
}
