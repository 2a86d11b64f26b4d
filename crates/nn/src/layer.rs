//! The two traits every layer implements, and the views through which optimizers,
//! diagnostics and serialization see a layer's tensors.
//!
//! A layer works on a batch `[Self::Input; B]` where `B` is a const generic of the call, so
//! one set of parameters serves every compile-time batch size. The network owns the
//! activations: `forward_train` writes its output into a buffer the network keeps, and
//! `backward` receives that same input and output again, so no layer copies its input to
//! remember it. What else a layer needs for its backward pass lives in its `Cache<B>`.

#[cfg(feature = "alloc")]
use alloc::{format, string::String};
use bytemuck::Zeroable;
use gradflow_tensor::Scalar;
use rand::RngCore;

/// The inference and training-mode forward passes of a layer.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a layer: it does not implement `Forward<{T}>`",
    label = "not a layer: `Forward<{T}>` is not implemented for `{Self}`",
    note = "a type in a network is a layer: implement `gradflow::nn::Forward<{T}>` for `{Self}` (and `Trainable<{T}>` and `Backward<{T}>` to train it); it must also be `bytemuck::Zeroable`"
)]
pub trait Forward<T: Scalar> {
    /// One input sample, a plain array such as `[T; 64]`.
    type Input: Copy + Zeroable;
    /// One output sample.
    type Output: Copy + Zeroable;
    /// What the backward pass needs beyond the layer's input and output, for a batch of `B`
    /// (`()` for most layers).
    type Cache<const B: usize>: Zeroable;

    /// Short kind name used in parameter names and reports (`"dense"`, `"relu"`).
    const KIND: &'static str;

    /// Number of scalars the layer stores (parameters and running statistics).
    const PARAM_COUNT: usize = 0;

    /// Number of those scalars an optimizer updates: all of them unless the layer says
    /// otherwise (a layer that keeps statistics, as batchnorm keeps its running mean and
    /// variance, counts only its parameters). `network!` sums it for your own layers into
    /// `TRAINABLE_PARAM_COUNT`.
    const TRAINABLE_PARAM_COUNT: usize = Self::PARAM_COUNT;

    /// Draws fresh parameters. The network calls it once, on a zeroed layer.
    fn init(&mut self, rng: &mut dyn RngCore) {
        let _ = rng;
    }

    /// Inference: `y = layer(x)`, overwriting `y`.
    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]);

    /// Training mode: like [`Forward::forward`], and fills `cache` for [`Backward::backward`].
    /// Layers with state that training updates (running statistics) take `&mut self`.
    fn forward_train<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Self::Cache<B>,
    );

    /// Visits every tensor the layer stores, trainable or not, in a fixed order.
    fn visit_tensors(&self, f: &mut dyn FnMut(Tensor<'_, T>)) {
        let _ = f;
    }

    /// Visits every tensor mutably, in the same order as [`Forward::visit_tensors`].
    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(TensorMut<'_, T>)) {
        let _ = f;
    }

    /// Visits the layer's settings: numbers that are not learned but change what it computes
    /// (batchnorm's `eps` and `momentum`). Weights files and checkpoints store them beside
    /// the tensors, so that a loaded network computes what the saved one did.
    fn visit_settings(&self, f: &mut dyn FnMut(Setting<T>)) {
        let _ = f;
    }

    /// Visits the settings mutably, with the same names in the same order as
    /// [`Forward::visit_settings`] (loaders refuse a layer whose two visitors disagree, and
    /// check a loaded value against [`Setting::admits`] before writing it).
    fn visit_settings_mut(&mut self, f: &mut dyn FnMut(SettingMut<'_, T>)) {
        let _ = f;
    }
}

/// One setting of a layer, read ([`Forward::visit_settings`]).
#[derive(Clone, Copy, Debug)]
pub struct Setting<T> {
    /// Field name of the layer in its network; empty for a lone layer.
    pub layer: &'static str,
    /// Name of the setting within its layer (`"eps"`).
    pub name: &'static str,
    /// Its value.
    pub value: T,
    /// Whether a (finite) value is one the setting may take.
    pub admits: fn(f64) -> bool,
    /// What [`Setting::admits`] asks, for an error: `"it must be positive"`.
    pub requirement: &'static str,
}

/// One setting of a layer, to be written ([`Forward::visit_settings_mut`]).
#[derive(Debug)]
pub struct SettingMut<'a, T> {
    /// Field name of the layer in its network; empty for a lone layer.
    pub layer: &'static str,
    /// Name of the setting within its layer.
    pub name: &'static str,
    /// Its value.
    pub value: &'a mut T,
    /// Whether a (finite) value is one the setting may take.
    pub admits: fn(f64) -> bool,
    /// What [`SettingMut::admits`] asks, for an error: `"it must be positive"`.
    pub requirement: &'static str,
}

/// The parameters of a layer that training updates, mirrored by a gradient struct.
///
/// Optimizer state is a value of the same `Grads` type (one for SGD's velocity, two for
/// Adam's moments), so an optimizer reaches every parameter with its gradient and state by
/// construction: no gradient can go missing.
pub trait Trainable<T: Scalar> {
    /// Mirrors the trainable parameters; `()` for a layer without any.
    type Grads: Zeroable;

    /// Calls `f` once per trainable tensor with the tensor, its gradient and the matching
    /// slices of each optimizer state in `states`.
    fn visit_params<const N: usize>(
        &mut self,
        grads: &Self::Grads,
        states: [&mut Self::Grads; N],
        f: &mut dyn FnMut(Param<'_, T, N>),
    );
}

/// The backward pass of a layer. Training a network requires it of every layer.
#[diagnostic::on_unimplemented(
    message = "layer `{Self}` has no backward pass, so a network that contains it cannot be trained",
    label = "training needs a backward pass through every layer",
    note = "implement `gradflow::nn::Backward<{T}>` for `{Self}`, or use this network for inference only (`forward`, `predict`)"
)]
pub trait Backward<T: Scalar>: Forward<T> + Trainable<T> {
    /// Given the batch's input `x`, output `y`, the cache filled by `forward_train` and the
    /// loss gradient `dy` with respect to `y`:
    /// - overwrites every element of `dx` with the gradient with respect to `x`, when asked
    ///   (the first layer of a network is not asked). `dx` holds whatever the previous step
    ///   left there, not zeros: a layer that adds into it, or leaves elements unwritten, makes
    ///   every gradient before it wrong. [`check_layer`](crate::gradcheck::check_layer) and
    ///   [`check_network`](crate::gradcheck::check_network) catch both;
    /// - adds the parameter gradients into `grads`, when given (a frozen layer is given none):
    ///   the caller zeroes them between steps, so that gradients can be accumulated.
    #[allow(clippy::too_many_arguments)]
    fn backward<const B: usize>(
        &self,
        x: &[Self::Input; B],
        y: &[Self::Output; B],
        cache: &Self::Cache<B>,
        dy: &[Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        grads: Option<&mut Self::Grads>,
    );
}

/// One trainable tensor seen by an optimizer, flattened.
pub struct Param<'a, T, const N: usize> {
    /// Field name of the layer in its network (`"dense_0"`); empty for a lone layer.
    pub layer: &'static str,
    /// Name of the tensor within its layer (`"weight"`, `"bias"`).
    pub name: &'static str,
    /// The parameter values.
    pub value: &'a mut [T],
    /// Its gradient, accumulated by `backward`.
    pub grad: &'a [T],
    /// The optimizer's state for this tensor, one slice per state buffer.
    pub state: [&'a mut [T]; N],
}

/// Whether a stored tensor is learned by gradient descent or is a statistic kept for inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// Updated by the optimizer (weights, biases, batchnorm's gamma and beta).
    Trainable,
    /// Learned by a trainable layer that is frozen: stored, never updated.
    Frozen,
    /// Learned from data, not by gradients: batchnorm's running mean and variance (updated in
    /// training-mode forward passes), a standardizer's fitted mean and deviation.
    Statistic,
}

/// A read-only view of one stored tensor.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a, T> {
    /// Field name of the layer in its network; empty for a lone layer.
    pub layer: &'static str,
    /// Name of the tensor within its layer.
    pub name: &'static str,
    /// What kind of tensor it is.
    pub kind: TensorKind,
    /// Its logical shape, outermost first (a dense weight is `[inputs, outputs]`).
    pub shape: &'a [usize],
    /// Its values, row-major.
    pub data: &'a [T],
}

/// A mutable view of one stored tensor.
#[derive(Debug)]
pub struct TensorMut<'a, T> {
    /// Field name of the layer in its network; empty for a lone layer.
    pub layer: &'static str,
    /// Name of the tensor within its layer.
    pub name: &'static str,
    /// What kind of tensor it is.
    pub kind: TensorKind,
    /// Its logical shape, outermost first.
    pub shape: &'a [usize],
    /// Its values, row-major.
    pub data: &'a mut [T],
}

/// Splits an array of optimizer states into per-tensor states with `part` (for example
/// `|g| &mut g.weight[..]`). Used by layers' [`Trainable::visit_params`].
pub fn split_states<'a, G, T, const N: usize>(
    states: &'a mut [&mut G; N],
    part: impl Fn(&'a mut G) -> &'a mut [T],
) -> [&'a mut [T]; N] {
    states.each_mut().map(|s| part(&mut **s))
}

/// How the code `network!` generates calls a layer of yours, `layer Type (I -> O)`: with
/// batches of the declared `[T; I]` and `[T; O]`, not of the layer's `Forward::Input` and
/// `Forward::Output`. Implemented for every layer whose `Forward` has those widths; not meant
/// to be implemented or called by hand.
///
/// The generated items assume `Type: DeclaredLayer<T, I, O>` rather than
/// `Type: Forward<T, Input = [T; I], Output = [T; O]>`: the bodies then type-check whatever
/// `Type` is (a type that is not a layer, or has other widths, is one error where the network
/// declares it), and an unresolved `Type` adds no assumption about the `Input` and `Output` of
/// the other layers, as a bound on `Forward`'s associated types would.
#[doc(hidden)]
pub trait DeclaredLayer<T: Scalar, const I: usize, const O: usize>: Forward<T> {
    /// [`Forward::forward`].
    fn forward_declared<const B: usize>(&self, x: &[[T; I]; B], y: &mut [[T; O]; B]);

    /// [`Forward::forward_train`].
    fn forward_train_declared<const B: usize>(
        &mut self,
        x: &[[T; I]; B],
        y: &mut [[T; O]; B],
        cache: &mut Self::Cache<B>,
    );

    /// [`Backward::backward`].
    #[allow(clippy::too_many_arguments)]
    fn backward_declared<const B: usize>(
        &self,
        x: &[[T; I]; B],
        y: &[[T; O]; B],
        cache: &Self::Cache<B>,
        dy: &[[T; O]; B],
        dx: Option<&mut [[T; I]; B]>,
        grads: Option<&mut <Self as Trainable<T>>::Grads>,
    ) where
        Self: Backward<T>;
}

impl<T: Scalar, L, const I: usize, const O: usize> DeclaredLayer<T, I, O> for L
where
    L: Forward<T, Input = [T; I], Output = [T; O]>,
{
    #[inline(always)]
    fn forward_declared<const B: usize>(&self, x: &[[T; I]; B], y: &mut [[T; O]; B]) {
        self.forward(x, y);
    }

    #[inline(always)]
    fn forward_train_declared<const B: usize>(
        &mut self,
        x: &[[T; I]; B],
        y: &mut [[T; O]; B],
        cache: &mut Self::Cache<B>,
    ) {
        self.forward_train(x, y, cache);
    }

    #[inline(always)]
    fn backward_declared<const B: usize>(
        &self,
        x: &[[T; I]; B],
        y: &[[T; O]; B],
        cache: &Self::Cache<B>,
        dy: &[[T; O]; B],
        dx: Option<&mut [[T; I]; B]>,
        grads: Option<&mut <Self as Trainable<T>>::Grads>,
    ) where
        Self: Backward<T>,
    {
        self.backward(x, y, cache, dy, dx, grads);
    }
}

/// The name a tensor or setting goes by in files and errors: `<layer field>.<name>` (just the
/// name for a lone layer).
#[cfg(feature = "alloc")]
pub fn tensor_name(layer: &str, name: &str) -> String {
    if layer.is_empty() {
        String::from(name)
    } else {
        format!("{layer}.{name}")
    }
}
