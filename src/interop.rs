//! Moving weights between gradflow and PyTorch or Keras, as safetensors files in the other
//! framework's names and layouts.
//!
//! A mapping pairs each gradflow layer field (`"dense_0"`, `"batchnorm_0"`) with the
//! framework's name for the same layer (`"0"` or `"fc1"` in a PyTorch `state_dict`, `"dense"`
//! in Keras). Dense layers, convolutions (`conv1d`, `conv2d`), batch normalizations
//! (`batchnorm`, `batchnorm1d`, `batchnorm2d`), standardizations (`standardize`) and residual
//! blocks' projections are mapped; a layer with tensors of another kind (your own) is refused with
//! [`WeightsError::Mapping`].
//!
//! | gradflow | PyTorch (`<name>.`) | Keras (`<name>/`) |
//! | --- | --- | --- |
//! | dense `weight` `[in, out]` | `Linear` `weight` `[out, in]` (transposed) | `Dense` `kernel` `[in, out]` |
//! | dense `bias` | `bias` | `bias` |
//! | conv2d `weight` `[kh, kw, in, out]` | `Conv2d` `weight` `[out, in, kh, kw]` (`permute(2, 3, 1, 0)` to import) | `Conv2D` `kernel` `[kh, kw, in, out]` |
//! | conv1d `weight` `[k, in, out]` | `Conv1d` `weight` `[out, in, k]` | `Conv1D` `kernel` `[k, in, out]` |
//! | conv `bias` | `bias` | `bias` |
//! | `residual(project)` `weight`, `bias` | `Linear`, or `Conv1d`/`Conv2d` of kernel 1 (as above) | `Dense`, `Conv1D`/`Conv2D` |
//! | batchnorm `gamma` | `BatchNorm1d` `weight` | `BatchNormalization` `gamma` |
//! | batchnorm `beta` | `bias` | `beta` |
//! | batchnorm `running_mean` | `running_mean` | `moving_mean` |
//! | batchnorm `running_var` (unbiased) | `running_var` (unbiased) | `moving_variance` (biased updates) |
//! | batchnorm `momentum` | `momentum` (same) | `1 - momentum` ([`keras::momentum`]) |
//! | batchnorm `eps` (1e-5) | `eps` (1e-5) | `epsilon` (default 1e-3: set [`keras::DEFAULT_EPSILON`]) |
//! | standardize `mean` | buffer `mean` | `Normalization` `mean` |
//! | standardize `std` | buffer `std` | `variance` = `std^2`; on import `std = max(sqrt(variance), 1e-7)` |
//!
//! PyTorch has no standardization module; the mapping's is a module with two buffers,
//! `forward(x) = (x - mean) / std`:
//!
//! ```python
//! class Standardize(torch.nn.Module):
//!     def __init__(self, n):
//!         super().__init__()
//!         self.register_buffer("mean", torch.zeros(n))
//!         self.register_buffer("std", torch.ones(n))
//!
//!     def forward(self, x):
//!         return (x - self.mean) / self.std
//! ```
//!
//! Keras' `Normalization` divides by `max(sqrt(variance), epsilon())` (1e-7,
//! [`keras::NORMALIZATION_EPSILON`]): an import reproduces that, and an export refuses a `std`
//! below 1e-7, which Keras would not divide by. Its `count` is written as 0 and ignored on
//! import.
//!
//! Activations are channels-last in gradflow (`[h, w, c]`) and channels-first in PyTorch
//! (`[c, h, w]`): a PyTorch input batch maps with `x.permute(0, 2, 3, 1)`; Keras' default
//! `channels_last` needs nothing. So `flatten` orders a map's features position-first, and
//! PyTorch's `nn.Flatten` channel-first: the PyTorch mapping reorders the features of the first
//! dense layer after a `flatten` (and of batchnorm and standardize layers before it), and
//! refuses a residual block or a layer of your own there.
//!
//! `momentum` and `eps` are not tensors: set them on the layer (`net.batchnorm_0.eps`) from
//! the framework's settings. PyTorch's `num_batches_tracked` is written as 0 on export (so
//! `load_state_dict` is strict-clean) and ignored on import.

use crate::nn::{Network, Scalar};
use crate::weights::{
    parse, read_expected, serialize, tensor_name, Domain, Entry, Expected, WeightsError,
};
use safetensors::Dtype;
use std::collections::HashMap;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

/// Every kind of batch normalization layer, as a pattern: all map the same way.
macro_rules! batchnorms {
    () => {
        "batchnorm" | "batchnorm1d" | "batchnorm2d"
    };
}

/// A framework whose names and layouts a mapping targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framework {
    PyTorch,
    Keras,
}

impl Framework {
    /// The `format` metadata of the files exported for the framework (`pt` is also what
    /// `safetensors.torch.save_file` writes).
    fn format_tag(self) -> &'static str {
        match self {
            Framework::PyTorch => "pt",
            Framework::Keras => "keras",
        }
    }
}

/// How one gradflow tensor appears in the framework's file.
struct Mapped {
    ours: String,
    theirs: String,
    shape: Vec<usize>,
    their_shape: Vec<usize>,
    /// Axis `i` of their layout is axis `axes[i]` of ours (empty: the same layout).
    axes: &'static [usize],
    /// How their values relate to ours.
    values: Values,
    /// For a tensor indexed by the features of a flattened feature map: their order.
    flat_order: Option<FlatOrder>,
}

/// A feature map of `spatial` positions of `channels` channels, flattened: gradflow (and
/// Keras) flatten channels last, position-major (`s * channels + c`); PyTorch flattens its
/// channels-first maps channel-major (`c * spatial + s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlatOrder {
    spatial: usize,
    channels: usize,
}

impl FlatOrder {
    /// `values`, whose outermost axis runs over the flattened features, with that axis
    /// reordered from gradflow's order to PyTorch's (`to_torch`) or back.
    fn reorder<T: Copy>(self, values: &[T], to_torch: bool) -> Vec<T> {
        let n = self.spatial * self.channels;
        let row = values.len() / n;
        let mut out = Vec::with_capacity(values.len());
        for dest in 0..n {
            let src = if to_torch {
                let (c, s) = (dest / self.spatial, dest % self.spatial);
                s * self.channels + c
            } else {
                let (s, c) = (dest / self.channels, dest % self.channels);
                c * self.spatial + s
            };
            out.extend_from_slice(&values[src * row..(src + 1) * row]);
        }
        out
    }
}

/// Kinds of layers that act on each feature alone, keeping the features' order: the
/// activations, under their own names.
fn elementwise(kind: &str) -> bool {
    use crate::nn::activation::{
        ActivationFn, GeluFn, IdentityFn, LeakyReluFn, ReluFn, SigmoidFn, TanhFn,
    };
    [
        ReluFn::NAME,
        LeakyReluFn::NAME,
        SigmoidFn::NAME,
        TanhFn::NAME,
        GeluFn::NAME,
        IdentityFn::NAME,
    ]
    .contains(&kind)
}

/// For PyTorch: the layers whose tensors are indexed by the features of a flattened feature
/// map (the first dense layer after a `flatten` of an image or sequence, and the batchnorm and
/// standardize layers before it), with the map's order. A residual block whose input is in
/// that order (its skip would add the features in gradflow's order), or another kind of layer
/// before the first dense one, is refused: its PyTorch counterpart would see other features.
fn flat_orders<T: Scalar, N: Network<T> + ?Sized>(
) -> Result<HashMap<&'static str, FlatOrder>, WeightsError> {
    let mut orders = HashMap::new();
    let mut pending: Option<FlatOrder> = None;
    // Positions in `LAYERS` of the layers whose outputs are flattened features.
    let mut in_flat_order = Vec::new();
    let refuse = |layer: &str, problem: String| {
        Err(WeightsError::Mapping {
            name: layer.to_string(),
            problem,
        })
    };
    for (position, l) in N::LAYERS.iter().enumerate() {
        if l.kind == "flatten" {
            if let Some((&channels, positions)) = l.input_shape.split_last() {
                if !positions.is_empty() {
                    let spatial = positions.iter().product();
                    pending = Some(FlatOrder { spatial, channels });
                    in_flat_order.push(position);
                }
            }
            continue;
        }
        let reads_flat = l.source.is_some_and(|s| in_flat_order.contains(&s));
        if l.kind.starts_with("residual") && reads_flat {
            return refuse(
                l.name,
                format!(
                    "residual block `{}` takes the features of a flattened feature map, which PyTorch orders channel-first and gradflow position-first; this mapping does not reorder a residual block's features (save with `gradflow::weights` instead)",
                    l.name
                ),
            );
        }
        let Some(order) = pending else { continue };
        match l.kind {
            "dense" => {
                orders.insert(l.name, order);
                pending = None;
            }
            batchnorms!() | "standardize" => {
                orders.insert(l.name, order);
                in_flat_order.push(position);
            }
            kind if elementwise(kind) => in_flat_order.push(position),
            kind => {
                return refuse(
                    l.name,
                    format!(
                        "a `{kind}` layer between `flatten` and the first dense layer: PyTorch orders a flattened feature map channel-first, gradflow position-first, and this mapping reorders only dense, batchnorm and standardize layers there (save with `gradflow::weights` instead)"
                    ),
                );
            }
        }
    }
    Ok(orders)
}

/// How a framework's values of a tensor relate to gradflow's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Values {
    /// The same numbers.
    Same,
    /// Keras' `Normalization` `variance` for a standardization's `std`: `std^2`, and
    /// `max(sqrt(variance), 1e-7)` back, as Keras divides.
    StdAsVariance,
}

impl Values {
    /// Their values for ours, or why they cannot be written.
    fn export<T: Scalar>(self, ours: &[T]) -> Result<Vec<T>, String> {
        match self {
            Values::Same => Ok(ours.to_vec()),
            Values::StdAsVariance => ours
                .iter()
                .map(|&std| {
                    let std = std.to_f64();
                    let variance = T::from_f64(std * std);
                    if std < keras::NORMALIZATION_EPSILON {
                        Err(format!(
                            "holds {std:e}, below the 1e-7 that Keras' `Normalization` divides by at least, so Keras would compute other outputs"
                        ))
                    } else if !variance.is_finite() {
                        Err(format!(
                            "holds {std:e}, whose square (Keras' `variance`) the element type cannot hold"
                        ))
                    } else {
                        Ok(variance)
                    }
                })
                .collect(),
        }
    }

    /// Our values for theirs (already checked to lie in [`Values::domain`]).
    fn import<T: Scalar>(self, theirs: Vec<T>) -> Vec<T> {
        match self {
            Values::Same => theirs,
            Values::StdAsVariance => theirs
                .into_iter()
                .map(|v| T::from_f64(v.to_f64().sqrt().max(keras::NORMALIZATION_EPSILON)))
                .collect(),
        }
    }

    /// What their file may hold for tensor `ours`.
    fn domain(self, ours: &str) -> Domain {
        match self {
            Values::Same => Domain::of_stored(ours),
            Values::StdAsVariance => Domain::NonNegative,
        }
    }
}

fn external_name(framework: Framework, prefix: &str, name: &str) -> String {
    match framework {
        Framework::PyTorch => format!("{prefix}.{name}"),
        Framework::Keras => format!("{prefix}/{name}"),
    }
}

/// Why `theirs` cannot name a layer in `framework`, if it cannot: PyTorch's module paths are
/// dot-separated names (`features.0`), none empty; a Keras layer name is one nonempty
/// segment of a variable path (`dense/kernel`).
fn bad_external_name(framework: Framework, theirs: &str) -> Option<&'static str> {
    match framework {
        Framework::PyTorch if theirs.is_empty() => {
            Some("which is empty: its tensors would be named `.weight` and the like")
        }
        Framework::Keras if theirs.is_empty() => {
            Some("which is empty: its variables would be named `/kernel` and the like")
        }
        Framework::PyTorch if theirs.split('.').any(str::is_empty) => Some(
            "which has an empty part between dots: PyTorch's load_state_dict would match no module",
        ),
        Framework::Keras if theirs.contains('/') => {
            Some("which holds a `/`, the separator of Keras' variable paths")
        }
        _ => None,
    }
}

fn plan<T: Scalar, N: Network<T> + ?Sized>(
    net: &N,
    framework: Framework,
    names: &[(&str, &str)],
) -> Result<Vec<Mapped>, WeightsError> {
    // An entry for a layer the network does not have (a typo, a stale index) would otherwise
    // be ignored, and so would a second entry for one layer.
    for (k, &(layer, _)) in names.iter().enumerate() {
        let problem = if !N::LAYERS.iter().any(|l| l.name == layer) {
            let ours: Vec<&str> = N::LAYERS.iter().map(|l| l.name).collect();
            format!(
                "the mapping names gradflow layer `{layer}`, which this network does not have (its layers: {})",
                ours.join(", ")
            )
        } else if let Some(why) = bad_external_name(framework, names[k].1) {
            format!(
                "the mapping gives gradflow layer `{layer}` the {framework:?} name `{}`, {why}",
                names[k].1
            )
        } else if names[..k].iter().any(|&(l, _)| l == layer) {
            format!("the mapping names gradflow layer `{layer}` twice")
        } else if let Some(&(other, theirs)) = names[..k].iter().find(|&&(_, t)| t == names[k].1) {
            format!(
                "the mapping gives gradflow layers `{other}` and `{layer}` one {framework:?} name, `{theirs}`: one framework layer cannot hold both"
            )
        } else {
            continue;
        };
        return Err(WeightsError::Mapping {
            name: layer.to_string(),
            problem,
        });
    }
    let orders = match framework {
        Framework::PyTorch => flat_orders::<T, N>()?,
        Framework::Keras => HashMap::new(),
    };
    let mut plan = Vec::new();
    let mut error = None;
    net.visit_tensors(&mut |t| {
        if error.is_some() {
            return;
        }
        let ours = tensor_name(t.layer, t.name);
        let kind = N::LAYERS
            .iter()
            .find(|l| l.name == t.layer)
            .map_or("", |l| l.kind);
        let Some(&(_, prefix)) = names.iter().find(|(layer, _)| *layer == t.layer) else {
            error = Some(WeightsError::Mapping {
                name: ours,
                problem: format!(
                    "the mapping names no {framework:?} layer for gradflow layer `{}`",
                    t.layer
                ),
            });
            return;
        };
        const SAME: &[usize] = &[];
        let mut values = Values::Same;
        let (theirs, axes) = match (framework, kind, t.name) {
            (Framework::PyTorch, "dense", "weight") => ("weight", &[1, 0][..]),
            (Framework::PyTorch, "conv2d", "weight") => ("weight", &[3, 2, 0, 1][..]),
            (Framework::PyTorch, "conv1d", "weight") => ("weight", &[2, 1, 0][..]),
            // A residual block's projection: a dense layer, or a 1x1 (1) convolution.
            (Framework::PyTorch, "residual(project)", "weight") => match t.shape.len() {
                2 => ("weight", &[1, 0][..]),
                3 => ("weight", &[2, 1, 0][..]),
                _ => ("weight", &[3, 2, 0, 1][..]),
            },
            (Framework::PyTorch, "residual(project)", "bias") => ("bias", SAME),
            (Framework::Keras, "residual(project)", "weight") => ("kernel", SAME),
            (Framework::Keras, "residual(project)", "bias") => ("bias", SAME),
            (Framework::PyTorch, "dense" | "conv1d" | "conv2d", "bias") => ("bias", SAME),
            (Framework::Keras, "dense" | "conv1d" | "conv2d", "weight") => ("kernel", SAME),
            (Framework::Keras, "dense" | "conv1d" | "conv2d", "bias") => ("bias", SAME),
            (Framework::PyTorch, batchnorms!(), "gamma") => ("weight", SAME),
            (Framework::PyTorch, batchnorms!(), "beta") => ("bias", SAME),
            (Framework::PyTorch, batchnorms!(), n @ ("running_mean" | "running_var")) => (n, SAME),
            (Framework::Keras, batchnorms!(), n @ ("gamma" | "beta")) => (n, SAME),
            (Framework::Keras, batchnorms!(), "running_mean") => ("moving_mean", SAME),
            (Framework::Keras, batchnorms!(), "running_var") => ("moving_variance", SAME),
            (Framework::PyTorch, "standardize", n @ ("mean" | "std")) => (n, SAME),
            (Framework::Keras, "standardize", "mean") => ("mean", SAME),
            (Framework::Keras, "standardize", "std") => {
                values = Values::StdAsVariance;
                ("variance", SAME)
            }
            _ => {
                error = Some(WeightsError::Mapping {
                    name: ours,
                    problem: format!(
                        "no {framework:?} mapping for tensor `{}` of a `{kind}` layer (only dense, convolution, batchnorm, standardize layers and residual projections are mapped)",
                        t.name
                    ),
                });
                return;
            }
        };
        let their_shape = if axes.is_empty() {
            t.shape.to_vec()
        } else {
            axes.iter().map(|&a| t.shape[a]).collect()
        };
        // A dense layer's bias runs over its outputs, not the flattened features.
        let flat_order = orders
            .get(t.layer)
            .copied()
            .filter(|_| !(kind == "dense" && t.name == "bias"));
        plan.push(Mapped {
            ours,
            theirs: external_name(framework, prefix, theirs),
            shape: t.shape.to_vec(),
            their_shape,
            axes,
            values,
            flat_order,
        });
    });
    if let Some(e) = error {
        return Err(e);
    }
    // Two gradflow tensors under one name: an export could not write both, and an import
    // would load one file tensor into both layers.
    let mut owners: HashMap<&str, &str> = HashMap::new();
    for m in &plan {
        if let Some(first) = owners.insert(&m.theirs, &m.ours) {
            return Err(WeightsError::Mapping {
                name: m.ours.clone(),
                problem: format!(
                    "is mapped to `{}`, as `{first}` is: every tensor needs a name of its own",
                    m.theirs
                ),
            });
        }
    }
    Ok(plan)
}

/// A row-major tensor of shape `shape` with its axes reordered: axis `i` of the result is axis
/// `axes[i]` of the input (`[1, 0]` transposes a matrix).
fn permuted<T: Copy>(values: &[T], shape: &[usize], axes: &[usize]) -> Vec<T> {
    let strides: Vec<usize> = (0..shape.len())
        .map(|i| shape[i + 1..].iter().product())
        .collect();
    let out_shape: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    let mut index = vec![0; axes.len()];
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        let at: usize = index.iter().zip(axes).map(|(&i, &a)| i * strides[a]).sum();
        out.push(values[at]);
        // The next index of the output, last axis fastest.
        for axis in (0..index.len()).rev() {
            index[axis] += 1;
            if index[axis] < out_shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// The axes that undo `axes`.
fn inverse(axes: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; axes.len()];
    for (i, &a) in axes.iter().enumerate() {
        inv[a] = i;
    }
    inv
}

fn export<T: Scalar, N: Network<T> + ?Sized>(
    net: &N,
    framework: Framework,
    names: &[(&str, &str)],
) -> Result<Vec<u8>, WeightsError> {
    crate::weights::check_layout(net)?;
    let plan = plan(net, framework, names)?;
    // What import would refuse is not written: a diverged network (a NaN, a negative variance)
    // is an error here, not a file that PyTorch or Keras loads.
    crate::weights::check_savable(net)?;
    // The settings are not in the file, but a network whose batchnorm momentum is 1.5 is
    // one no loader accepts: refused as `weights::to_bytes` refuses it.
    crate::weights::check_setting_values(net)?;
    let mut values: HashMap<String, Vec<T>> = HashMap::new();
    net.visit_tensors(&mut |t| {
        values.insert(tensor_name(t.layer, t.name), t.data.to_vec());
    });
    let mut entries = Vec::new();
    let mut counters = Vec::new();
    for m in &plan {
        let v = values.remove(&m.ours).unwrap_or_default();
        let v = m
            .values
            .export(&v)
            .map_err(|problem| WeightsError::Mapping {
                name: m.ours.clone(),
                problem,
            })?;
        let v = match m.flat_order {
            Some(order) => order.reorder(&v, true),
            None => v,
        };
        let v = if m.axes.is_empty() {
            v
        } else {
            permuted(&v, &m.shape, m.axes)
        };
        entries.push(Entry::new(m.theirs.clone(), &m.their_shape, &v));
        counters.extend(counter(framework, &m.theirs));
    }
    for name in counters {
        entries.push(Entry {
            name,
            dtype: Dtype::I64,
            shape: vec![],
            bytes: 0i64.to_le_bytes().to_vec(),
        });
    }
    let metadata = HashMap::from([("format".to_string(), framework.format_tag().to_string())]);
    serialize(&entries, metadata)
}

/// The framework's step counter that goes with tensor `theirs`, written as 0 and ignored on
/// import: PyTorch's batchnorm `num_batches_tracked`, Keras' `Normalization` `count`.
fn counter(framework: Framework, theirs: &str) -> Option<String> {
    let (prefix, counter) = match framework {
        Framework::PyTorch => (theirs.strip_suffix(".running_var")?, ".num_batches_tracked"),
        Framework::Keras => (theirs.strip_suffix("/variance")?, "/count"),
    };
    Some(format!("{prefix}{counter}"))
}

fn import<T: Scalar, N: Network<T> + ?Sized>(
    net: &mut N,
    bytes: &[u8],
    framework: Framework,
    names: &[(&str, &str)],
) -> Result<(), WeightsError> {
    crate::weights::check_layout_mut(net)?;
    let plan = plan(net, framework, names)?;
    let file = parse(bytes)?;
    let expected: Vec<Expected> = plan
        .iter()
        .map(|m| Expected {
            name: m.theirs.clone(),
            shape: m.their_shape.clone(),
            domain: m.values.domain(&m.ours),
        })
        .collect();
    let counters: Vec<String> = plan
        .iter()
        .filter_map(|m| counter(framework, &m.theirs))
        .collect();
    let ignore = |name: &str| {
        (framework == Framework::PyTorch && name.ends_with(".num_batches_tracked"))
            || counters.iter().any(|c| c == name)
    };
    let values = read_expected::<T>(&file, &expected, &ignore)
        .map_err(|e| crate::weights::hint_format(e, bytes, framework.format_tag()))?;
    let mut by_name: HashMap<&str, Vec<T>> = HashMap::new();
    for (m, v) in plan.iter().zip(values) {
        let v = m.values.import(v);
        let v = if m.axes.is_empty() {
            v
        } else {
            permuted(&v, &m.their_shape, &inverse(m.axes))
        };
        let v = match m.flat_order {
            Some(order) => order.reorder(&v, false),
            None => v,
        };
        by_name.insert(m.ours.as_str(), v);
    }
    net.visit_tensors_mut(&mut |t| {
        if let Some(v) = by_name.get(tensor_name(t.layer, t.name).as_str()) {
            t.data.copy_from_slice(v);
        }
    });
    Ok(())
}

/// PyTorch: `state_dict` names (`<module>.weight`), `Linear` weights `[out, in]`, `Conv2d`
/// weights `[out, in, kh, kw]`.
pub mod pytorch {
    use super::*;

    /// The safetensors bytes of `net` as a PyTorch `state_dict`, with each gradflow layer
    /// `names[i].0` renamed to module `names[i].1` (`safetensors.torch.load_file`, then
    /// `model.load_state_dict`). Refused, as [`crate::weights::to_bytes`] refuses, when a
    /// tensor holds a NaN, an infinity or a value out of its domain.
    pub fn export<T: Scalar, N: Network<T> + ?Sized>(
        net: &N,
        names: &[(&str, &str)],
    ) -> Result<Vec<u8>, WeightsError> {
        super::export(net, Framework::PyTorch, names)
    }

    /// Loads a PyTorch `state_dict` saved as safetensors (`safetensors.torch.save_file(model.state_dict(), ..)`)
    /// into `net`. Every mapped tensor must be present with `T`'s dtype and PyTorch's shape;
    /// `num_batches_tracked` is ignored; any other tensor is an error. On error `net` is
    /// unchanged.
    pub fn import<T: Scalar, N: Network<T> + ?Sized>(
        net: &mut N,
        bytes: &[u8],
        names: &[(&str, &str)],
    ) -> Result<(), WeightsError> {
        super::import(net, bytes, Framework::PyTorch, names)
    }

    /// gradflow's batchnorm `momentum` for PyTorch's `momentum`: the same number.
    pub fn momentum(pytorch_momentum: f64) -> f64 {
        pytorch_momentum
    }
}

/// Keras 3: `<layer name>/<variable name>` (`dense/kernel`), `Dense` kernels `[in, out]`,
/// `Conv2D` kernels `[kh, kw, in, out]` (gradflow's own layouts).
pub mod keras {
    use super::*;

    /// Keras' default `BatchNormalization` epsilon (gradflow's and PyTorch's is 1e-5).
    pub const DEFAULT_EPSILON: f64 = 1e-3;

    /// Keras' default `epsilon()` (`keras.config.epsilon()`), the least a `Normalization`
    /// layer divides by: `(x - mean) / max(sqrt(variance), 1e-7)`.
    pub const NORMALIZATION_EPSILON: f64 = 1e-7;

    /// The safetensors bytes of `net` under Keras variable paths (`<layer>/<variable>`), each
    /// gradflow layer `names[i].0` renamed to Keras layer `names[i].1`. In Keras, set each
    /// layer's weights from these (`layer.set_weights`), in the layer's variable order.
    /// Refused, as [`crate::weights::to_bytes`] refuses, when a tensor holds a NaN, an
    /// infinity or a value out of its domain.
    pub fn export<T: Scalar, N: Network<T> + ?Sized>(
        net: &N,
        names: &[(&str, &str)],
    ) -> Result<Vec<u8>, WeightsError> {
        super::export(net, Framework::Keras, names)
    }

    /// Loads Keras weights saved as safetensors under `<layer name>/<variable name>` into
    /// `net`; every mapped tensor must be present, nothing else. On error `net` is unchanged.
    pub fn import<T: Scalar, N: Network<T> + ?Sized>(
        net: &mut N,
        bytes: &[u8],
        names: &[(&str, &str)],
    ) -> Result<(), WeightsError> {
        super::import(net, bytes, Framework::Keras, names)
    }

    /// gradflow's batchnorm `momentum` (weight of the new batch) for Keras' `momentum`
    /// (weight of the old running value): `1 - keras_momentum`. Keras' default 0.99 is 0.01.
    pub fn momentum(keras_momentum: f64) -> f64 {
        1.0 - keras_momentum
    }
}
