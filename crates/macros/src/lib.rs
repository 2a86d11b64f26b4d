//! The `network!` macro of gradflow: parse -> check shapes -> expand.
//!
//! `parse` turns the input into the plain types of `ast`; `check` validates it, unrolls
//! `repeat` and infers every width, collecting all errors; `expand` writes code from the
//! checked `model` only. Users depend on the `gradflow` facade, which re-exports the macro;
//! the generated code names everything through `::gradflow`.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod model;
mod parse;

use proc_macro::TokenStream;
use quote::quote;

/// Declares a neural network whose shapes are known at compile time.
///
/// # Grammar
///
/// ```text
/// network! {
///     ATTRIBUTES                      // doc comments, #[allow(..)], ... (not #[derive])
///     VIS struct NAME<ELEMENT> {      // ELEMENT: f32 or f64
///         input WIDTH,                // exactly one, first
///         ITEM, ITEM, ...             // trailing comma optional
///     }
/// }
///
/// ITEM := dense WIDTH [DENSE_ATTR, ...]?      // fully connected layer, input width inferred
///       | ACTIVATION                          // standalone activation layer
///       | layer TYPE (WIDTH -> WIDTH) [frozen]?  // your own layer type, widths declared
///       | repeat COUNT { ITEM, ... }          // the items COUNT >= 1 times; nests
///
/// DENSE_ATTR := INITIALIZER | ACTIVATION | frozen       // at most one of each kind
/// INITIALIZER := he_init (= he_normal) | he_normal | he_uniform
///              | xavier_init (= xavier_uniform) | xavier_normal | xavier_uniform
///              | lecun_normal | standard_init (U(±1/sqrt(fan_in))) | zeros
///              | small_normal | unit_normal
/// ACTIVATION := relu | leaky_relu | sigmoid | tanh | gelu | identity
/// ```
///
/// A dense layer without an initializer uses `xavier_uniform` (Glorot uniform, Keras'
/// default); without an activation it is linear. A `frozen` layer keeps its parameters: it
/// has no entry in the gradients and no optimizer ever changes it.
///
/// # Example
///
/// ```ignore
/// use gradflow::network;
///
/// network! {
///     /// A digit classifier.
///     pub struct Mlp<f32> {
///         input 64,
///         dense 128 [he_init, relu],
///         repeat 3 {
///             dense 64 [he_init, relu],
///         },
///         tanh,
///         layer my_layers::Scale (64 -> 64) [frozen],
///         dense 10,
///     }
/// }
///
/// let mut net = Mlp::new_boxed(&mut gradflow::rng(0));
/// let x = [[0.0f32; 64]; 32];
/// let logits: [[f32; 10]; 32] = net.forward(&x);
/// let classes: [usize; 32] = net.predict(&x);
///
/// let mut cache = MlpCache::<32>::new_boxed();
/// let mut grads = MlpGrads::new_boxed();
/// let y = net.forward_train(&x, &mut cache);
/// let dy = /* dL/dy from a loss */;
/// net.backward(&mut cache, &dy, &mut grads);
/// ```
///
/// # What it generates
///
/// After `repeat` is unrolled, the items are numbered from 0; item `k` becomes the field
/// `dense_k`, `layer_k` or, for a standalone activation, `relu_k` (`tanh_k`, ...). A dense
/// layer's activation is a layer of its own named after it and sharing its index
/// (`dense_1` and `relu_1`). For `pub struct Mlp<T>` with input width `IN` and output width
/// `OUT`:
///
/// - `pub struct Mlp { pub dense_0: Dense<T, IN, 128>, pub relu_0: Relu<T, 128>, ... }`,
///   with your attributes and `Zeroable`.
/// - `pub struct MlpGrads`: one field per layer with parameters that is not frozen; also the
///   type of optimizer state. `zeroed()`, `new_boxed()`, `zero(&mut self)`.
/// - `pub struct MlpCache<const B: usize>`: the input, each layer's output `out_<field>`,
///   a user layer's cache `cache_<field>` and the gradients `grad_<field>` flowing back,
///   for a batch of `B`. `zeroed()`, `new_boxed()`.
/// - consts `INPUT`, `OUTPUT`, `PARAM_COUNT`, `TRAINABLE_PARAM_COUNT`, `PARAM_BYTES`,
///   `LAYERS: &[LayerInfo]`.
/// - `new(rng)`, `new_boxed(rng)`, `init(&mut self, rng)`; `forward`, `forward_into`,
///   `predict` for inference; `forward_train`, `backward`, `backward_to_input`,
///   `backward_into` and `visit_params` for training; `visit_tensors(_mut)`.
/// - impls of `gradflow::nn::{Network, Trainable, TrainableNetwork}`.
///
/// # Your own layers
///
/// `layer path::To::Type (IN -> OUT)` puts a value of your type in the network. It must be
/// `bytemuck::Zeroable` (the network is created zeroed, then `Forward::init` is called) and
/// implement `gradflow::nn::Forward<T>` with `Input = [T; IN]` and `Output = [T; OUT]`. To
/// train the network it must also implement `Trainable<T>` and `Backward<T>`; a network
/// whose layer lacks them still compiles and runs `forward` and `predict`, and asking it to
/// train is a compile error that names the layer. Its parameters count in `PARAM_COUNT`
/// through `Forward::PARAM_COUNT`.
///
/// # Errors
///
/// Widths are checked while expanding, and every error is reported at once, on the token at
/// fault: a `layer` declared for a width other than what the previous layer outputs, unknown
/// or contradictory attributes (two initializers, two activations), `repeat 0`, a width of
/// 0, a missing or misplaced `input`, an empty network.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    expand_network(input.into()).into()
}

fn expand_network(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let net = match syn::parse2::<ast::Network>(input.clone()) {
        Ok(net) => net,
        Err(error) => {
            let header = syn::parse2::<parse::Header>(input).ok();
            return placeholder(header.map(|h| (h.vis, h.name)), error);
        }
    };
    match check::check(&net) {
        Ok(model) => expand::expand(&model),
        Err(error) => placeholder(Some((net.vis, net.name)), error),
    }
}

/// The errors, plus a bare `struct Name;` so that uses of the network elsewhere do not add
/// a cascade of "cannot find type" errors to the real ones.
fn placeholder(
    header: Option<(syn::Visibility, syn::Ident)>,
    error: syn::Error,
) -> proc_macro2::TokenStream {
    let error = error.to_compile_error();
    match header {
        Some((vis, name)) => quote!(#error #vis struct #name;),
        None => error,
    }
}
