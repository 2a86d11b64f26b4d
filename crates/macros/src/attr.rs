//! The attributes in a layer's `[...]` list: what each name means, and which
//! combinations are contradictory. Unknown and conflicting names are reported to the
//! [`Ctxt`]; the result always holds a usable value so that checking can go on.

use crate::ast::RawAttr;
use crate::ctxt::Ctxt;
use proc_macro2::Span;

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
    pub frozen: bool,
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
fn set_once<V: Copy>(
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

fn set_frozen(frozen: &mut bool, span: Span, cx: &mut Ctxt) {
    if *frozen {
        cx.error(span, "`frozen` is given twice");
    }
    *frozen = true;
}

pub fn dense_attrs(attrs: &[RawAttr], cx: &mut Ctxt) -> DenseAttrs {
    let mut init = None;
    let mut activation = None;
    let mut frozen = false;
    for attr in attrs {
        let name = attr.name.to_string();
        if let Some(i) = Initializer::from_name(&name) {
            set_once(&mut init, attr, i, "initializer", cx);
        } else if let Some(a) = Activation::from_name(&name) {
            set_once(&mut activation, attr, a, "activation", cx);
        } else if name == "frozen" {
            set_frozen(&mut frozen, attr.name.span(), cx);
        } else {
            cx.error(
                attr.name.span(),
                format!(
                    "unknown attribute `{name}` on a dense layer; valid attributes are: {}",
                    dense_attribute_names().join(", ")
                ),
            );
        }
    }
    DenseAttrs {
        init: init.map_or(Initializer::DEFAULT, |s| s.value),
        activation: activation.map(|s| s.value),
        frozen,
    }
}

pub fn layer_attrs(attrs: &[RawAttr], cx: &mut Ctxt) -> LayerAttrs {
    let mut frozen = false;
    for attr in attrs {
        let name = attr.name.to_string();
        if name == "frozen" {
            set_frozen(&mut frozen, attr.name.span(), cx);
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
