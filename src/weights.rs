//! Saving and loading a network's weights as [safetensors](https://huggingface.co/docs/safetensors),
//! the format PyTorch, Keras and the Hugging Face tools read.
//!
//! Every tensor that [`Network::visit_tensors`] reports (trainable parameters, frozen ones and
//! running statistics) is stored under `<layer field>.<tensor name>`, for example
//! `dense_0.weight` or `batchnorm_0.running_var`, as `F32` or `F64` after the network's element
//! type, little-endian and row-major in the shape `visit_tensors` reports. Layers' settings
//! ([`Network::visit_settings`]: batchnorm's `eps` and `momentum`) are stored beside them as
//! scalar tensors of shape `[]` (`batchnorm_0.eps`); a file without them loads, keeping the
//! network's own.
//!
//! Loading checks the whole file against the network's compile-time shapes before it writes
//! anything: a missing, extra, misshapen, wrongly typed, non-finite, truncated or corrupted
//! entry is a [`WeightsError`] naming the tensor, and the network is left as it was.
//!
//! ```
//! use gradflow::prelude::*;
//!
//! network! {
//!     pub struct Tiny<f32> {
//!         input 3,
//!         dense 4 [batchnorm, relu],
//!         dense 2,
//!     }
//! }
//!
//! let net = Tiny::new(&mut gradflow::rng(1));
//! let bytes = gradflow::weights::to_bytes(&net).unwrap();
//! let mut other = Tiny::new(&mut gradflow::rng(2));
//! gradflow::weights::from_bytes(&mut other, &bytes).unwrap();
//! assert_eq!(other.dense_0.weight, net.dense_0.weight);
//! ```

use crate::nn::{Network, Scalar};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, fs, io};

/// A problem saving or loading weights, a checkpoint or an interop file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The bytes are not a well-formed safetensors file (bad header length, header not JSON,
    /// overlapping or inconsistent offsets).
    #[error("not a valid safetensors file: {reason}")]
    Corrupt {
        /// What is wrong, as the safetensors reader put it.
        reason: String,
    },
    /// The file ends before the data of a tensor does.
    #[error("tensor `{name}`: the file ends before its data does (was it cut short?)")]
    Truncated {
        /// The tensor whose data is cut off.
        name: String,
    },
    /// The file ends inside its header: fewer bytes follow the 8-byte length than it names.
    #[error(
        "the file ends inside its {header}-byte header, after {available} bytes of it (was it cut short?)"
    )]
    TruncatedHeader {
        /// The header length the file's first 8 bytes give.
        header: u64,
        /// The header bytes present.
        available: usize,
    },
    /// A tensor the network stores is not in the file.
    #[error("tensor `{name}` is missing from the file{}", missing_hint(.name))]
    Missing {
        /// The tensor's name.
        name: String,
    },
    /// A tensor the network stores is not in the file, whose `format` metadata says it is
    /// another kind of file than the loader reads (a PyTorch export given to
    /// [`from_bytes`], gradflow weights given to a PyTorch import, a checkpoint).
    #[error("tensor `{name}` is missing from the file, which is {kind}")]
    OtherFormat {
        /// The tensor's name.
        name: String,
        /// What the file says it is, and how to load it.
        kind: &'static str,
    },
    /// The file holds a tensor the network does not have.
    #[error("tensor `{name}` in the file is not part of this network ({})", unexpected_hint(.name))]
    Unexpected {
        /// The tensor's name.
        name: String,
    },
    /// A checkpoint holds optimizer state for a tensor the network does not train: a layer
    /// frozen (or a network changed) since the checkpoint was saved.
    #[error(
        "tensor `{name}` in the checkpoint is optimizer state for a parameter this network does not train (was its layer frozen, or the network changed, since the checkpoint was saved?)"
    )]
    UntrainedState {
        /// The tensor's name (`optimizer.<slot>.<layer>.<tensor>`).
        name: String,
    },
    /// A tensor is stored with another element type than the network's.
    #[error(
        "tensor `{name}` is stored as {found}, but {expected} is expected (the network's element type for its tensors and optimizer state; in a checkpoint, U64 for its counters and U8 for its generator's seed)"
    )]
    Dtype {
        /// The tensor's name.
        name: String,
        /// The dtype needed (`F32` or `F64` after the network's element type; `U64` for a
        /// checkpoint's counters, `U8` for its generator's seed).
        expected: String,
        /// The dtype in the file.
        found: String,
    },
    /// A tensor has another shape than the network's. For a PyTorch or Keras file
    /// (`crate::interop`) both shapes are in that framework's layout (a PyTorch `Linear`
    /// weight is `[out, in]`).
    #[error("tensor `{name}` has shape {found:?} in the file, but this network needs {expected:?} there")]
    Shape {
        /// The tensor's name.
        name: String,
        /// The shape the network needs in the file.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor holds a NaN or an infinity.
    #[error(
        "tensor `{name}` holds {value} at flat index {index}: every stored value must be finite"
    )]
    NonFinite {
        /// The tensor's name.
        name: String,
        /// Row-major index of the first bad value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A tensor holds a finite value its role rules out: a negative variance or second
    /// moment, a standardization's standard deviation below `MIN_STD`, a checkpoint's
    /// generator position beyond the generator's 2^68 words.
    #[error("tensor `{name}` holds {value} at flat index {index}, but {requirement}")]
    OutOfDomain {
        /// The tensor's name.
        name: String,
        /// Row-major index of the first bad value.
        index: usize,
        /// The value.
        value: f64,
        /// What every value of the tensor must be.
        requirement: &'static str,
    },
    /// A checkpoint's metadata entry is missing or unreadable.
    #[error("checkpoint metadata `{key}`: {problem}")]
    Metadata {
        /// The metadata key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The network's tensors cannot be matched to a file's: an interop mapping cannot handle
    /// a layer or names none for it, two of the network's tensors share a name, or a layer
    /// gives a tensor a shape its data does not have.
    #[error("tensor `{name}`: {problem}")]
    Mapping {
        /// The gradflow tensor's name.
        name: String,
        /// What is missing or unsupported.
        problem: String,
    },
    /// A layer misdescribes its tensors (a layer of your own whose `PARAM_COUNT`,
    /// `visit_tensors` and `visit_tensors_mut` disagree): refused before anything is written,
    /// to a file or to the network. Savers, which only read the network, check
    /// `PARAM_COUNT` against `visit_tensors`; loaders and checkpoint saves also check
    /// `visit_tensors_mut`.
    #[error("{0}")]
    Layout(#[from] crate::nn::LayoutError),
    /// Writing the file failed inside the safetensors encoder.
    #[error("could not encode safetensors: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },
}

pub use gradflow_nn::layer::tensor_name;

/// The safetensors dtype of `T` (`F32` or `F64`).
pub(crate) fn dtype_of<T: Scalar>() -> Dtype {
    if core::mem::size_of::<T>() == 8 {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

/// `values` as little-endian bytes of `T`'s width. Exact: an f32 goes through f64 and back.
pub(crate) fn encode_values<T: Scalar>(values: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(core::mem::size_of_val(values));
    for v in values {
        if dtype_of::<T>() == Dtype::F64 {
            out.extend_from_slice(&v.to_f64().to_le_bytes());
        } else {
            out.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
        }
    }
    out
}

/// One tensor to be written.
pub(crate) struct Entry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Entry {
    pub(crate) fn new<T: Scalar>(name: String, shape: &[usize], values: &[T]) -> Self {
        Entry {
            name,
            dtype: dtype_of::<T>(),
            shape: shape.to_vec(),
            bytes: encode_values(values),
        }
    }
}

/// The safetensors bytes of `entries`, with `metadata` in the header.
pub(crate) fn serialize(
    entries: &[Entry],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, WeightsError> {
    let encode = |e: SafeTensorError| WeightsError::Encode {
        reason: e.to_string(),
    };
    // The encoder panics on a repeated name (a layer whose tensors share one).
    let mut names = BTreeSet::new();
    if let Some(e) = entries.iter().find(|e| !names.insert(e.name.as_str())) {
        return Err(WeightsError::Encode {
            reason: format!(
                "two tensors are named `{}`: every tensor in a file needs a name of its own",
                e.name
            ),
        });
    }
    let views = entries
        .iter()
        .map(|e| {
            TensorView::new(e.dtype, e.shape.clone(), &e.bytes).map(|view| (e.name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(encode)?;
    safetensors::serialize(views, Some(metadata)).map_err(encode)
}

/// What an unexpected tensor suggests: a checkpoint's optimizer state or counters read as
/// plain weights, or else a file of another network.
fn unexpected_hint(name: &str) -> &'static str {
    const CHECKPOINT: [&str; 3] = ["optimizer.", "progress.", "rng."];
    if CHECKPOINT.iter().any(|prefix| name.starts_with(prefix)) {
        "a checkpoint? load it with `checkpoint::load`, which restores the optimizer too"
    } else {
        "a file of another network?"
    }
}

/// What a missing tensor may mean: optimizer state is missing from a checkpoint when a layer
/// that was frozen then is trained now.
fn missing_hint(name: &str) -> &'static str {
    if name.starts_with("optimizer.") {
        " (optimizer state for a parameter the checkpoint did not train: was its layer unfrozen since the checkpoint was saved? To train it from there, load the checkpoint into the network as it was, save its weights with `weights::save`, and load those into this network with a fresh optimizer)"
    } else {
        ""
    }
}

/// `error`, or for a missing tensor in a file whose `format` metadata names another kind of
/// file than `expected` (the tag of the files the loader reads), what that file is and how
/// to load it ([`WeightsError::OtherFormat`]).
pub(crate) fn hint_format(error: WeightsError, bytes: &[u8], expected: &str) -> WeightsError {
    let WeightsError::Missing { name } = error else {
        return error;
    };
    let tag = SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, header)| header.metadata().as_ref()?.get("format").cloned());
    let kind = match tag.as_deref() {
        Some(tag) if tag == expected => None,
        Some("gradflow") => Some(
            "gradflow weights (its `format` says `gradflow`): load it with `weights::load` or \
             `weights::from_bytes`",
        ),
        Some("pt") => Some(
            "a PyTorch state_dict (its `format` says `pt`): load it with \
             `interop::pytorch::import`, which maps PyTorch's names and layouts to the \
             network's",
        ),
        Some("keras") => Some(
            "a set of Keras weights (its `format` says `keras`): load it with \
             `interop::keras::import`",
        ),
        Some(tag) if tag.starts_with("gradflow-checkpoint") => Some(
            "a gradflow checkpoint (its `format` says `gradflow-checkpoint ..`): resume from it \
             with `checkpoint::load`",
        ),
        _ => None,
    };
    match kind {
        Some(kind) => WeightsError::OtherFormat { name, kind },
        None => WeightsError::Missing { name },
    }
}

/// Parses `bytes`, naming the tensor a truncated file cuts off.
pub(crate) fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, WeightsError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| match e {
        SafeTensorError::MetadataIncompleteBuffer => match truncated_tensor(bytes) {
            Some(name) => WeightsError::Truncated { name },
            None => WeightsError::Corrupt {
                reason: "the data does not end where the header says the last tensor ends"
                    .to_string(),
            },
        },
        SafeTensorError::InvalidHeaderLength => match header_length(bytes) {
            Some(header) => WeightsError::TruncatedHeader {
                header,
                available: bytes.len() - 8,
            },
            None => WeightsError::Corrupt {
                reason: SafeTensorError::InvalidHeaderLength.to_string(),
            },
        },
        SafeTensorError::TensorInvalidInfo => WeightsError::Corrupt {
            reason: mis_sized_tensor(bytes)
                .unwrap_or_else(|| SafeTensorError::TensorInvalidInfo.to_string()),
        },
        other => WeightsError::Corrupt {
            reason: other.to_string(),
        },
    })?;
    // safetensors reads the header into a map, which keeps the last of two entries with the
    // same name and drops the other without a word.
    match header(bytes).and_then(first_repeated_name) {
        Some(name) => Err(WeightsError::Corrupt {
            reason: format!("the header names tensor `{name}` twice"),
        }),
        None => Ok(file),
    }
}

/// The JSON header of a safetensors file: the bytes after the 8-byte length, as many as it
/// gives; `None` when the file is too short for them.
fn header(bytes: &[u8]) -> Option<&[u8]> {
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = usize::try_from(len).ok()?.checked_add(8)?;
    bytes.get(8..end)
}

/// The first key of the JSON object `header` that appears twice in it.
fn first_repeated_name(header: &[u8]) -> Option<String> {
    struct FirstRepeated(Option<String>);
    impl<'de> serde::Deserialize<'de> for FirstRepeated {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(FirstRepeated(None))
        }
    }
    impl<'de> serde::de::Visitor<'de> for FirstRepeated {
        type Value = FirstRepeated;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
            // The whole map is read: serde_json refuses an object left unfinished.
            let (mut seen, mut repeated) = (BTreeSet::new(), None);
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    repeated.get_or_insert(key);
                }
            }
            Ok(FirstRepeated(repeated))
        }
    }
    serde_json::from_slice::<FirstRepeated>(header).ok()?.0
}

/// The header length in the first 8 bytes, when it runs past the end of `bytes`.
fn header_length(bytes: &[u8]) -> Option<u64> {
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    (len > (bytes.len() - 8) as u64).then_some(len)
}

/// The first tensor (by offset) whose data runs past the end of `bytes`, read from the header.
fn truncated_tensor(bytes: &[u8]) -> Option<String> {
    let header_bytes = header(bytes)?;
    let available = (bytes.len() - 8 - header_bytes.len()) as u64;
    let header: serde_json::Value = serde_json::from_slice(header_bytes).ok()?;
    let mut tensors: Vec<(u64, &str)> = header
        .as_object()?
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .filter_map(|(name, info)| {
            let offsets = info.get("data_offsets")?.as_array()?;
            Some((offsets.get(1)?.as_u64()?, name.as_str()))
        })
        .collect();
    tensors.sort();
    tensors
        .into_iter()
        .find(|&(stop, _)| stop > available)
        .map(|(_, name)| name.to_string())
}

/// Which tensor's dtype and shape disagree with the bytes its offsets span (safetensors' own
/// error names none), and how.
fn mis_sized_tensor(bytes: &[u8]) -> Option<String> {
    let header: serde_json::Value = serde_json::from_slice(header(bytes)?).ok()?;
    let mut tensors: Vec<_> = header.as_object()?.iter().collect();
    tensors.sort_by_key(|(name, _)| name.as_str());
    tensors.into_iter().find_map(|(name, info)| {
        let dtype: Dtype = serde_json::from_value(info.get("dtype")?.clone()).ok()?;
        let shape: Vec<usize> = serde_json::from_value(info.get("shape")?.clone()).ok()?;
        let offsets: [u64; 2] = serde_json::from_value(info.get("data_offsets")?.clone()).ok()?;
        let bits = shape
            .iter()
            .try_fold(dtype.bitsize() as u64, |n, &d| n.checked_mul(d as u64))?;
        let span = offsets[1].checked_sub(offsets[0])?;
        (bits != span * 8).then(|| {
            format!(
                "tensor `{name}`: dtype {dtype} and shape {shape:?} need {} bytes, but its data_offsets span {span}",
                bits.div_ceil(8)
            )
        })
    })
}

/// A tensor the reader expects: its name, shape and domain.
pub(crate) struct Expected {
    pub name: String,
    pub shape: Vec<usize>,
    pub domain: Domain,
}

/// The values a stored tensor may hold besides being finite. A loaded batchnorm variance
/// below 0 or a standardization's `std` of 0 would make every later output NaN or infinite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Domain {
    /// Any finite value.
    Finite,
    /// A variance or a second moment: `>= 0`.
    NonNegative,
    /// A standard deviation that inputs are divided by: at least `MIN_STD`.
    Std,
}

impl Domain {
    /// The domain of tensor `name` of layer field `layer`: a batchnorm's `running_var` and a
    /// standardization's `std` are restricted. `network!` names those layers' fields
    /// `batchnorm_<k>` and `standardize_<k>`, and a user layer's `layer_<k>`, so a user layer's
    /// own tensor of the same name stays unrestricted.
    pub(crate) fn of(layer: &str, name: &str) -> Self {
        match name {
            "running_var" if layer.starts_with("batchnorm_") => Domain::NonNegative,
            "std" if layer.starts_with("standardize_") => Domain::Std,
            _ => Domain::Finite,
        }
    }

    /// [`Domain::of`] for a stored name, `<layer>.<tensor>`.
    pub(crate) fn of_stored(name: &str) -> Self {
        match name.rsplit_once('.') {
            Some((layer, tensor)) => Self::of(layer, tensor),
            None => Self::of("", name),
        }
    }

    fn admits(self, value: f64) -> bool {
        match self {
            Domain::Finite => true,
            Domain::NonNegative => value >= 0.0,
            Domain::Std => value >= crate::nn::standardize::MIN_STD,
        }
    }

    fn requirement(self) -> &'static str {
        match self {
            Domain::Finite => "it must be finite",
            Domain::NonNegative => "a variance cannot be negative",
            Domain::Std => "a standard deviation to divide by must be at least MIN_STD (1.2e-38, the smallest normal f32)",
        }
    }
}

/// Refuses `values` of tensor `name` if one lies outside `domain`.
fn check_domain<T: Scalar>(name: &str, values: &[T], domain: Domain) -> Result<(), WeightsError> {
    match values
        .iter()
        .map(|v| v.to_f64())
        .enumerate()
        .find(|&(_, v)| !domain.admits(v))
    {
        Some((index, value)) => Err(WeightsError::OutOfDomain {
            name: name.to_string(),
            index,
            value,
            requirement: domain.requirement(),
        }),
        None => Ok(()),
    }
}

/// Every setting's value is finite and one its layer admits (`Setting::admits`): what
/// [`from_bytes`] refuses in a file, for writers whose format has no place for settings.
pub(crate) fn check_setting_values<T: Scalar, N: Network<T> + ?Sized>(
    net: &N,
) -> Result<(), WeightsError> {
    let mut result = Ok(());
    net.visit_settings(&mut |s| {
        let value = s.value.to_f64();
        if result.is_err() {
            return;
        }
        let name = tensor_name(s.layer, s.name);
        // The errors `from_bytes` gives for the same value in a file.
        if !value.is_finite() {
            result = Err(WeightsError::NonFinite {
                name,
                index: 0,
                value,
            });
        } else if !(s.admits)(value) {
            result = Err(WeightsError::OutOfDomain {
                name,
                index: 0,
                value,
                requirement: s.requirement,
            });
        }
    });
    result
}

/// Refuses to save `net` if one of its tensors holds a value that loading would refuse: a NaN
/// or an infinity anywhere, a negative batchnorm variance, a standardization's `std` below
/// `MIN_STD`. The error names the tensor as gradflow does (`<layer>.<tensor>`).
pub(crate) fn check_savable<T: Scalar, N: Network<T> + ?Sized>(
    net: &N,
) -> Result<(), WeightsError> {
    let mut result = Ok(());
    net.visit_tensors(&mut |t| {
        if result.is_err() {
            return;
        }
        let name = tensor_name(t.layer, t.name);
        result = match t.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            Some((index, value)) => Err(WeightsError::NonFinite {
                name,
                index,
                value: value.to_f64(),
            }),
            None => check_domain(&name, t.data, Domain::of(t.layer, t.name)),
        };
    });
    result
}

/// Reads every `expected` tensor from `file`, checking dtype (`T`'s), shape, finiteness and
/// domain,
/// then checks that the file holds nothing else (but names for which `ignore` is true).
/// Nothing is written anywhere: the caller writes the values once everything has passed.
pub(crate) fn read_expected<T: Scalar>(
    file: &SafeTensors<'_>,
    expected: &[Expected],
    ignore: &dyn Fn(&str) -> bool,
) -> Result<Vec<Vec<T>>, WeightsError> {
    // One file tensor would be loaded into both (`to_bytes` refuses to write such a network).
    let mut seen = BTreeSet::new();
    if let Some(e) = expected.iter().find(|e| !seen.insert(e.name.as_str())) {
        return Err(WeightsError::Mapping {
            name: e.name.clone(),
            problem: "two of the network's tensors have this name, and one file tensor cannot \
                      load both: every tensor needs a name of its own"
                .to_string(),
        });
    }
    let mut out = Vec::with_capacity(expected.len());
    for e in expected {
        let view = file.tensor(&e.name).map_err(|_| WeightsError::Missing {
            name: e.name.clone(),
        })?;
        let values = decode::<T>(&e.name, &view, &e.shape)?;
        check_domain(&e.name, &values, e.domain)?;
        out.push(values);
    }
    let known: BTreeSet<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    let mut names = file.names();
    names.sort_unstable();
    if let Some(extra) = names.into_iter().find(|n| !known.contains(n) && !ignore(n)) {
        return Err(WeightsError::Unexpected {
            name: extra.to_string(),
        });
    }
    Ok(out)
}

/// The values of one tensor view, checked against `T` and `shape`.
pub(crate) fn decode<T: Scalar>(
    name: &str,
    view: &TensorView<'_>,
    shape: &[usize],
) -> Result<Vec<T>, WeightsError> {
    let dtype = dtype_of::<T>();
    if view.dtype() != dtype {
        return Err(WeightsError::Dtype {
            name: name.to_string(),
            expected: format!("{dtype:?}"),
            found: format!("{:?}", view.dtype()),
        });
    }
    if view.shape() != shape {
        return Err(WeightsError::Shape {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let values: Vec<f64> = if dtype == Dtype::F64 {
        view.data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    } else {
        view.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect()
    };
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(WeightsError::NonFinite {
            name: name.to_string(),
            index,
            value,
        });
    }
    Ok(values.into_iter().map(T::from_f64).collect())
}

/// Writes `bytes` to `path` atomically: into a temporary file in the same folder, flushed to
/// disk (`fsync`), then renamed over `path`, and the folder itself synced so that the rename
/// survives a crash. A reader sees the old file or the new one, never a half-written one.
///
/// A symbolic link is written through (its target is replaced, the link stays), an existing
/// file keeps its permissions, and a read-only file (no write permission) is refused. A
/// device or a named pipe (`/dev/null`, `/dev/stdout`, a FIFO) is written into directly, not
/// replaced, so that one stays what it was (without the atomicity, which it cannot have).
/// Once the new file is in place the call succeeds: syncing the folder is then best-effort
/// (a folder that cannot be opened for reading cannot be synced), so an error always means
/// that the old file is untouched.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), WeightsError> {
    let asked = path.as_ref();
    let io_err = |source| WeightsError::Io {
        path: asked.to_path_buf(),
        source,
    };
    // A path written with a trailing separator names a folder, existing or not (the rename
    // would fail on it with "Not a directory").
    let ends_in_separator = asked
        .as_os_str()
        .to_str()
        .is_some_and(|s| s.ends_with(std::path::is_separator));
    if ends_in_separator {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path ends in a separator, so it names a directory; name a file to save to",
        )));
    }
    let path = &resolve_links(asked).map_err(io_err)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.file_name().is_none() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names no file",
        )));
    }
    let existing = match fs::metadata(path) {
        // Said before the rename would fail on it with "Is a directory".
        Ok(meta) if meta.is_dir() => {
            return Err(io_err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "the path is a directory; name a file to save to",
            )))
        }
        // A device or a pipe (`/dev/null`, `/dev/stdout`, a FIFO) cannot be replaced
        // atomically, and renaming a file over it would destroy it: it is written into, as
        // `std::fs::write` does.
        Ok(meta) if !meta.is_file() => {
            let written = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut file| file.write_all(bytes));
            return written.map_err(io_err);
        }
        Ok(meta) => Some(meta.permissions()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(e)),
    };
    if existing.as_ref().is_some_and(|p| p.readonly()) {
        return Err(io_err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the file is read-only; make it writable to replace it",
        )));
    }
    // Unique to this call: two threads saving to one path must not share a temporary file.
    // Short, so that it is a legal name wherever the target's is.
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let save = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".gradflow-{}-{save}.tmp", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        if let Some(permissions) = existing {
            file.set_permissions(permissions)?;
        }
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    let _ = sync_dir(&dir);
    Ok(())
}

/// `path` with symbolic links followed to the file they name (which may not exist yet), so
/// that a save replaces the file behind a link rather than the link. At most 40 links, as
/// the operating system allows.
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "too many levels of symbolic links",
    ))
}

/// Flushes a folder's entries (the rename) to disk; a no-op where folders cannot be opened.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Reads a whole file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, WeightsError> {
    fs::read(path).map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The entries of every tensor `net` stores, in `visit_tensors` order.
pub(crate) fn network_entries<T: Scalar, N: Network<T> + ?Sized>(net: &N) -> Vec<Entry> {
    let mut entries = Vec::new();
    net.visit_tensors(&mut |t| {
        entries.push(Entry::new(tensor_name(t.layer, t.name), t.shape, t.data));
    });
    net.visit_settings(&mut |s| {
        entries.push(Entry::new(tensor_name(s.layer, s.name), &[], &[s.value]));
    });
    entries
}

/// The names settings are stored under, `<layer field>.<setting>`: each a scalar tensor
/// (shape `[]`) of the network's element type, beside the layer's tensors.
pub(crate) fn setting_names<T: Scalar, N: Network<T> + ?Sized>(net: &N) -> Vec<String> {
    let mut names = Vec::new();
    net.visit_settings(&mut |s| names.push(tensor_name(s.layer, s.name)));
    names
}

/// Refuses settings that one file tensor cannot stand for: two settings of one name, or a
/// setting named like a tensor (a layer of your own's naming mistake).
pub(crate) fn check_setting_names<T: Scalar, N: Network<T> + ?Sized>(
    net: &N,
) -> Result<(), WeightsError> {
    let mut seen: BTreeSet<String> = network_expected(net).into_iter().map(|e| e.name).collect();
    match setting_names(net)
        .into_iter()
        .find(|name| !seen.insert(name.clone()))
    {
        Some(name) => Err(WeightsError::Mapping {
            name,
            problem: "a setting has the name of another setting or of a tensor of the network, \
                      and one file tensor cannot stand for both: every setting needs a name of \
                      its own"
                .to_string(),
        }),
        None => Ok(()),
    }
}

/// [`check_setting_names`], and that `visit_settings_mut` visits the settings `visit_settings`
/// does, in the same order, which loading writes through.
pub(crate) fn check_settings_mut<T: Scalar, N: Network<T> + ?Sized>(
    net: &mut N,
) -> Result<(), WeightsError> {
    check_setting_names(net)?;
    let shared = setting_names(net);
    let mut exclusive = Vec::new();
    net.visit_settings_mut(&mut |s| exclusive.push(tensor_name(s.layer, s.name)));
    let position =
        (0..shared.len().max(exclusive.len())).find(|&i| shared.get(i) != exclusive.get(i));
    match position {
        Some(i) => Err(WeightsError::Mapping {
            name: shared
                .get(i)
                .or(exclusive.get(i))
                .cloned()
                .unwrap_or_default(),
            problem: format!(
                "visit_settings_mut does not visit the settings visit_settings does (position {i} \
                 in the order); implement both, in the same order"
            ),
        }),
        None => Ok(()),
    }
}

/// Each setting's checked value in a file, in `visit_settings` order, `None` where absent.
pub(crate) type Settings<T> = Vec<Option<T>>;

/// [`read_expected`] of the tensors `expected`, beside which the file may hold `net`'s
/// settings, and [`read_settings`]: every value checked, nothing written.
pub(crate) fn read_with_settings<T: Scalar, N: Network<T> + ?Sized>(
    file: &SafeTensors<'_>,
    expected: &[Expected],
    net: &N,
    ignore: &dyn Fn(&str) -> bool,
) -> Result<(Vec<Vec<T>>, Settings<T>), WeightsError> {
    let settings = setting_names(net);
    let ignore = |name: &str| ignore(name) || settings.iter().any(|s| s == name);
    let values = read_expected(file, expected, &ignore)?;
    Ok((values, read_settings(file, net)?))
}

/// Each setting's value in `file`, checked (finite, and what the setting admits), or `None`
/// where the file has none (a file written before settings were stored, or by another
/// framework): loading then keeps the network's own value.
fn read_settings<T: Scalar, N: Network<T> + ?Sized>(
    file: &SafeTensors<'_>,
    net: &N,
) -> Result<Vec<Option<T>>, WeightsError> {
    let mut out = Vec::new();
    let mut result = Ok(());
    net.visit_settings(&mut |s| {
        if result.is_err() {
            return;
        }
        let name = tensor_name(s.layer, s.name);
        let Ok(view) = file.tensor(&name) else {
            out.push(None);
            return;
        };
        result = decode::<T>(&name, &view, &[]).and_then(|v| {
            check_domain(&name, &v, Domain::Finite)?;
            let value = v[0].to_f64();
            if !(s.admits)(value) {
                return Err(WeightsError::OutOfDomain {
                    name: name.clone(),
                    index: 0,
                    value,
                    requirement: s.requirement,
                });
            }
            out.push(Some(v[0]));
            Ok(())
        });
    });
    result.map(|()| out)
}

/// Writes the settings [`read_settings`] found (in `visit_settings` order) into `net`.
pub(crate) fn write_settings<T: Scalar, N: Network<T> + ?Sized>(net: &mut N, values: &[Option<T>]) {
    let mut next = values.iter();
    net.visit_settings_mut(&mut |s| {
        if let Some(Some(v)) = next.next() {
            *s.value = *v;
        }
    });
}

/// The name and shape of every tensor `net` stores, in `visit_tensors` order.
pub(crate) fn network_expected<T: Scalar, N: Network<T> + ?Sized>(net: &N) -> Vec<Expected> {
    let mut expected = Vec::new();
    net.visit_tensors(&mut |t| {
        expected.push(Expected {
            name: tensor_name(t.layer, t.name),
            shape: t.shape.to_vec(),
            domain: Domain::of(t.layer, t.name),
        });
    });
    expected
}

/// Refuses a network whose layers misdescribe their tensors (a layer of your own with a
/// `visit_tensors` mistake), before anything is written or read: a shape its data does not
/// have, or a layer whose tensors do not hold its `PARAM_COUNT` values
/// ([`crate::nn::check_layout`]).
pub(crate) fn check_layout<T: Scalar, N: Network<T> + ?Sized>(net: &N) -> Result<(), WeightsError> {
    let mut result = Ok(());
    net.visit_tensors(&mut |t| {
        let len = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if result.is_ok() && len != Some(t.data.len()) {
            result = Err(WeightsError::Mapping {
                name: tensor_name(t.layer, t.name),
                problem: format!(
                    "its layer gives it shape {:?} but {} values",
                    t.shape,
                    t.data.len()
                ),
            });
        }
    });
    result?;
    Ok(crate::nn::check_layout(net)?)
}

/// [`check_layout`], and that `visit_tensors_mut` visits the tensors `visit_tensors` does, in
/// the same order, which loading writes through ([`crate::nn::check_layout_mut`]).
pub(crate) fn check_layout_mut<T: Scalar, N: Network<T> + ?Sized>(
    net: &mut N,
) -> Result<(), WeightsError> {
    check_layout(net)?;
    Ok(crate::nn::check_layout_mut(net)?)
}

/// Writes `values` (in `visit_tensors` order, already checked) into `net`.
pub(crate) fn write_network<T: Scalar, N: Network<T> + ?Sized>(net: &mut N, values: &[Vec<T>]) {
    let mut next = values.iter();
    net.visit_tensors_mut(&mut |t| {
        if let Some(v) = next.next() {
            t.data.copy_from_slice(v);
        }
    });
}

/// The header metadata of a weights file. One key only: safetensors writes the metadata map
/// in hash order, and a single key keeps the same network's file byte-identical.
fn weights_metadata() -> HashMap<String, String> {
    HashMap::from([("format".to_string(), "gradflow".to_string())])
}

/// The safetensors bytes of every tensor `net` stores. A network that [`from_bytes`] would
/// refuse (a NaN or infinite value, a negative batchnorm variance, a standardization `std`
/// below `MIN_STD`, a layer whose `PARAM_COUNT` disagrees with its tensors) is refused here,
/// with the same error, rather than written to a file that cannot be loaded back. One check
/// needs the network mutably and is left to loading: that a layer of your own visits the same
/// tensors in `visit_tensors_mut` as in `visit_tensors`.
pub fn to_bytes<T: Scalar, N: Network<T> + ?Sized>(net: &N) -> Result<Vec<u8>, WeightsError> {
    check_layout(net)?;
    check_setting_names(net)?;
    let bytes = serialize(&network_entries(net), weights_metadata())?;
    read_with_settings::<T, _>(&parse(&bytes)?, &network_expected(net), net, &|_| false)?;
    Ok(bytes)
}

/// Saves every tensor `net` stores to `path`, atomically (see [`write_atomic`]); refused,
/// writing nothing, as [`to_bytes`] refuses.
pub fn save<T: Scalar, N: Network<T> + ?Sized>(
    net: &N,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    write_atomic(path, &to_bytes(net)?)
}

/// Loads every tensor of `net` from safetensors `bytes`. The file must hold exactly the
/// network's tensors, each with its dtype and shape and finite values; otherwise the error
/// names the first offending tensor and `net` is unchanged.
pub fn from_bytes<T: Scalar, N: Network<T> + ?Sized>(
    net: &mut N,
    bytes: &[u8],
) -> Result<(), WeightsError> {
    check_layout_mut(net)?;
    check_settings_mut(net)?;
    let file = parse(bytes)?;
    let (values, loaded) = read_with_settings(&file, &network_expected(net), net, &|_| false)
        .map_err(|e| hint_format(e, bytes, "gradflow"))?;
    write_network(net, &values);
    write_settings(net, &loaded);
    Ok(())
}

/// [`from_bytes`] from a file.
pub fn load<T: Scalar, N: Network<T> + ?Sized>(
    net: &mut N,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    from_bytes(net, &read_file(path.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the tensors of gradflow's own batchnorm and standardize layers are restricted: a
    /// user layer (field `layer_<k>`) may name a tensor `running_var` or `std` and store
    /// anything finite in it.
    #[test]
    fn domains_follow_the_layer_kind_not_only_the_tensor_name() {
        assert_eq!(
            Domain::of("batchnorm_2", "running_var"),
            Domain::NonNegative
        );
        assert_eq!(Domain::of("standardize_0", "std"), Domain::Std);
        assert_eq!(Domain::of("layer_3", "running_var"), Domain::Finite);
        assert_eq!(Domain::of("layer_1", "std"), Domain::Finite);
        assert_eq!(Domain::of("batchnorm_2", "running_mean"), Domain::Finite);
        assert_eq!(
            Domain::of_stored("batchnorm_0.running_var"),
            Domain::NonNegative
        );
        assert!(!Domain::Std.admits(1.1e-38) && Domain::Std.admits(1.2e-38));
        assert!(!Domain::Std.admits(0.0) && Domain::Std.admits(1e-13));
        assert!(Domain::NonNegative.admits(0.0) && !Domain::NonNegative.admits(-1e-30));
    }

    #[test]
    fn a_repeated_tensor_name_is_an_error_not_a_panic() {
        let entries = [
            Entry::new("layer.w".to_string(), &[1], &[1.0f32]),
            Entry::new("layer.w".to_string(), &[2], &[2.0f32, 3.0]),
        ];
        let err = serialize(&entries, weights_metadata()).unwrap_err();
        assert!(
            matches!(&err, WeightsError::Encode { reason } if reason.contains("`layer.w`")),
            "{err}"
        );
        assert!(serialize(&entries[..1], weights_metadata()).is_ok());
    }
}
