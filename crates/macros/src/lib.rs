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
mod krate;
mod model;
mod parse;
mod suggest;

use proc_macro::TokenStream;
use quote::quote;

/// Declares a neural network whose shapes are known at compile time.
///
/// # Grammar
///
/// ```text
/// network! {
///     ATTRIBUTES                      // doc comments, #[derive(Clone, Debug, PartialEq)], #[allow|warn|deny|forbid|expect(..)]
///     VIS struct NAME<ELEMENT> {      // ELEMENT: f32 or f64
///         input SHAPE,                // exactly one, first
///         ITEM, ITEM, ...             // trailing comma optional
///     }
/// }
///
/// SHAPE := WIDTH                             // a flat vector [T; WIDTH]
///        | [L, C]                            // a sequence, channels last: [[T; C]; L]
///        | [H, W, C]                         // an image, channels last: [[[T; C]; W]; H]
///
/// ITEM := dense WIDTH [DENSE_ATTR, ...]?      // fully connected layer, input width inferred
///       | conv2d OC kK sS? PADDING? [DENSE_ATTR, ...]?
///                                             // 2d convolution of an image to OC channels
///       | conv1d OC kK sS? PADDING? [DENSE_ATTR, ...]?
///                                             // 1d convolution of a sequence
///       | maxpool K | maxpool kK sS?          // max pooling (image or sequence), stride = K
///       | avgpool K | avgpool kK sS?          // average pooling, likewise
///       | global_avg_pool                     // mean of each channel: [.., C] -> C
///       | flatten                             // [H, W, C] -> H*W*C, [L, C] -> L*C
///       | ACTIVATION                          // standalone activation layer
///       | batchnorm [frozen]?                 // batch normalization of the current width
///       | standardize                         // per-feature (x - mean) / std, fitted by you
///       | layer TYPE (WIDTH -> WIDTH) [frozen]?  // your own layer type, widths declared
///       | repeat COUNT { ITEM, ... }          // the items COUNT >= 1 times; nests
///       | repeat COUNT ITEM                   // one item COUNT times: `repeat 8 residual { .. } relu`
///       | residual (project)? { ITEM, ... } ACTIVATION?
///                                             // act(skip(x) + body(x)); nests
///
/// DENSE_ATTR := INITIALIZER | ACTIVATION | batchnorm | frozen   // at most one of each kind
/// INITIALIZER := he_init (= he_normal) | he_normal | he_uniform
///              | xavier_init (= xavier_uniform) | xavier_normal | xavier_uniform
///              | lecun_normal | standard_init (U(±1/sqrt(fan_in))) | zeros
///              | small_normal | unit_normal
/// ACTIVATION := relu | leaky_relu | sigmoid | tanh | gelu | identity
/// PADDING := same (kernel / 2 zeros on each side; odd kernels only) | valid (none, the default)
/// ```
///
/// **Limits.** `residual` and `repeat` blocks nest at most 64 deep, and a network has at most
/// 512 items after `repeat` is unrolled (items are numbered from 0, below). A network whose
/// parameters, or one sample's activations in the training cache, would take 2^61 bytes or
/// more (rustc's limit for one value on 64-bit targets) is an error on the layer that goes
/// past it.
///
/// A dense layer without an initializer uses `xavier_uniform` (Glorot uniform, Keras'
/// default); without an activation it is linear. A `frozen` layer keeps its parameters: it
/// has no entry in the gradients and no optimizer ever changes it.
///
/// **Batch normalization.** `dense 128 [he_init, batchnorm, relu]` is a dense layer, then a
/// `BatchNorm`, then the activation: the normalization sits between the linear map and the
/// nonlinearity, where Ioffe and Szegedy place it, whatever the order of the attributes.
/// A standalone `batchnorm` normalizes the current width. In `forward_train` a batchnorm
/// normalizes with the batch's statistics and updates its running ones; `forward` and
/// `predict` use the running statistics. Training with a batch of 1 is a compile error
/// when a batchnorm sees one value per channel in a sample, as after a dense layer (the
/// variance of one value is 0); on a feature map it normalizes over the positions too. With `frozen` (`dense 64 [batchnorm, frozen]`) the
/// batchnorm's `gamma` and `beta` are frozen with the dense layer (no gradients), but its
/// running statistics still update in every `forward_train`, as they are not trained by
/// gradients. `init` resets every batchnorm (`gamma` 1, `beta` 0, running mean 0 and
/// variance 1, default `eps` and `momentum`).
///
/// **Standardization.** `standardize`, normally right after `input`, is a
/// `Standardize` layer (`y = (x - mean) / std` per feature) with no trainable parameters:
/// `init` makes it the identity, and you fit it to your training data with
/// `net.standardize_0.fit(&train_features)`. It passes gradients through (`dx = dy / std`).
///
/// **Convolutions.** Feature maps are channels-last (the layout `benches/conv_layout.rs`
/// measured fastest; see `gradflow::nn::conv`): one image is `[[[T; C]; W]; H]`, one sequence
/// `[[T; C]; L]`. A bracketed shape lists the sizes in the order of that array, outermost
/// first, so `input [28, 28, 1]` (height, width, channels) takes `[[[f32; 1]; 28]; 28]` per
/// sample, `input [100, 2]` (length, channels) takes `[[f32; 2]; 100]`, and error messages
/// show shapes the same way. The macro computes every layer's output shape and writes
/// concrete sizes into the layer types of `gradflow::nn::conv`. Along each spatial axis a convolution gives
/// `(in + 2 * padding - kernel) / stride + 1`, rounded down as in PyTorch: `k3 same` keeps the
/// size at stride 1 and halves it, rounding up, at `s2`. The stride defaults to 1. A
/// convolution takes the attributes of a dense layer (fan-in `C*K*K`):
/// `conv2d 16 k3 same [he_init, batchnorm, relu]` is a `Conv2d`, a `BatchNorm2d` (per channel)
/// and a ReLU; on a sequence, `batchnorm` is a `BatchNorm1d` (per channel, over the batch and
/// the positions). Activations and `batchnorm` also work as items on feature maps. Pooling has no
/// padding and must read every element: `maxpool 2` on a 7x7 input is an error rather than
/// silently dropping the last row and column. A `dense` layer needs a flat input, so a
/// feature map reaches it through `flatten` or `global_avg_pool`; the network's output must be
/// flat. `flatten` keeps the memory order (row, column, channel), not PyTorch's
/// channel-first order.
///
/// ```text
/// network! {
///     pub struct SmallCnn<f32> {
///         input [28, 28, 1],
///         conv2d 16 k3 same [he_init, batchnorm, relu],   // [28, 28, 16]
///         maxpool 2,                                      // [14, 14, 16]
///         conv2d 32 k3 s2 same [he_init, relu],           // [7, 7, 32]
///         residual { conv2d 32 k3 same [he_init, batchnorm] } relu,
///         global_avg_pool,                                // 32
///         dense 10,
///     }
/// }
///
/// network! {
///     pub struct Signal<f32> {
///         input [100, 2],
///         conv1d 8 k5 same [he_init, relu],               // [100, 8]
///         maxpool k4 s2,                                  // [49, 8]
///         flatten,                                        // 392
///         dense 4,
///     }
/// }
/// let logits: [[f32; 10]; 8] = cnn.forward(&[[[[0.0; 1]; 28]; 28]; 8]);
/// ```
///
/// **Residual blocks.** `residual { body } relu` computes `relu(x + body(x))`, where `x` is
/// the block's input; the activation after the braces is optional. The identity skip needs
/// the body to end at the block's input width. `residual(project) { body }` instead adds a
/// learned projection, `dense(x) + body(x)`, a `Dense` from the block's input width to the
/// body's output width, initialized with `xavier_uniform`. Over feature maps the identity
/// skip needs the body to keep the shape (`[H, W, C]`), and the projection is a 1x1
/// convolution to the body's channels with the smallest stride `s` for which `ceil(H / s)`
/// and `ceil(W / s)` are the body's output sides (a 7x7 map projects onto a strided body's
/// 4x4 with stride 2): `residual(project) { conv2d 32 k3 s2 same [relu], conv2d 32 k3 same }`. Blocks nest, in each other and in
/// `repeat`, so the deep residual stack of a ResNet reads:
///
/// ```text
/// repeat 8 residual {
///     dense 128 [he_init, batchnorm, relu],
///     dense 128 [he_init, batchnorm],
/// } relu,
/// ```
///
/// # Example
///
/// ```text
/// use gradflow::network;
///
/// network! {
///     /// A digit classifier.
///     pub struct Mlp<f32> {
///         input 64,
///         standardize,
///         dense 128 [he_init, batchnorm, relu],
///         repeat 3 residual {
///             dense 128 [he_init, batchnorm, relu],
///             dense 128 [he_init, batchnorm],
///         } relu,
///         residual(project) { dense 64 [he_init, relu] },
///         tanh,
///         layer my_layers::Scale (64 -> 64) [frozen],
///         dense 10,
///     }
/// }
///
/// let mut net = Mlp::new_boxed(&mut gradflow::rng(0));
/// net.standardize_0.fit(&train_features);
/// let x = [[0.0f32; 64]; 32];
/// let logits: [[f32; 10]; 32] = net.forward(&x);
/// let classes: [usize; 32] = net.predict(&x);
///
/// let mut cache = MlpCache::<32>::new_boxed();
/// let mut grads = MlpGrads::new_boxed();
/// let y = net.forward_train(&x, &mut cache);
/// let dy = /* dL/dy from a loss */;
/// net.backward(&mut cache, &dy, &mut grads);
/// Mlp::visit_activations(&cache, &mut |a| println!("{} {}", a.layer, a.values.len()));
/// ```
///
/// # What it generates
///
/// After `repeat` is unrolled, the items are numbered from 0 in data-flow order; item `k`
/// becomes the field `dense_k`, `conv2d_k`, `conv1d_k`, `maxpool_k`, `avgpool_k`,
/// `global_avg_pool_k`, `flatten_k`, `batchnorm_k`, `standardize_k`, `layer_k` or, for a
/// standalone activation, `relu_k` (`tanh_k`, ...). A dense layer's batchnorm and
/// activation are layers of their own named after them and sharing its index (`dense_1`,
/// `batchnorm_1` and `relu_1`).
///
/// A residual block takes its index *after* its body's items, because its add happens
/// after them: as the first item, `residual { dense 8, dense 8 } relu` makes `dense_0`,
/// `dense_1`, then the add `residual_2` and its activation `relu_2`. The add has no field
/// in the network struct unless it has a projection (`residual_2: Dense<T, IN, OUT>`); its
/// output is `out_residual_2` in the cache, and `LAYERS` lists it as
/// `{ name: "residual_2", kind: "residual" }` (`"residual(project)"` with a projection),
/// from the block's input width to its body's output width.
///
/// For `pub struct Mlp<T>` with input width `IN` and output width `OUT` (with feature maps,
/// every buffer is a batch of nested arrays such as `[[[[T; C]; W]; H]; B]`, and `INPUT`,
/// `OUTPUT`, the widths in `LAYERS` and in the activations visitors count the scalars of one
/// sample):
///
/// - `pub struct Mlp { pub dense_0: Dense<T, IN, 128>, pub relu_0: Relu<T, 128>, ... }`,
///   with your attributes and `Zeroable`.
/// - `pub struct MlpGrads`: one field per layer with parameters that is not frozen; also the
///   type of optimizer state. `zeroed()`, `new_boxed()`, `zero(&mut self)`.
/// - `pub struct MlpCache<const B: usize>`: the input, each layer's output `out_<field>`,
///   the cache `cache_<field>` of every layer other than dense layers and activations
///   (`BatchNormCache` for a batchnorm, `Conv2dCache` / `Conv1dCache` (the transposed weight
///   the direct kernel reads) for a convolution and for a residual block's projection over
///   feature maps,
///   `<L as Forward<T>>::Cache<B>` for yours), the
///   gradients `grad_<field>` flowing back, and for a projection the scratch gradient
///   `grad_skip_k` of its input, for a batch of `B`. (The last layer of a residual body has
///   no `grad_` field: it reads its block's.) Last, `filled: bool`, set by `forward_train`:
///   `backward` panics on a cache without it. `zeroed()`, `new_boxed()`.
/// - consts `INPUT`, `OUTPUT`, `PARAM_COUNT`, `TRAINABLE_PARAM_COUNT`, `PARAM_BYTES`,
///   `LAYERS: &[LayerInfo]`.
/// - `new(rng)`, `new_boxed(rng)`, `init(&mut self, rng)`; `forward`, `forward_into`,
///   `predict` for inference; `forward_train`, `backward`, `backward_to_input`,
///   `backward_into` and `visit_params` for training; `visit_tensors(_mut)`;
///   `Mlp::visit_activations(&cache, f)`, which calls `f` with every layer's output
///   buffer in order (`layer` its field name, `kind` its `Forward::KIND` or `"residual"`).
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
/// Widths and shapes are checked while expanding, and every error is reported at once, on the
/// token at fault, naming the shapes: a `layer` declared for a width other than what the
/// previous layer outputs ("... but the layer before it (flatten) outputs 144 (3x3x16)"), a
/// kernel larger than its padded input ("conv2d kernel 5 is larger than its input 4x4
/// (padding 0)"), pooling that would drop rows or columns ("maxpool 2 on a 7x7 input drops
/// the last row and column; use an input divisible by 2"), `same` with an even kernel, a
/// `dense` after a feature map ("dense needs a flat input; the layer before it (conv2d 16
/// \[relu\]) outputs [8, 8, 16]: add `flatten` or `global_avg_pool`"), a convolution, pooling,
/// `flatten` or `standardize` on the wrong kind of input, a projection that no stride takes
/// to the body's output sides, an output that is not flat, a
/// residual block whose identity skip cannot be added to its body's output ("residual block
/// 3 adds its input (128) to its body's output (64); use `residual(project) { .. }` ..."),
/// an empty residual body, an unknown residual option, unknown or contradictory attributes
/// (two initializers, two activations, `batchnorm` or `frozen` twice), an attribute on the
/// network other than a doc comment, a lint attribute or a derive of `Clone`, `Debug` or
/// `PartialEq`, a doc comment on an item, blocks
/// nested more than 64 deep, more than 512 items after unrolling, a network too large for
/// one value, `repeat 0`, a width
/// of 0 or a width or count that is not a whole number, an element type other than `f32` or
/// `f64`, a missing or misplaced `input`, an empty network. An item that does not parse is
/// reported together with the errors of the items that do. A `layer` whose type does not
/// implement `Forward` is one error on the type ("`Plain` is not a layer: it does not implement
/// `Forward<f32>`"), and one whose `Forward` impl has other `Input` and `Output` types than
/// its declared widths one error on its `(IN -> OUT)` naming both; the generated code adds no
/// errors of its own (each use of such a network in your code says which bound it misses). A
/// type of your module named like a generated one (`NetGrads` or `NetCache` next to `struct
/// Net`) is reported on the network's name ("the name `NetGrads` is defined multiple times");
/// rustc then also reports the generated code's uses of the fields that type lacks. Training a
/// network with a dense layer's batchnorm on a batch of 1 fails, naming the network, when the
/// call is compiled (`cargo build`; `cargo check` does not report such errors).
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    expand_network(input.into()).into()
}

fn expand_network(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let expansion = expand_for_gradflow(input);
    match krate::renamed() {
        Some(name) => krate::rename(expansion, &name),
        None => expansion,
    }
}

/// The expansion, with paths into the facade crate written `::gradflow::..`.
fn expand_for_gradflow(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
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

/// The errors, and in place of the network's types aliases whose type holds the first of
/// them: a hidden `const __GRADFLOW_REJECTED_Net: usize = { compile_error!(..); 0 };`, and
/// `type Net = __GradflowRejectedNet<{ that const }, 0, 0>`, `NetGrads` (item 1) and
/// `NetCache<B>` (item 2, passing `B` on). rustc reports that error once, and says nothing
/// about what uses a type with an error in it: `Net::new(..)`, `net.forward(..)` or
/// `NetCache::<32>` elsewhere add no "cannot find type" or "no function `new`" errors to the
/// real ones (with a bare `struct Net;`, every use added one). The hidden struct is local and
/// the three types distinct, so `impl Net { .. }` and `impl NetGrads { .. }` with methods of
/// the same name, `impl<const B: usize> Trait for NetCache<B>` and impls of foreign traits in
/// the user's code stay valid.
fn placeholder(
    header: Option<(syn::Visibility, syn::Ident)>,
    error: syn::Error,
) -> proc_macro2::TokenStream {
    let Some((vis, name)) = header else {
        return error.to_compile_error();
    };
    let mut errors = error.into_iter().map(|e| e.to_compile_error());
    let first = errors.next();
    let hidden = quote::format_ident!("__GradflowRejected{}", name);
    let rejected = quote::format_ident!("__GRADFLOW_REJECTED_{}", name);
    let grads = quote::format_ident!("{}Grads", name);
    let cache = quote::format_ident!("{}Cache", name);
    quote! {
        #[doc(hidden)]
        #[allow(dead_code, non_upper_case_globals)]
        const #rejected: usize = { #first; 0 };
        #[doc(hidden)]
        #[allow(dead_code, non_camel_case_types)]
        #vis struct #hidden<const REJECTED: usize, const ITEM: u8, const B: usize>;
        #[allow(dead_code)]
        #vis type #name = #hidden<{ #rejected }, 0, 0>;
        #[allow(dead_code)]
        #vis type #grads = #hidden<{ #rejected }, 1, 0>;
        #[allow(dead_code)]
        #vis type #cache<const B: usize> = #hidden<{ #rejected }, 2, { B }>;
        #(#errors)*
    }
}
