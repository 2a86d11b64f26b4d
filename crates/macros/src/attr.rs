//! The attributes in a layer's `[...]` list: what each name means, and which
//! combinations are contradictory. Unknown and conflicting names are reported to the
//! [`Ctxt`]; the result always holds a usable value so that checking can go on.

use crate::ast::RawAttr;
use crate::ctxt::Ctxt;

/// A weight initializer, named as in `gradflow::nn::Init`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initializer {
    HeNormal,
    HeUniform,
    XavierUniform,
    XavierNormal,
    LecunNormal,
    StandardUniform,
    Zeros,
    SmallNormal,
    UnitNormal,
}

impl Initializer {
    /// Used when a dense layer names no initializer: Glorot/Xavier uniform, Keras' default.
    pub const DEFAULT: Initializer = Initializer::XavierUniform;

    const NAMES: &'static [(&'static str, Initializer)] = &[
        ("he_init", Initializer::HeNormal),
        ("he_normal", Initializer::HeNormal),
        ("he_uniform", Initializer::HeUniform),
        ("xavier_init", Initializer::XavierUniform),
        ("xavier_normal", Initializer::XavierNormal),
        ("xavier_uniform", Initializer::XavierUniform),
        ("lecun_normal", Initializer::LecunNormal),
        ("standard_init", Initializer::StandardUniform),
        ("zeros", Initializer::Zeros),
        ("small_normal", Initializer::SmallNormal),
        ("unit_normal", Initializer::UnitNormal),
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, i)| *i)
    }

    /// The variant name of `gradflow::nn::Init`.
    pub fn variant(self) -> &'static str {
        match self {
            Initializer::HeNormal => "HeNormal",
            Initializer::HeUniform => "HeUniform",
            Initializer::XavierUniform => "XavierUniform",
            Initializer::XavierNormal => "XavierNormal",
            Initializer::LecunNormal => "LecunNormal",
            Initializer::StandardUniform => "StandardUniform",
            Initializer::Zeros => "Zeros",
            Initializer::SmallNormal => "SmallNormal",
            Initializer::UnitNormal => "UnitNormal",
        }
    }
}

/// An elementwise activation, usable as a dense attribute or as a standalone item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Gelu,
    Identity,
}

/// The activation keywords, as listed in error messages.
pub const ACTIVATION_NAMES: &[&str] =
    &["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity"];

impl Activation {
    const ALL: &'static [Activation] = &[
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::Identity,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The keyword, also the prefix of the generated field (`relu_3`) and the layer kind.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::Identity => "identity",
        }
    }

    /// The layer type in `gradflow::nn`.
    pub fn type_name(self) -> &'static str {
        match self {
            Activation::Relu => "Relu",
            Activation::LeakyRelu => "LeakyRelu",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::Gelu => "Gelu",
            Activation::Identity => "Identity",
        }
    }
}

/// The meaning of a dense layer's attribute list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseAttrs {
    pub init: Initializer,
    pub activation: Option<Activation>,
    /// A `BatchNorm` between the linear map and the activation.
    pub batchnorm: bool,
    pub frozen: bool,
}

/// The meaning of a residual block's `(...)` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResidualOptions {
    /// A learned `Dense` skip connection instead of the identity.
    pub project: bool,
    /// Whether an unknown option was given (perhaps a misspelt `project`): the block's
    /// widths are then not checked, to report one error rather than a cascade.
    pub unknown: bool,
}

/// The meaning of a user layer's attribute list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerAttrs {
    pub frozen: bool,
}

/// Every attribute a dense layer accepts, in the order error messages list them.
pub fn dense_attribute_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = Initializer::NAMES.iter().map(|(n, _)| *n).collect();
    names.extend(Activation::ALL.iter().map(|a| a.name()));
    names.push("batchnorm");
    names.push("frozen");
    names
}

/// The first occurrence of one kind of attribute, remembered to report a second one.
struct Seen<V> {
    name: String,
    value: V,
}

/// Records `value` from attribute `attr`, reporting a duplicate or a conflict with an
/// earlier attribute of the same kind (`what` is "initializer" or "activation").
fn set_once<V: Copy + PartialEq>(
    slot: &mut Option<Seen<V>>,
    attr: &RawAttr,
    value: V,
    what: &str,
    cx: &mut Ctxt,
) {
    let name = attr.name.to_string();
    match slot {
        Some(seen) if seen.name == name => {
            cx.error(attr.name.span(), format!("`{name}` is given twice"));
        }
        Some(seen) if seen.value == value => cx.error(
            attr.name.span(),
            format!(
                "`{name}` repeats `{}`: they are two names of one {what}; give it once",
                seen.name
            ),
        ),
        Some(seen) => cx.error(
            attr.name.span(),
            format!(
                "`{name}` conflicts with `{}`: a layer takes one {what}",
                seen.name
            ),
        ),
        None => *slot = Some(Seen { name, value }),
    }
}

/// Sets a flag attribute (`frozen`, `batchnorm`, `project`), reporting a duplicate.
fn set_flag(flag: &mut bool, attr: &RawAttr, cx: &mut Ctxt) {
    if *flag {
        cx.error(attr.name.span(), format!("`{}` is given twice", attr.name));
    }
    *flag = true;
}

pub fn dense_attrs(attrs: &[RawAttr], cx: &mut Ctxt) -> DenseAttrs {
    weighted_attrs(attrs, "a dense layer", cx)
}

/// A convolution's attributes: the same as a dense layer's (`what` is "a conv2d layer").
pub fn conv_attrs(attrs: &[RawAttr], what: &str, cx: &mut Ctxt) -> DenseAttrs {
    weighted_attrs(attrs, what, cx)
}

/// The attributes of a layer with weights; `what` names it in errors ("a dense layer").
fn weighted_attrs(attrs: &[RawAttr], what: &str, cx: &mut Ctxt) -> DenseAttrs {
    let mut init = None;
    let mut activation = None;
    let mut frozen = false;
    let mut batchnorm = false;
    for attr in attrs {
        let name = attr.name.to_string();
        if let Some(i) = Initializer::from_name(&name) {
            set_once(&mut init, attr, i, "initializer", cx);
        } else if let Some(a) = Activation::from_name(&name) {
            set_once(&mut activation, attr, a, "activation", cx);
        } else if name == "batchnorm" {
            set_flag(&mut batchnorm, attr, cx);
        } else if name == "frozen" {
            set_flag(&mut frozen, attr, cx);
        } else {
            cx.error(
                attr.name.span(),
                format!(
                    "unknown attribute `{name}` on {what}; {}valid attributes are: {}",
                    crate::suggest::did_you_mean(&name, &dense_attribute_names()),
                    dense_attribute_names().join(", ")
                ),
            );
        }
    }
    DenseAttrs {
        init: init.map_or(Initializer::DEFAULT, |s| s.value),
        activation: activation.map(|s| s.value),
        batchnorm,
        frozen,
    }
}

pub fn layer_attrs(attrs: &[RawAttr], cx: &mut Ctxt) -> LayerAttrs {
    let mut frozen = false;
    for attr in attrs {
        let name = attr.name.to_string();
        if name == "frozen" {
            set_flag(&mut frozen, attr, cx);
        } else {
            cx.error(
                attr.name.span(),
                format!(
                    "unknown attribute `{name}` on a `layer` item; the only valid attribute is: frozen \
                     (a user's layer initializes itself in `Forward::init`)"
                ),
            );
        }
    }
    LayerAttrs { frozen }
}

/// The attributes of a standalone `batchnorm`: only `frozen`.
pub fn batchnorm_attrs(attrs: &[RawAttr], cx: &mut Ctxt) -> LayerAttrs {
    let mut frozen = false;
    for attr in attrs {
        if attr.name == "frozen" {
            set_flag(&mut frozen, attr, cx);
        } else {
            cx.error(
                attr.name.span(),
                format!(
                    "unknown attribute `{}` on a `batchnorm` item; the only valid attribute is: frozen",
                    attr.name
                ),
            );
        }
    }
    LayerAttrs { frozen }
}

pub fn residual_options(options: &[RawAttr], cx: &mut Ctxt) -> ResidualOptions {
    let mut project = false;
    let mut unknown = false;
    for option in options {
        if option.name == "project" {
            set_flag(&mut project, option, cx);
        } else {
            unknown = true;
            cx.error(
                option.name.span(),
                format!(
                    "unknown option `{}` for a residual block; the only option is `project`: \
                     a learned skip connection (a dense layer on flat inputs, a 1x1 convolution \
                     on images and sequences)",
                    option.name
                ),
            );
        }
    }
    ResidualOptions { project, unknown }
}
