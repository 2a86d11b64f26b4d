//! Parsing, shape inference and every error message, on token streams built with `quote!`.

use super::check;
use crate::ast::Network;
use crate::attr::{Activation, Initializer};
use crate::model::{LayerKind, Model};
use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

fn model(tokens: TokenStream) -> Model {
    let net: Network = syn::parse2(tokens).expect("parses");
    match check(&net) {
        Ok(model) => model,
        Err(e) => panic!("unexpected errors: {:?}", messages(e)),
    }
}

fn messages(error: syn::Error) -> Vec<String> {
    error.into_iter().map(|e| e.to_string()).collect()
}

/// The errors from parsing or checking `tokens`.
fn errors(tokens: TokenStream) -> Vec<String> {
    match syn::parse2::<Network>(tokens) {
        Err(e) => messages(e),
        Ok(net) => match check(&net) {
            Ok(_) => panic!("expected errors"),
            Err(e) => messages(e),
        },
    }
}

/// (field, inputs, outputs) of every layer.
fn shapes(model: &Model) -> Vec<(String, usize, usize)> {
    model
        .layers
        .iter()
        .map(|l| {
            (
                l.field.to_string(),
                l.inputs.elements(),
                l.outputs.elements(),
            )
        })
        .collect()
}

fn s(field: &str, inputs: usize, outputs: usize) -> (String, usize, usize) {
    (field.to_string(), inputs, outputs)
}

#[test]
fn infers_widths_and_names_fields() {
    let m = model(quote! {
        /// Docs are kept.
        pub struct Mlp<f32> {
            input 64,
            dense 128 [he_init, relu],
            tanh,
            layer my_mod::Scale (128 -> 32) [frozen],
            dense 10,
        }
    });
    assert_eq!(m.name.to_string(), "Mlp");
    assert_eq!(m.attrs.len(), 1);
    assert_eq!(m.input.elements(), 64);
    assert_eq!(m.output().elements(), 10);
    assert_eq!(
        shapes(&m),
        [
            s("dense_0", 64, 128),
            s("relu_0", 128, 128),
            s("tanh_1", 128, 128),
            s("layer_2", 128, 32),
            s("dense_3", 32, 10),
        ]
    );
    let indices: Vec<_> = m.layers.iter().map(|l| l.index).collect();
    assert_eq!(indices, [0, 0, 1, 2, 3]);
    assert!(m.layers[3].frozen);
    assert!(!m.layers[3].has_grads());
    assert_eq!(m.layers[3].kind_name(), "my_mod::Scale");
}

#[test]
fn unrolls_nested_repeats() {
    let m = model(quote! {
        struct Deep<f64> {
            input 8,
            repeat 2 {
                dense 16 [relu],
                repeat 2 { dense 4, },
            },
            sigmoid
        }
    });
    let fields: Vec<_> = m.layers.iter().map(|l| l.field.to_string()).collect();
    assert_eq!(
        fields,
        [
            "dense_0",
            "relu_0",
            "dense_1",
            "dense_2",
            "dense_3",
            "relu_3",
            "dense_4",
            "dense_5",
            "sigmoid_6"
        ]
    );
    assert_eq!(m.layers[3].inputs.elements(), 4);
    assert_eq!(m.layers[4].inputs.elements(), 4);
    assert_eq!(m.output().elements(), 4);
}

#[test]
fn reads_attributes_with_defaults() {
    let m = model(quote! {
        struct N<f32> { input 2, dense 3, dense 4 [frozen, gelu, lecun_normal], dense 1 [he_init] }
    });
    let inits: Vec<_> = m
        .layers
        .iter()
        .filter_map(|l| match l.kind {
            LayerKind::Dense { init } => Some(init),
            _ => None,
        })
        .collect();
    assert_eq!(
        inits,
        [
            Initializer::XavierUniform,
            Initializer::LecunNormal,
            Initializer::HeNormal
        ]
    );
    assert!(m.layers[1].frozen);
    assert!(matches!(
        m.layers[2].kind,
        LayerKind::Activation(Activation::Gelu)
    ));
    assert!(
        !m.layers[2].frozen,
        "an activation has no parameters to freeze"
    );
}

#[test]
fn parses_generic_user_layer_types() {
    let m = model(quote! {
        struct N<f32> { input 4, layer crate::Scale<f32, 4> (4 -> 4), dense 2 }
    });
    assert_eq!(m.layers[0].kind_name(), "crate::Scale<f32,4>");
    assert_eq!(m.layers[1].inputs.elements(), 4);
}

#[test]
fn reports_a_user_layer_width_mismatch_naming_both_widths() {
    let e = errors(quote! {
        struct N<f32> { input 10, dense 64, layer Scale (100 -> 100), dense 2 }
    });
    assert_eq!(
        e,
        ["layer 1 (`Scale`) is declared for 100 inputs, but the layer before it (dense 64) outputs 64"]
    );
    let e = errors(quote! { struct N<f32> { input 10, layer Scale (100 -> 100) } });
    assert_eq!(
        e,
        ["layer 0 (`Scale`) is declared for 100 inputs, but the network's input (input 10) has width 10"]
    );
}

#[test]
fn reports_a_mismatch_inside_repeat_once() {
    let e = errors(quote! {
        struct N<f32> { input 64, repeat 3 { layer Up (64 -> 128) } }
    });
    assert_eq!(
        e,
        ["layer 1 (`Up`) is declared for 64 inputs, but the layer before it (layer `Up`) outputs 128"]
    );
}

#[test]
fn two_names_of_one_initializer_are_reported_as_a_repeat_not_a_conflict() {
    let e = errors(quote! {
        struct N<f32> {
            input 4,
            dense 8 [he_init, he_normal],
            dense 8 [xavier_uniform, xavier_init],
            dense 8 [he_int, ReLU],
        }
    });
    assert_eq!(
        e[..2],
        [
            "`he_normal` repeats `he_init`: they are two names of one initializer; give it once",
            "`xavier_init` repeats `xavier_uniform`: they are two names of one initializer; give \
             it once",
        ]
    );
    assert!(
        e[2].starts_with(
            "unknown attribute `he_int` on a dense layer; did you mean `he_init`? valid"
        ),
        "{e:#?}"
    );
    assert!(
        e[3].starts_with("unknown attribute `ReLU` on a dense layer; did you mean `relu`? valid"),
        "{e:#?}"
    );
    assert_eq!(e.len(), 4, "{e:#?}");
}

#[test]
fn reports_attribute_errors_once_and_all_together() {
    let e = errors(quote! {
        struct N<f32> {
            input 4,
            repeat 2 { dense 8 [relux] },
            dense 8 [he_init, xavier_init],
            dense 8 [relu, tanh, frozen, frozen],
            dense 8 [relu, relu],
            layer L (8 -> 8) [relu],
        }
    });
    assert_eq!(e.len(), 6, "{e:#?}");
    assert_eq!(
        e[0],
        "unknown attribute `relux` on a dense layer; did you mean `relu`? valid attributes are: he_init, he_normal, \
         he_uniform, xavier_init, xavier_normal, xavier_uniform, lecun_normal, standard_init, \
         zeros, small_normal, unit_normal, relu, leaky_relu, sigmoid, tanh, gelu, identity, \
         batchnorm, frozen"
    );
    assert_eq!(
        e[1],
        "`xavier_init` conflicts with `he_init`: a layer takes one initializer"
    );
    assert_eq!(
        e[2],
        "`tanh` conflicts with `relu`: a layer takes one activation"
    );
    assert_eq!(e[3], "`frozen` is given twice");
    assert_eq!(e[4], "`relu` is given twice");
    assert!(e[5].starts_with(
        "unknown attribute `relu` on a `layer` item; the only valid attribute is: frozen"
    ));
}

#[test]
fn reports_zero_counts_and_widths() {
    let e = errors(quote! {
        struct N<f32> { input 0, repeat 0 { dense 0 }, layer L (0 -> 3), repeat 1 {} }
    });
    assert_eq!(
        e,
        [
            "the input needs a width of at least 1",
            "`repeat 0` would remove these layers; the count must be at least 1",
            "a dense layer needs a width of at least 1",
            "a layer's widths must be at least 1",
            "`repeat` needs at least one layer inside its braces",
        ]
    );
}

#[test]
fn reports_input_errors() {
    let missing =
        "a network's first item is `input N`, the width of one input sample, like `input 64`";
    assert_eq!(errors(quote! { struct N<f32> { dense 4 } }), [missing]);
    assert_eq!(
        errors(quote! { struct N<f32> { dense 4, input 3 } }),
        ["`input` must be the first item of the network"]
    );
    assert_eq!(
        errors(quote! { struct N<f32> { input 3, dense 4, input 3 } }),
        ["`input` is given twice: a network has exactly one input, and it comes first"]
    );
    assert_eq!(
        errors(quote! { struct N<f32> { input 3, } }),
        ["the network has no layers after `input`; add at least one, like `dense 10`"]
    );
}

#[test]
fn derives_only_clone_debug_and_partial_eq() {
    let m = model(quote! {
        #[derive(Clone, Debug)]
        #[derive(PartialEq, core::fmt::Debug)]
        struct N<f32> { input 3, dense 1 }
    });
    assert_eq!(m.attrs.len(), 2);
    let e = errors(quote! {
        #[derive(Clone, Copy, Default, Hash, serde::Serialize)]
        struct N<f32> { input 3, dense 1 }
    });
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e[1].contains("`N::new(&mut rng)` gives an initialized network"),
        "{e:?}"
    );
    for (e, name) in e
        .iter()
        .zip(["Copy", "Default", "Hash", "serde::Serialize"])
    {
        assert!(
            e.starts_with(&format!("`network!` does not derive `{name}`: ")),
            "{e}"
        );
        assert!(e.ends_with("it derives `Clone`, `Debug`, `PartialEq`, for the network and its gradients struct"), "{e}");
    }
    // A trait that only shares a name with the standard one is not derived.
    let e = errors(
        quote! { #[derive(fake::Clone, std::clone::Clone)] struct N<f32> { input 3, dense 1 } },
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("`network!` does not derive `fake::Clone`: a trait of that name is derived only as the standard library's"), "{e:?}");
    // A derive that does not parse is reported as such.
    let e = errors(quote! { #[derive(Clone Debug)] struct N<f32> { input 3, dense 1 } });
    assert_eq!(e.len(), 1, "{e:?}");
}

/// `#[doc(hidden)]` and `#[allow(..)]` on a network reach its gradients and cache structs;
/// doc comments and other lint levels stay the network's.
#[test]
fn hidden_and_allow_attributes_reach_the_generated_structs() {
    let m = model(quote! {
        /// A network.
        #[doc(hidden)]
        #[allow(clippy::pedantic)]
        #[deny(missing_docs)]
        struct N<f32> { input 3, dense 1 }
    });
    let shared: Vec<String> = super::shared_attributes(&m.attrs)
        .iter()
        .map(|a| a.to_token_stream().to_string())
        .collect();
    assert_eq!(
        shared,
        ["# [doc (hidden)]", "# [allow (clippy :: pedantic)]"]
    );
    let expansion = crate::expand::expand(&m).to_string();
    // The network's own, then the gradients' and the cache's.
    assert_eq!(
        expansion.matches("# [doc (hidden)]").count(),
        3,
        "{expansion}"
    );
    let allowed = expansion.matches("# [allow (clippy :: pedantic)]").count();
    assert_eq!(allowed, 3, "{expansion}");
    assert_eq!(
        expansion.matches("# [deny (missing_docs)]").count(),
        1,
        "{expansion}"
    );
}

#[test]
fn reports_every_syntax_error() {
    let e = errors(quote! {
        struct N<f32> { input 3, desne 4, dense 4.5, dense x, dense 4u8, tanh [relu] }
    });
    assert_eq!(e.len(), 5, "{e:#?}");
    assert_eq!(
        e[0],
        "unknown item `desne`; did you mean `dense`? expected one of: dense, conv2d, conv1d, maxpool, avgpool, \
         global_avg_pool, flatten, layer, repeat, residual, batchnorm, standardize, relu, \
         leaky_relu, sigmoid, tanh, gelu, identity"
    );
    assert_eq!(e[1], "a width is a whole number of at least 1, found `4.5`");
    assert!(e[2].starts_with("a width is a whole number written out, like `64`: `network!` works out every shape while it expands, before a constant such as `x` has a value"), "{e:?}");
    assert_eq!(e[3], "write the width without a suffix: `4`");
    assert!(e[4].starts_with("a standalone `tanh` takes no attributes"));
}

/// A shape written as text (`4x4`, `8x8x3`) is told how to write it in brackets.
#[test]
fn a_shape_written_with_x_is_told_the_bracket_form() {
    let e = errors(quote! { struct N<f32> { input 4x4, dense 2 } });
    assert_eq!(
        e,
        [
            "a width is one whole number, not `4x4`: a shape is written in brackets, \
          `input [H, W, C]` for an image (here `input [4, 4, 1]` for one channel) and \
          `input [L, C]` for a sequence"
        ]
    );
    let e = errors(quote! { struct N<f32> { input 8x8x3, dense 2 } });
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("(here `input [8, 8, 3]`)"), "{e:?}");
    // Other suffixes keep their message.
    let e = errors(quote! { struct N<f32> { input 4, dense 4x, dense 2 } });
    assert_eq!(e, ["write the width without a suffix: `4`"]);
}

/// Attributes in parentheses or in two lists, and an activation after a `repeat` block, are
/// told how to write them rather than "expected `,`".
#[test]
fn misplaced_attribute_lists_say_how_to_write_them() {
    let cases = [
        (
            quote! { struct N<f32> { input 4, dense 8 (relu), dense 2 } },
            "a layer's attributes go in brackets: `dense 8 [batchnorm, relu]`",
        ),
        (
            quote! { struct N<f32> { input 4, dense 8 [relu] [batchnorm], dense 2 } },
            "a layer takes one list of attributes: `dense 8 [batchnorm, relu]`",
        ),
        (
            quote! { struct N<f32> { input 4, repeat 2 { dense 4 } relu, dense 2 } },
            "`repeat` takes no activation after its block (only `residual` does)",
        ),
        (
            quote! { struct N<f32> { input 4, conv2d 4 k3 (relu), dense 2 } },
            "a layer's attributes go in brackets: `conv2d 16 k3 same [batchnorm, relu]`",
        ),
        (
            quote! { struct N<f32> { input 4, batchnorm [frozen] [frozen], dense 2 } },
            "a layer takes one list of attributes: `batchnorm [frozen]`",
        ),
        (
            quote! { struct N<f32> { input 4, layer S (4 -> 4) (frozen), dense 2 } },
            "a layer's attributes go in brackets: `layer my::Scale (64 -> 64) [frozen]`",
        ),
        // A repeat of one item: what follows is that item's, as after the item alone.
        (
            quote! { struct N<f32> { input 4, repeat 2 dense 4 relu, dense 2 } },
            "attributes go in brackets after the layer: write `[relu]`",
        ),
    ];
    for (net, expected) in cases {
        let e = errors(net);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with(expected), "{e:?}");
    }
}

/// A second network in one call is told to go in a call of its own.
#[test]
fn a_second_network_in_one_call_is_named_as_such() {
    for net in [
        quote! { pub struct A<f32> { input 4, dense 2 } pub struct B<f32> { input 4, dense 2 } },
        quote! { struct A<f32> { input 4, dense 2 } struct B<f32> { input 4, dense 2 } },
        quote! { struct A<f32> { input 4, dense 2 } #[derive(Clone)] struct B<f32> { input 4, dense 2 } },
    ] {
        let e = errors(net);
        assert_eq!(
            e,
            ["one network per `network!` call: write this one in a `network! { .. }` of its own"]
        );
    }
    for net in [
        quote! { struct A<f32> { input 4, dense 2 }; },
        quote! { struct A<f32> { input 4, dense 2 } #[doc = " trailing"] },
    ] {
        let e = errors(net);
        assert_eq!(e, ["unexpected tokens after the network's `{ ... }` body"]);
    }
}

/// Widths a user might write as Rust (a constant, arithmetic, a tuple shape) are each told
/// that a width is a number written out, not "expected `,`".
#[test]
fn widths_written_as_rust_expressions_say_what_a_width_is() {
    let e = errors(quote! { struct N<f32> { input 4, dense HIDDEN [relu], dense 2 } });
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("before a constant such as `HIDDEN` has a value; write the number"),
        "{e:?}"
    );
    let e = errors(quote! { struct N<f32> { input 4, repeat crate::DEPTH { dense 4 }, dense 2 } });
    assert!(
        e[0].starts_with("a count is a whole number written out")
            && e[0].contains("`crate::DEPTH`"),
        "{e:?}"
    );
    for net in [
        quote! { struct N<f32> { input 4, dense 2 * 8 [relu], dense 2 } },
        quote! { struct N<f32> { input 4, dense 16 + 1, dense 2 } },
        quote! { struct N<f32> { input 4, dense 16 - 1, dense 2 } },
    ] {
        let e = errors(net);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("a width is one whole number: `network!` does not evaluate"),
            "{e:?}"
        );
    }
    let e = errors(quote! { struct N<f32> { input (8, 8, 1), flatten, dense 2 } });
    assert!(
        e[0].starts_with("a shape is written in brackets: `input [8, 8, 1]` (an image)"),
        "{e:?}"
    );
    // The macro's own words, Rust keywords and literals where a number belongs are not
    // taken for constants; nor is a parenthesised width elsewhere taken for an input shape.
    for net in [
        quote! { struct N<f32> { input 4, repeat residual { dense 4 }, dense 2 } },
        quote! { struct N<f32> { input 4, dense relu, dense 2 } },
        quote! { struct N<f32> { input 4, conv2d k3 4, dense 2 } },
        quote! { struct N<f32> { input 4, dense _, dense 2 } },
        quote! { struct N<f32> { input 4, dense fn, dense 2 } },
        quote! { struct N<f32> { input 4, dense (8), dense 2 } },
    ] {
        let e = errors(net);
        assert!(e[0].starts_with("expected a "), "{e:?}");
        assert!(
            !e[0].contains("constant") && !e[0].contains("brackets"),
            "{e:?}"
        );
    }
    let e = errors(quote! { struct N<f32> { input 4, dense true, dense 2 } });
    assert_eq!(
        e[0],
        "a width is a whole number of at least 1, found `true`"
    );
}

#[test]
fn input_is_offered_only_as_the_first_item() {
    // First: a misspelt `input` is suggested, and listed.
    let e = errors(quote! { struct N<f32> { inptu 3, dense 4 } });
    assert!(
        e[0].starts_with(
            "unknown item `inptu`; did you mean `input`? expected one of: input, dense,"
        ),
        "{e:?}"
    );
    // Later, in a block or after `repeat`, `input` is neither suggested nor listed.
    for net in [
        quote! { struct N<f32> { input 3, inptu 4 } },
        quote! { struct N<f32> { input 3, residual { inptu 3 } } },
        quote! { struct N<f32> { input 3, repeat 2 inptu 3 } },
    ] {
        let e = errors(net);
        assert!(
            e[0].starts_with("unknown item `inptu`; expected one of: dense,"),
            "{e:?}"
        );
    }
    let e = errors(quote! { struct N<f32> { input 3, 5 } });
    assert!(e[0].starts_with("expected an item: one of dense,"), "{e:?}");
}

#[test]
fn reports_negative_widths_and_counts() {
    let e = errors(quote! {
        struct N<f32> { input -3, dense -2 [relu], layer L (-1 -> 3), repeat -4 { dense 2 } }
    });
    assert_eq!(
        e,
        [
            "a width is a whole number of at least 1, found `-3`",
            "a width is a whole number of at least 1, found `-2`",
            "a width is a whole number of at least 1, found `-1`",
            "a count is a whole number of at least 1, found `-4`",
        ]
    );
}

#[test]
fn reports_numbers_too_large_for_a_usize_as_such() {
    let e = errors(quote! {
        struct N<f32> { input 4, dense 99999999999999999999999, repeat 99999999999999999999999 { dense 2 } }
    });
    assert_eq!(
        e,
        [
            "a width of 99999999999999999999999 is too large: it must fit a usize",
            "a count of 99999999999999999999999 is too large: it must fit a usize",
        ]
    );
}

#[test]
fn requires_f32_or_f64_elements() {
    let m = model(quote! { struct N<f64> { input 3, dense 4 } });
    assert_eq!(
        m.elem.to_token_stream().to_string(),
        ":: core :: primitive :: f64"
    );
    // A trailing comma, as in any generic argument list.
    let m = model(quote! { struct N<f32,> { input 3, dense 4 } });
    assert_eq!(
        m.elem.to_token_stream().to_string(),
        ":: core :: primitive :: f32"
    );
    for (elem, found) in [(quote!(f32,,), "f32,,"), (quote!(f32, f64), "f32,f64")] {
        assert_eq!(
            errors(quote! { struct N<#elem> { input 3, dense 4 } }),
            [format!(
                "the element type must be f32 or f64, found `{found}`: a network takes no \
                 other generic parameters"
            )]
        );
    }
    for (elem, found) in [
        (quote!(i32), "i32"),
        (quote!(T), "T"),
        (quote!(Vec<f32>), "Vec<f32>"),
        (quote!(::core::primitive::f32), "::core::primitive::f32"),
    ] {
        assert_eq!(
            errors(quote! { struct N<#elem> { input 3, dense 4 } }),
            [format!(
                "the element type must be f32 or f64, found `{found}`"
            )]
        );
    }
}

#[test]
fn requires_commas_and_an_element_type() {
    assert_eq!(
        errors(quote! { struct N<f32> { input 3 dense 4 } }),
        ["expected `,` between items"]
    );
    assert_eq!(
        errors(quote! { struct N { input 3, dense 4 } }),
        ["expected the element type after the network's name, like `N<f32>`"]
    );
    assert_eq!(
        errors(quote! { struct N<f32> { input 3, layer Scale, dense 4 } }),
        ["expected the layer's widths after its type, like `layer my_mod::Scale (64 -> 64)`"]
    );
}

/// (field, kind, index, inputs, outputs) of every layer.
fn table(model: &Model) -> Vec<(String, String, usize, usize, usize)> {
    model
        .layers
        .iter()
        .map(|l| {
            let (field, kind) = (l.field.to_string(), l.kind_name().to_string());
            (
                field,
                kind,
                l.index,
                l.inputs.elements(),
                l.outputs.elements(),
            )
        })
        .collect()
}

fn row(
    f: &str,
    k: &str,
    i: usize,
    inp: usize,
    out: usize,
) -> (String, String, usize, usize, usize) {
    (f.to_string(), k.to_string(), i, inp, out)
}

#[test]
fn batchnorm_sits_between_the_linear_map_and_the_activation() {
    let m = model(quote! {
        struct N<f32> {
            input 4,
            standardize,
            dense 8 [relu, batchnorm, he_init],
            batchnorm [frozen],
            dense 2 [batchnorm, frozen],
        }
    });
    assert_eq!(
        table(&m),
        [
            row("standardize_0", "standardize", 0, 4, 4),
            row("dense_1", "dense", 1, 4, 8),
            row("batchnorm_1", "batchnorm", 1, 8, 8),
            row("relu_1", "relu", 1, 8, 8),
            row("batchnorm_2", "batchnorm", 2, 8, 8),
            row("dense_3", "dense", 3, 8, 2),
            row("batchnorm_3", "batchnorm", 3, 2, 2),
        ]
    );
    let frozen: Vec<_> = m.layers.iter().map(|l| l.frozen).collect();
    assert_eq!(frozen, [false, false, false, false, true, true, true]);
    let grads: Vec<_> = m.layers.iter().map(|l| l.has_grads()).collect();
    assert_eq!(grads, [false, true, true, false, false, false, false]);
    let caches: Vec<_> = m.layers.iter().map(|l| l.has_cache()).collect();
    assert_eq!(caches, [true, false, true, false, true, false, true]);
}

#[test]
fn residual_blocks_take_their_index_after_their_body() {
    let m = model(quote! {
        struct N<f32> {
            input 4,
            residual { dense 4 [relu], dense 4 } relu,
            residual(project) { dense 6 [tanh] },
            dense 2,
        }
    });
    assert_eq!(
        table(&m),
        [
            row("dense_0", "dense", 0, 4, 4),
            row("relu_0", "relu", 0, 4, 4),
            row("dense_1", "dense", 1, 4, 4),
            row("residual_2", "residual", 2, 4, 4),
            row("relu_2", "relu", 2, 4, 4),
            row("dense_3", "dense", 3, 4, 6),
            row("tanh_3", "tanh", 3, 6, 6),
            row("residual_4", "residual(project)", 4, 4, 6),
            row("dense_5", "dense", 5, 6, 2),
        ]
    );
    let sources: Vec<_> = m.layers.iter().map(|l| l.source).collect();
    use crate::model::Source::{Input, Layer};
    assert_eq!(
        sources,
        [
            Input,
            Layer(0),
            Layer(1),
            Input,
            Layer(3),
            Layer(4),
            Layer(5),
            Layer(4),
            Layer(7)
        ]
    );
    assert!(matches!(
        m.layers[3].kind,
        LayerKind::Residual {
            project: false,
            first: 0,
            body: 2,
            ..
        }
    ));
    assert!(matches!(
        m.layers[7].kind,
        LayerKind::Residual {
            project: true,
            first: 5,
            body: 6,
            ..
        }
    ));
    // The identity add has no field and no gradients; the projection has both.
    assert!(!m.layers[3].has_field() && !m.layers[3].has_grads());
    assert!(m.layers[7].has_field() && m.layers[7].has_grads());
    // Each body's last output shares its block's gradient.
    use crate::model::GradientAt;
    assert_eq!(m.gradient_at(2), GradientAt::Layer(3));
    assert_eq!(m.gradient_at(6), GradientAt::Layer(7));
    assert_eq!(m.gradient_at(8), GradientAt::Output);
    assert_eq!(m.blocks_starting_at(0).collect::<Vec<_>>(), [3]);
}

#[test]
fn residual_blocks_nest_and_repeat_one_item() {
    let m = model(quote! {
        struct N<f64> {
            input 3,
            repeat 2 residual {
                residual { dense 3 },
                repeat 2 dense 3 [tanh],
            } relu,
        }
    });
    let fields: Vec<_> = m.layers.iter().map(|l| l.field.to_string()).collect();
    assert_eq!(
        fields,
        [
            "dense_0",
            "residual_1",
            "dense_2",
            "tanh_2",
            "dense_3",
            "tanh_3",
            "residual_4",
            "relu_4",
            "dense_5",
            "residual_6",
            "dense_7",
            "tanh_7",
            "dense_8",
            "tanh_8",
            "residual_9",
            "relu_9"
        ]
    );
    // Both blocks of a repetition start at the same layer; the inner add is visited first.
    assert_eq!(m.blocks_starting_at(0).collect::<Vec<_>>(), [1, 6]);
    assert_eq!(m.blocks_starting_at(8).collect::<Vec<_>>(), [9, 14]);
    // The inner body's last output shares the inner add's gradient; the outer one's, the
    // outer add's; the last add feeds the final relu.
    use crate::model::GradientAt;
    assert_eq!(m.gradient_at(0), GradientAt::Layer(1));
    assert_eq!(m.gradient_at(5), GradientAt::Layer(6));
    assert_eq!(m.gradient_at(15), GradientAt::Output);
}

#[test]
fn a_body_ending_in_a_block_shares_the_outer_gradient() {
    let m = model(quote! {
        struct N<f64> { input 2, residual { dense 2, residual { dense 2 } } }
    });
    let fields: Vec<_> = m.layers.iter().map(|l| l.field.to_string()).collect();
    assert_eq!(fields, ["dense_0", "dense_1", "residual_2", "residual_3"]);
    use crate::model::GradientAt;
    assert_eq!(m.gradient_at(1), GradientAt::Output);
    assert_eq!(m.gradient_at(2), GradientAt::Output);
    assert_eq!(m.gradient_at(0), GradientAt::Layer(0));
}

#[test]
fn reports_residual_errors() {
    let e = errors(quote! {
        struct N<f32> {
            input 128,
            dense 128,
            repeat 3 residual { dense 64 [relu] },
            residual(projection) { dense 8 },
            residual(project, project) { dense 8 },
            residual {},
            dense 2 [batchnorm, batchnorm],
            batchnorm [relu],
        }
    });
    assert_eq!(
        e,
        [
            "the residual block at item 2 adds its input (128) to its body's output (64); use \
             `residual(project) { .. }` for a learned projection, or make the body end at width 128",
            "unknown option `projection` for a residual block; the only option is `project`: a \
             learned skip connection (a dense layer on flat inputs, a 1x1 convolution on images \
             and sequences)",
            "`project` is given twice",
            "a residual block needs at least one layer inside its braces, like \
             `residual { dense 64 [relu], dense 64 }`",
            "`batchnorm` is given twice",
            "unknown attribute `relu` on a `batchnorm` item; the only valid attribute is: frozen",
        ]
    );
}

/// A nested identity block whose body disagrees is one error: the block whose body ends with
/// it does not report the same mistake again. The layers after it see the body's shape (what
/// `residual(project)`, the suggested fix, gives), so they report only mistakes of their own.
#[test]
fn a_mismatched_inner_block_is_reported_once() {
    let once = [
        quote! { struct N<f32> {
            input 4,
            repeat 3 residual { dense 4 [relu], residual { dense 5 } } relu,
            dense 2,
        } },
        quote! { struct N<f32> { input 4, residual { dense 8, residual { dense 4 } relu }, dense 2 } },
        quote! { struct N<f32> { input 4, residual { dense 5 }, residual { dense 5 }, dense 2 } },
        quote! { struct N<f32> { input 4, residual { dense 5 }, layer S (5 -> 5), dense 2 } },
    ];
    for net in once {
        let e = errors(net);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("adds its input"), "{e:?}");
    }
    // A later mistake of its own is still reported: block 3's input is block 2's body's 5.
    let e = errors(quote! {
        struct N<f32> { input 4, residual { dense 5 }, residual { dense 3 }, dense 2 }
    });
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[1].starts_with(
            "the residual block at item 3 adds its input (5) to its body's output (3)"
        ),
        "{e:?}"
    );
}

#[test]
fn reports_residual_syntax_errors() {
    let e = errors(quote! {
        struct N<f32> {
            input 4,
            residual dense 4,
            residual { dense 4 } relux,
            residual { dense 4 } relu relu,
            repeat 2,
            standardize [frozen],
        }
    });
    assert_eq!(
        e,
        [
            "expected `{ ... }` with the block's layers, like `residual { dense 64 [relu], dense 64 }`",
            "expected an activation after the residual block's `}` (relu, leaky_relu, sigmoid, \
             tanh, gelu, identity), or `,`",
            "expected `,` between items",
            "expected `{ ... }` with the layers to repeat, or one item, like \
             `repeat 2 { dense 64 [relu] }` or `repeat 2 residual { .. }`",
            "`standardize` takes no attributes: it has no trainable parameters; fit it with \
             `net.standardize_K.fit(&samples)`",
        ]
    );
}

#[test]
fn infers_feature_map_shapes() {
    use crate::model::Shape::{Flat, Image, Seq};
    let m = model(quote! {
        struct Cnn<f32> {
            input [12, 12, 3],
            conv2d 8 k3 s2 same [batchnorm, relu],
            residual(project) { conv2d 16 k3 s2 same, conv2d 16 k3 same },
            avgpool k3 s1,
            flatten,
            dense 4,
        }
    });
    let shapes: Vec<_> = m
        .layers
        .iter()
        .map(|l| (l.field.to_string(), l.outputs))
        .collect();
    let image = |c, h, w| Image { c, h, w };
    assert_eq!(
        shapes,
        [
            ("conv2d_0".to_string(), image(8, 6, 6)),
            ("batchnorm_0".to_string(), image(8, 6, 6)),
            ("relu_0".to_string(), image(8, 6, 6)),
            ("conv2d_1".to_string(), image(16, 3, 3)),
            ("conv2d_2".to_string(), image(16, 3, 3)),
            ("residual_3".to_string(), image(16, 3, 3)),
            ("avgpool_4".to_string(), image(16, 1, 1)),
            ("flatten_5".to_string(), Flat(16)),
            ("dense_6".to_string(), Flat(4)),
        ]
    );
    // The projection maps 6x6 onto 3x3: a 1x1 convolution with stride 2.
    assert!(matches!(
        m.layers[5].kind,
        LayerKind::Residual { stride: 2, .. }
    ));
    assert_eq!(m.layers[5].kind_name(), "residual(project)");
    let m = model(quote! {
        struct Seq1<f64> { input [12, 2], conv1d 4 k5 same, maxpool 2, global_avg_pool }
    });
    assert_eq!(m.input, Seq { c: 2, l: 12 });
    assert_eq!(m.layers[1].outputs, Seq { c: 4, l: 6 });
    assert_eq!(m.output(), Flat(4));
}

#[test]
fn shapes_read_in_the_order_of_the_channels_last_array() {
    use crate::model::Shape::{Image, Seq};
    let m = model(quote! {
        struct N<f32> { input [12, 10, 3], conv2d 4 k3, global_avg_pool }
    });
    assert_eq!(m.input, Image { c: 3, h: 12, w: 10 });
    assert_eq!(m.input.dims(), [12, 10, 3]);
    assert_eq!(m.input.type_args(), [3, 12, 10]);
    assert_eq!(m.layers[0].outputs, Image { c: 4, h: 10, w: 8 });
    let m = model(quote! { struct N<f32> { input [9, 2], conv1d 4 k3, flatten } });
    assert_eq!(m.input, Seq { c: 2, l: 9 });
    assert_eq!(m.layers[0].outputs.to_string(), "[7, 4]");
    assert_eq!(
        errors(quote! { struct N<f32> { input [12, 10, 3], conv2d 4 k3, dense 2 } }),
        [
            "dense needs a flat input; the layer before it (conv2d 4) outputs [10, 8, 4]: add \
          `flatten` or `global_avg_pool`"
        ]
    );
}

/// `depth` nested `residual` blocks around `dense 4`.
fn nested_residuals(depth: usize) -> TokenStream {
    (0..depth).fold(quote!(dense 4), |body, _| quote!(residual { #body }))
}

#[test]
fn limits_nesting() {
    let deepest = nested_residuals(crate::ast::MAX_NESTING);
    let m = model(quote! { struct N<f32> { input 4, #deepest, dense 2 } });
    assert_eq!(m.layers.len(), 2 + crate::ast::MAX_NESTING);
    let too_deep = nested_residuals(crate::ast::MAX_NESTING + 1);
    assert_eq!(
        errors(quote! { struct N<f32> { input 4, #too_deep, dense 2 } }),
        [
            "`residual` and `repeat` blocks nest at most 64 deep, and this `residual` is block 65 \
          of its nest"
        ]
    );
    // `repeat N ITEM` nests too, and a thousand levels are an error, not a stack overflow.
    let repeats = (0..1000).fold(quote!(dense 4), |body, _| quote!(repeat 1 #body));
    assert_eq!(
        errors(quote! { struct N<f32> { input 4, #repeats, dense 2 } }),
        [
            "`residual` and `repeat` blocks nest at most 64 deep, and this `repeat` is block 65 \
          of its nest"
        ]
    );
}

#[test]
fn limits_items_after_unrolling() {
    // 1 + 511 items: exactly the limit.
    let m = model(quote! { struct N<f32> { input 4, dense 4, repeat 511 { dense 4 [relu] } } });
    assert_eq!(
        m.layers.last().map(|l| l.index),
        Some(crate::ast::MAX_ITEMS - 1)
    );
    assert_eq!(
        errors(quote! { struct N<f32> { input 4, dense 4, repeat 256 { dense 4, relu } } }),
        [
            "`repeat 256` would unroll the network to more than 512 items, the most a network \
          may have (1 before it, 2 in each copy)"
        ]
    );
    // A residual block's add is an item; the innermost count that goes past is reported.
    assert_eq!(
        errors(quote! {
            struct N<f32> { input 4, repeat 2 { repeat 256 residual { dense 4 } } }
        }),
        [
            "`repeat 2` would unroll the network to more than 512 items, the most a network \
          may have (0 before it, 512 in each copy)"
        ]
    );
    assert_eq!(
        errors(quote! {
            struct N<f32> { input 4, repeat 100000 { repeat 100000 { dense 4 } }, dense 2 }
        }),
        [
            "`repeat 100000` would unroll the network to more than 512 items, the most a network \
          may have (0 before it, 1 in each copy)"
        ]
    );
    // The items' own errors are still reported, once.
    assert_eq!(
        errors(quote! {
            struct N<f32> { input 4, repeat 18446744073709551615 { dense 4 [relux] } }
        }),
        [
            "`repeat 18446744073709551615` would unroll the network to more than 512 items, \
             the most a network may have (0 before it, 1 in each copy)",
            "unknown attribute `relux` on a dense layer; did you mean `relu`? valid attributes are: he_init, \
             he_normal, he_uniform, xavier_init, xavier_normal, xavier_uniform, lecun_normal, \
             standard_init, zeros, small_normal, unit_normal, relu, leaky_relu, sigmoid, tanh, \
             gelu, identity, batchnorm, frozen",
        ]
    );
}

#[test]
fn accepts_only_doc_lint_and_derive_attributes() {
    let m = model(quote! {
        /// Docs.
        #[doc(hidden)]
        #[allow(dead_code)]
        #[warn(missing_docs)]
        #[deny(unused)]
        #[forbid(unsafe_code)]
        #[expect(clippy::all)]
        struct N<f32> { input 3, dense 1 }
    });
    assert_eq!(m.attrs.len(), 7);
    for (attr, name) in [
        (quote!(#[cfg(any())]), "cfg"),
        (quote!(#[cfg_attr(all(), derive(Clone))]), "cfg_attr"),
        (quote!(#[repr(packed)]), "repr"),
        (quote!(#[::core::prelude::v1::derive(Clone)]), "derive"),
        (
            quote!(#[core::prelude::v1::allow(dead_code)]),
            "core::prelude::v1::allow",
        ),
    ] {
        let e = errors(quote! { #attr struct N<f32> { input 3, dense 1 } });
        assert_eq!(e.len(), 1, "{e:?}");
        // A derive written as a path is refused like any other attribute: only `#[derive]`
        // itself is checked trait by trait.
        let name = if name == "derive" {
            "::core::prelude::v1::derive"
        } else {
            name
        };
        let expected = format!("`network!` does not accept `#[{name}]` on the network");
        assert!(e[0].starts_with(&expected), "{e:?}");
        assert!(
            e[0].contains(
                "only doc comments, `#[derive(..)]` of `Clone`, `Debug`, `PartialEq` and the lint \
                 attributes `#[allow(..)]`"
            ),
            "{e:?}"
        );
    }
}

#[test]
fn reports_a_network_too_large_for_one_value() {
    // 2^29 x 2^29 weights: 2^60 bytes in f32, so the second layer passes 2^61.
    assert_eq!(
        errors(quote! { struct N<f32> { input 536870912, repeat 9 { dense 536870912 } } }),
        [
            "with layer 1 (dense_1), the network's parameters take 2305843013508661248 bytes, \
          more than one value can hold (rustc's limit is 2^61 bytes on 64-bit targets)"
        ]
    );
    // One layer under the limit in f32 is fine, and twice that in f64 is not.
    let m = model(quote! { struct N<f32> { input 536870912, dense 536870911 } });
    assert_eq!(m.layers.len(), 1);
    assert_eq!(
        errors(quote! { struct N<f64> { input 536870912, dense 536870912 } }).len(),
        1
    );
    // One sample's training cache: the input's 2^42 bytes, then four buffers of the
    // convolution's 2^57 outputs, 2^61 bytes.
    assert_eq!(
        errors(quote! {
            struct N<f32> { input [1048576, 1048576, 1], conv2d 131072 k1, global_avg_pool, dense 2 }
        }),
        [
            "with layer 0 (conv2d_0), the training cache of one sample may take \
          2305847407260205056 bytes (outputs, gradients and layer caches), more than one value \
          can hold (rustc's limit is 2^61 bytes on 64-bit targets)"
        ]
    );
    // Layers without parameters count too: their outputs and gradients are in the cache
    // (this one passed the check and then failed inside `core::mem`).
    let e = errors(quote! { struct N<f32> { input 144115188075855872, relu, relu, dense 1 } });
    assert!(
        e.len() == 1 && e[0].starts_with("with layer 0 (relu_0), the training cache of one sample"),
        "{e:?}"
    );
    // An input whose element count overflows is reported on the input, before `flatten`
    // multiplies its sides (which panicked in the macro).
    assert_eq!(
        errors(quote! { struct N<f32> { input [4294967296, 4294967296, 2], flatten, dense 2 } }),
        [
            "one input sample ([4294967296, 4294967296, 2]) takes more than 2^64 bytes, more than \
          one value can hold (rustc's limit is 2^61 bytes on 64-bit targets)"
        ]
    );
}

#[test]
fn explains_malformed_attributes_and_items() {
    let e = errors(quote! {
        struct N<f32> {
            input 4,
            #[doc = " An item takes no doc comment."]
            dense 8 [relu],
            dense 8 [42],
            dense 8 [gradflow::relu],
            dense 8 [he_init relu],
            residual(project = true) { dense 8 },
            batchnorm frozen frozen,
            42,
            conv2d 4 k3 same valid,
        }
    });
    assert_eq!(
        e,
        [
            "an item takes no doc comment or attribute: use a `//` comment here, or document \
             the network with `///` above its `struct`",
            "attributes are bare names, like `[he_init, relu]`; found `42`",
            "attributes are bare names, like `[he_init, relu]`; found `gradflow::relu`",
            "expected `,` between attributes, like `[he_init, relu]`",
            "options are bare names, like `residual(project)`; found `project=true`",
            "attributes go in brackets after the layer: write `[frozen]`",
            "expected an item: one of dense, conv2d, conv1d, maxpool, avgpool, \
             global_avg_pool, flatten, layer, repeat, residual, batchnorm, standardize, relu, \
             leaky_relu, sigmoid, tanh, gelu, identity",
            "the padding is given twice: `conv2d` takes one of `same`, `valid`",
        ]
    );
}

/// The bracket hint names only attributes the item would take: `batchnorm` and `layer` take
/// `frozen` alone, so `batchnorm relu` is not told to write `[relu]` (which it would refuse).
#[test]
fn the_bracket_hint_offers_only_the_items_own_attributes() {
    for net in [
        quote! { struct N<f32> { input 4, dense 4, batchnorm relu, dense 2 } },
        quote! { struct N<f32> { input 4, layer my::Id (4 -> 4) relu, dense 2 } },
    ] {
        let e = errors(net);
        assert!(
            !e.is_empty() && e.iter().all(|e| !e.contains("write `[relu]`")),
            "{e:?}"
        );
    }
    let e = errors(quote! { struct N<f32> { input 4, dense 4 relu, dense 2 } });
    assert_eq!(
        e,
        ["attributes go in brackets after the layer: write `[relu]`"]
    );
}

#[test]
fn check_errors_together() {
    // Two independent semantic errors in one network, in different items: both are
    // reported, in source order, not just the first.
    let e = errors(quote! {
        struct N<f32> {
            input 4,
            dense 8 [relux],
            dense 0,
        }
    });
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("unknown attribute `relux` on a dense layer"),
        "{e:#?}"
    );
    assert_eq!(e[1], "a dense layer needs a width of at least 1");
}

#[test]
fn parse_errors_do_not_hide_check_errors() {
    // An item that does not parse is reported with the check errors of the items that do;
    // the layers after it are not checked against its (unknown) output.
    let e = errors(quote! {
        struct N<f32> {
            input 4,
            desne 8,
            dense 8 [he_init, xavier_init],
            layer L (3 -> 3),
            repeat 0 { dense 2 },
        }
    });
    assert_eq!(
        e,
        [
            "unknown item `desne`; did you mean `dense`? expected one of: dense, conv2d, conv1d, maxpool, \
             avgpool, global_avg_pool, flatten, layer, repeat, residual, batchnorm, \
             standardize, relu, leaky_relu, sigmoid, tanh, gelu, identity",
            "`xavier_init` conflicts with `he_init`: a layer takes one initializer",
            "layer 2 (`L`) is declared for 3 inputs, but the layer before it (dense 8) outputs 8",
            "`repeat 0` would remove these layers; the count must be at least 1",
        ]
    );
    // A first item that does not parse may have been the `input`: no error about a
    // missing one, and none about a network without layers.
    assert_eq!(
        errors(quote! { struct N<f32> { input 4.5, dense 0 } }),
        [
            "a width is a whole number of at least 1, found `4.5`",
            "a dense layer needs a width of at least 1",
        ]
    );
    assert_eq!(
        errors(quote! { struct N<f32> { input 4, dense 4.5 } }),
        ["a width is a whole number of at least 1, found `4.5`"]
    );
}

#[test]
fn parse_errors_inside_blocks_do_not_hide_the_other_errors_there() {
    let e = errors(quote! {
        struct N<f32> {
            input 4,
            residual { dense 4 [relux], desne 4, dense 0 },
            repeat 3 { dense 4 [he_init, xavier_init], desne 4 },
            dense 0,
        }
    });
    let short: Vec<_> = e.iter().map(|m| m.split(';').next().unwrap()).collect();
    assert_eq!(
        short,
        [
            "unknown attribute `relux` on a dense layer",
            "unknown item `desne`",
            "a dense layer needs a width of at least 1",
            "`xavier_init` conflicts with `he_init`: a layer takes one initializer",
            "unknown item `desne`",
            "a dense layer needs a width of at least 1",
        ],
        "{e:#?}"
    );
}

#[test]
fn an_overflowing_flatten_is_blamed_on_the_layer_that_makes_it() {
    let e = errors(quote! {
        struct N<f32> {
            input [8, 8, 1],
            conv2d 300000000000000000 k1,
            flatten,
            dense 2,
        }
    });
    assert_eq!(
        e,
        [
            "with layer 0 (conv2d_0), the network's parameters take 2400000000000000000 bytes, \
             more than one value can hold (rustc's limit is 2^61 bytes on 64-bit targets)",
            "with layer 0 (conv2d_0), the training cache of one sample may take more than 2^64 \
             bytes (outputs, gradients and layer caches), more than one value can hold (rustc's \
             limit is 2^61 bytes on 64-bit targets)",
        ]
    );
}

#[test]
fn misplaced_options_and_a_missing_angle_bracket_say_where_they_go() {
    assert_eq!(
        errors(
            quote! { struct N<f32> { input [8, 8, 1], conv2d 4 k3 [relu] same, flatten, dense 2 } }
        ),
        [
            "a convolution's options (kernel, stride, padding) come before its attributes: \
             write `same` before the `[..]`, like `conv2d 16 k3 same [relu]`"
        ]
    );
    assert_eq!(
        errors(
            quote! { struct N<f32> { input [8, 8, 1], conv2d 4 k3 [relu] s2, flatten, dense 2 } }
        ),
        [
            "a convolution's options (kernel, stride, padding) come before its attributes: \
             write `s2` before the `[..]`, like `conv2d 16 k3 same [relu]`"
        ]
    );
    assert_eq!(
        errors(quote! { struct N<f32> { input 4, residual [project] { dense 2 }, dense 2 } }),
        ["a residual block's options go in parentheses: `residual(project) { .. }`"]
    );
    assert_eq!(
        errors(quote! { struct N<f32 { input 4, dense 2 } }),
        ["expected `>` after the element type, like `Net<f32> { .. }`"]
    );
}
