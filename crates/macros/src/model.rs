//! The checked model: what `check` hands to `expand`. Repeats are unrolled, activations and
//! batchnorms attached to dense layers are layers of their own, every width is a concrete
//! number and every layer knows which buffer it reads, so code generation is a plain walk
//! over a flat list with no decisions left to make.
//!
//! A residual block becomes its body's layers followed by one `Residual` step, the add
//! `body(x) + skip(x)`, which reads the block's input as its `source` and the body's last
//! output as its `body`; the block's activation follows as an ordinary layer.

use crate::attr::{Activation, Initializer};
use proc_macro2::Span;
use syn::{Attribute, Ident, Type, Visibility};

pub struct Model {
    /// The user's outer attributes (docs, lints), copied onto the network struct.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// The element type `T`: `::core::primitive::f32` or `f64`, spanned on the user's token.
    pub elem: Type,
    /// Width of one input sample.
    pub input: usize,
    /// The layers in data-flow order; never empty.
    pub layers: Vec<Layer>,
}

pub struct Layer {
    /// The field holding the layer in the network struct (`dense_0`, `relu_0`, `layer_3`),
    /// and the suffix of its buffers in the cache. For a residual add without projection
    /// there is no struct field, only `out_residual_k`.
    pub field: Ident,
    /// Index of the item in the unrolled list; a dense layer, its batchnorm and its
    /// activation share it, as do a residual block's add and its activation.
    pub index: usize,
    pub inputs: usize,
    pub outputs: usize,
    /// Frozen layers have no gradients and are never updated.
    pub frozen: bool,
    pub kind: LayerKind,
    /// The buffer the layer reads: for a residual add, the block's input (the skip).
    pub source: Source,
}

/// A buffer holding a batch of activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The network's input.
    Input,
    /// The output of the layer at this position of `Model::layers`.
    Layer(usize),
}

/// Where the gradient with respect to a buffer is kept during the backward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientAt {
    /// The caller's `dy`: the buffer is the network's output.
    Output,
    /// The `grad_` buffer of the layer at this position.
    Layer(usize),
}

pub enum LayerKind {
    Dense {
        init: Initializer,
    },
    Activation(Activation),
    BatchNorm,
    Standardize,
    /// A user's type; `name` is its path as written, for `LayerInfo::kind` and messages.
    User {
        ty: Box<Type>,
        name: String,
        /// Where the input and output widths were declared: if the type's `Forward` impl
        /// disagrees with them, the type error is reported there.
        declared: (Span, Span),
        /// The span of the whole `(IN -> OUT)`, where a disagreement is first reported.
        widths: Span,
    },
    /// The add closing a residual block: `body + skip(source)`, where the skip is the
    /// identity or, with `project`, a `Dense` from `inputs` to `outputs` held in the field.
    Residual {
        project: bool,
        /// Position of the body's first layer (the first to read the block's input).
        first: usize,
        /// Position of the body's last layer, whose output is added.
        body: usize,
    },
}

impl Model {
    /// Width of one output sample.
    pub fn output(&self) -> usize {
        self.layers.last().map_or(self.input, |l| l.outputs)
    }

    /// The user layer types, each of which training requires to implement `Backward`.
    pub fn user_types(&self) -> impl Iterator<Item = &Type> {
        self.layers.iter().filter_map(|l| match &l.kind {
            LayerKind::User { ty, .. } => Some(&**ty),
            _ => None,
        })
    }

    /// Where the gradient of layer `position`'s output lives. The output of a residual
    /// body's last layer feeds only the add, whose gradient passes through unchanged, so it
    /// shares the add's gradient rather than keeping a copy.
    pub fn gradient_at(&self, mut position: usize) -> GradientAt {
        loop {
            if position + 1 == self.layers.len() {
                return GradientAt::Output;
            }
            let add = self.layers.iter().position(
                |l| matches!(l.kind, LayerKind::Residual { body, .. } if body == position),
            );
            match add {
                Some(add) => position = add,
                None => return GradientAt::Layer(position),
            }
        }
    }

    /// The positions of the residual adds whose body starts at `position`, innermost first.
    pub fn blocks_starting_at(&self, position: usize) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .enumerate()
            .filter_map(move |(k, l)| match l.kind {
                LayerKind::Residual { first, .. } if first == position => Some(k),
                _ => None,
            })
    }
}

impl Layer {
    /// Whether the layer is a field of the network struct (all but an identity residual add).
    pub fn has_field(&self) -> bool {
        !matches!(self.kind, LayerKind::Residual { project: false, .. })
    }

    /// Whether the layer has an entry in the gradients: it has parameters and is not frozen.
    pub fn has_grads(&self) -> bool {
        !self.frozen
            && match self.kind {
                LayerKind::Dense { .. } | LayerKind::BatchNorm | LayerKind::User { .. } => true,
                LayerKind::Residual { project, .. } => project,
                LayerKind::Activation(_) | LayerKind::Standardize => false,
            }
    }

    /// Whether the layer may store tensors (activations and identity adds never do).
    pub fn has_tensors(&self) -> bool {
        self.has_field() && !matches!(self.kind, LayerKind::Activation(_))
    }

    /// Whether the layer keeps a `Cache<B>` beyond its input and output. Dense layers,
    /// activations and adds keep none; every other layer gets a field of its cache type.
    pub fn has_cache(&self) -> bool {
        !matches!(
            self.kind,
            LayerKind::Dense { .. } | LayerKind::Activation(_) | LayerKind::Residual { .. }
        )
    }

    /// The spans of a user layer's declared `(IN -> OUT)` widths.
    pub fn declared_spans(&self) -> Option<(Span, Span)> {
        match self.kind {
            LayerKind::User { declared, .. } => Some(declared),
            _ => None,
        }
    }

    /// The kind name reported in `LayerInfo` (`"dense"`, `"relu"`, `"residual"`, or the
    /// user's type).
    pub fn kind_name(&self) -> &str {
        match &self.kind {
            LayerKind::Dense { .. } => "dense",
            LayerKind::Activation(a) => a.name(),
            LayerKind::BatchNorm => "batchnorm",
            LayerKind::Standardize => "standardize",
            LayerKind::User { name, .. } => name,
            LayerKind::Residual { project: false, .. } => "residual",
            LayerKind::Residual { project: true, .. } => "residual(project)",
        }
    }
}
