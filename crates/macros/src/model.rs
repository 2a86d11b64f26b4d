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
    /// Shape of one input sample.
    pub input: Shape,
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
    /// Shape of one input sample (for a residual add, the block's input).
    pub inputs: Shape,
    pub outputs: Shape,
    /// Frozen layers have no gradients and are never updated.
    pub frozen: bool,
    pub kind: LayerKind,
    /// The buffer the layer reads: for a residual add, the block's input (the skip).
    pub source: Source,
}

/// The shape of one sample flowing between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[T; N]`
    Flat(usize),
    /// `[[T; C]; L]`: `C` channels of length `L`, channels-last.
    Seq { c: usize, l: usize },
    /// `[[[T; C]; W]; H]`: `C` channels of `H x W`, channels-last.
    Image { c: usize, h: usize, w: usize },
}

impl Shape {
    /// The number of scalars in one sample.
    pub fn elements(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            // Saturating: a shape too large for memory (reported by the size check) must
            // not make the macro panic on the way there (`flatten` of a 1e14-channel map).
            Shape::Seq { c, l } => c.saturating_mul(l),
            Shape::Image { c, h, w } => c.saturating_mul(h).saturating_mul(w),
        }
    }

    /// The number of scalars in one sample, or `None` if it overflows `usize`.
    pub fn checked_elements(self) -> Option<usize> {
        match self {
            Shape::Flat(n) => Some(n),
            Shape::Seq { c, l } => c.checked_mul(l),
            Shape::Image { c, h, w } => c.checked_mul(h)?.checked_mul(w),
        }
    }

    /// The number of array levels in one sample (`as_flattened` calls to reach scalars
    /// from a batch).
    pub fn depth(self) -> usize {
        match self {
            Shape::Flat(_) => 1,
            Shape::Seq { .. } => 2,
            Shape::Image { .. } => 3,
        }
    }

    /// Channels of a feature map; a flat vector's features.
    pub fn channels(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Seq { c, .. } | Shape::Image { c, .. } => c,
        }
    }

    /// The dimensions of the sample's array, outermost first: `[h, w, c]`, `[l, c]` or `[n]`.
    /// This is also the order in which `input [..]` declares them and messages show them.
    pub fn dims(self) -> Vec<usize> {
        match self {
            Shape::Flat(n) => vec![n],
            Shape::Seq { c, l } => vec![l, c],
            Shape::Image { c, h, w } => vec![h, w, c],
        }
    }

    /// A feature map's sizes as the const parameters of `gradflow::nn::conv`'s layers name
    /// them, channels first: `[c, h, w]` or `[c, l]` (`[n]` for a flat vector).
    pub fn type_args(self) -> Vec<usize> {
        match self {
            Shape::Flat(n) => vec![n],
            Shape::Seq { c, l } => vec![c, l],
            Shape::Image { c, h, w } => vec![c, h, w],
        }
    }
}

impl std::fmt::Display for Shape {
    /// `64`, `[12, 2]` or `[8, 8, 16]`, as the user writes them after `input`: in the order
    /// of the sample's array, height, width, channels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Shape::Flat(n) => write!(f, "{n}"),
            Shape::Seq { c, l } => write!(f, "[{l}, {c}]"),
            Shape::Image { c, h, w } => write!(f, "[{h}, {w}, {c}]"),
        }
    }
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
    /// `BatchNorm` on a flat input, `BatchNorm2d` on an image (per channel).
    BatchNorm,
    Standardize,
    /// `Conv2d` (image in and out) or `Conv1d` (sequence), with concrete sizes; the output
    /// sizes are the layer's `outputs`.
    Conv {
        init: Initializer,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// Max or average pooling of an image or a sequence, without padding.
    Pool {
        max: bool,
        kernel: usize,
        stride: usize,
    },
    /// The mean of each channel: image or sequence to flat `C`.
    GlobalAvgPool,
    /// Image or sequence to flat `C*H*W` / `C*L`.
    Flatten,
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
    /// identity or, with `project`, a `Dense` from `inputs` to `outputs` held in the field
    /// (on feature maps a 1x1 convolution with stride `stride`).
    Residual {
        project: bool,
        /// The projection's stride on feature maps (1 on flat inputs).
        stride: usize,
        /// Position of the body's first layer (the first to read the block's input).
        first: usize,
        /// Position of the body's last layer, whose output is added.
        body: usize,
    },
}

impl Model {
    /// Shape of one output sample.
    pub fn output(&self) -> Shape {
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
                LayerKind::Dense { .. }
                | LayerKind::Conv { .. }
                | LayerKind::BatchNorm
                | LayerKind::User { .. } => true,
                LayerKind::Residual { project, .. } => project,
                LayerKind::Activation(_)
                | LayerKind::Standardize
                | LayerKind::Pool { .. }
                | LayerKind::GlobalAvgPool
                | LayerKind::Flatten => false,
            }
    }

    /// Whether the layer may store tensors (activations, pooling, flattening and identity
    /// adds never do).
    pub fn has_tensors(&self) -> bool {
        self.has_field()
            && !matches!(
                self.kind,
                LayerKind::Activation(_)
                    | LayerKind::Pool { .. }
                    | LayerKind::GlobalAvgPool
                    | LayerKind::Flatten
            )
    }

    /// Whether the layer keeps a `Cache<B>` beyond its input and output. Dense layers,
    /// activations, average pooling, flattening, identity adds and dense projections keep
    /// none (their cache is `()`); every other layer gets a field of its cache type (max
    /// pooling keeps its argmax, a convolution its transposed weight, and so does the 1x1
    /// convolution projecting a residual block over feature maps).
    pub fn has_cache(&self) -> bool {
        match self.kind {
            LayerKind::Residual { project, .. } => {
                project && !matches!(self.inputs, Shape::Flat(_))
            }
            _ => !matches!(
                self.kind,
                LayerKind::Dense { .. }
                    | LayerKind::Activation(_)
                    | LayerKind::Pool { max: false, .. }
                    | LayerKind::GlobalAvgPool
                    | LayerKind::Flatten
            ),
        }
    }

    /// The spans of a user layer's declared `(IN -> OUT)` widths.
    pub fn declared_spans(&self) -> Option<(Span, Span)> {
        match self.kind {
            LayerKind::User { declared, .. } => Some(declared),
            _ => None,
        }
    }

    /// The kind name reported in `LayerInfo` (`"dense"`, `"relu"`, `"residual"`, or the
    /// user's type); for the layers of `gradflow::nn::conv`, their `Forward::KIND`.
    pub fn kind_name(&self) -> &str {
        let image = matches!(self.inputs, Shape::Image { .. });
        match &self.kind {
            LayerKind::Dense { .. } => "dense",
            LayerKind::Conv { .. } if image => "conv2d",
            LayerKind::Conv { .. } => "conv1d",
            LayerKind::Pool { max: true, .. } if image => "maxpool2d",
            LayerKind::Pool { max: true, .. } => "maxpool1d",
            LayerKind::Pool { max: false, .. } if image => "avgpool2d",
            LayerKind::Pool { max: false, .. } => "avgpool1d",
            LayerKind::GlobalAvgPool => "global_avg_pool",
            LayerKind::Flatten => "flatten",
            LayerKind::Activation(a) => a.name(),
            LayerKind::BatchNorm if image => "batchnorm2d",
            LayerKind::BatchNorm => "batchnorm",
            LayerKind::Standardize => "standardize",
            LayerKind::User { name, .. } => name,
            LayerKind::Residual { project: false, .. } => "residual",
            LayerKind::Residual { project: true, .. } => "residual(project)",
        }
    }
}
