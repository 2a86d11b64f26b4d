//! The checked model: what `check` hands to `expand`. Repeats are unrolled, activations
//! attached to dense layers are layers of their own, and every width is a concrete number,
//! so code generation is a plain walk over a flat list with no decisions left to make.

use crate::attr::{Activation, Initializer};
use proc_macro2::Span;
use syn::{Attribute, Ident, Type, Visibility};

pub struct Model {
    /// The user's outer attributes (docs, lints), copied onto the network struct.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// The element type `T`.
    pub elem: Type,
    /// Width of one input sample.
    pub input: usize,
    /// The layers in order; never empty.
    pub layers: Vec<Layer>,
}

pub struct Layer {
    /// The field holding the layer in the network struct (`dense_0`, `relu_0`, `layer_3`).
    pub field: Ident,
    /// Index of the item in the unrolled list; a dense layer and its activation share it.
    pub index: usize,
    pub inputs: usize,
    pub outputs: usize,
    /// Frozen layers have no gradients and are never updated.
    pub frozen: bool,
    pub kind: LayerKind,
}

pub enum LayerKind {
    Dense {
        init: Initializer,
    },
    Activation(Activation),
    /// A user's type; `name` is its path as written, for `LayerInfo::kind` and messages.
    User {
        ty: Box<Type>,
        name: String,
        /// Where the input and output widths were declared: if the type's `Forward` impl
        /// disagrees with them, the type error is reported there.
        declared: (Span, Span),
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
}

impl Layer {
    /// Whether the layer has an entry in the gradients: it has parameters and is not frozen.
    pub fn has_grads(&self) -> bool {
        !self.frozen && !matches!(self.kind, LayerKind::Activation(_))
    }

    /// Whether the layer may store tensors (activations never do).
    pub fn has_tensors(&self) -> bool {
        !matches!(self.kind, LayerKind::Activation(_))
    }

    /// Whether the layer keeps a `Cache<B>` beyond its input and output. The built-in
    /// dense and activation layers keep none (their cache type is `()`).
    pub fn has_cache(&self) -> bool {
        matches!(self.kind, LayerKind::User { .. })
    }

    /// The spans of a user layer's declared `(IN -> OUT)` widths.
    pub fn declared_spans(&self) -> Option<(Span, Span)> {
        match self.kind {
            LayerKind::User { declared, .. } => Some(declared),
            _ => None,
        }
    }

    /// The kind name reported in `LayerInfo` (`"dense"`, `"relu"`, or the user's type).
    pub fn kind_name(&self) -> &str {
        match &self.kind {
            LayerKind::Dense { .. } => "dense",
            LayerKind::Activation(a) => a.name(),
            LayerKind::User { name, .. } => name,
        }
    }
}
