//! Training checkpoints: everything a run needs to continue exactly where it stopped.
//!
//! A checkpoint is one safetensors file holding
//! - every tensor and setting (batchnorm's `eps` and `momentum`) of the network, under the
//!   names [`crate::weights`] uses;
//! - the optimizer's state, under `optimizer.<slot>.<layer>.<tensor>` (`optimizer.velocity.dense_0.weight`
//!   for SGD, `optimizer.m...` and `optimizer.v...` for Adam);
//! - the optimizer's step count `optimizer.steps` (Adam's bias correction depends on it), the
//!   [`crate::Rng`]'s full state (`rng.seed`, `rng.stream`, `rng.word_pos`: seed, stream and
//!   position in the stream) and the caller's [`Progress`] (`progress.epoch`,
//!   `progress.step`), as integer tensors;
//! - in the header's metadata, `format`: `gradflow-checkpoint v1 <optimizer> <element type>`.
//!
//! [`save`] writes atomically (temporary file, `fsync`, rename, `fsync` of the folder), so a
//! crash during a save leaves the previous checkpoint intact. [`load`] checks the whole file
//! before it changes anything: on any error the network, optimizer and generator are as they
//! were. A run resumed from a checkpoint taken at step `k` ends bit-identical to a run that
//! was never interrupted, as long as the training loop draws all of its randomness from the
//! checkpointed generator (`tests/checkpoint.rs` shows one).

use crate::nn::{Network, OptimizerState, Scalar, StateTensor, Trainable};
use crate::weights::{
    check_layout_mut, check_settings_mut, network_entries, network_expected, parse, read_file,
    read_with_settings, serialize, tensor_name, write_atomic, write_network, write_settings,
    Domain, Entry, Expected, WeightsError,
};
use rand::SeedableRng;
use safetensors::Dtype;
use std::collections::HashMap;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

/// Where a training run is: saved with a checkpoint and handed back when it is loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Epochs completed (or the current epoch; the meaning is the training loop's).
    pub epoch: u64,
    /// Steps, as the training loop counts them: the steps taken (or attempted) so far, or,
    /// for a run resumed through `fit`, the steps done in the epoch after `epoch`
    /// ([`crate::nn::train::Position::step`]).
    pub step: u64,
}

const EPOCH: &str = "progress.epoch";
const STEP: &str = "progress.step";
const OPTIMIZER_STEPS: &str = "optimizer.steps";
const RNG_SEED: &str = "rng.seed";
const RNG_STREAM: &str = "rng.stream";
const RNG_WORD_POS: &str = "rng.word_pos";
/// Bits of a ChaCha generator's word position: a 64-bit block counter, 16 words a block.
const RNG_WORD_POS_BITS: u32 = 68;
const COUNTERS: [&str; 6] = [
    EPOCH,
    STEP,
    OPTIMIZER_STEPS,
    RNG_SEED,
    RNG_STREAM,
    RNG_WORD_POS,
];

/// The checkpoint's `format` metadata: version, optimizer and element type.
fn format_tag<T: Scalar, N: Trainable<T>, O: OptimizerState<T, N>>() -> String {
    format!("gradflow-checkpoint v1 {} {}", O::NAME, T::NAME)
}

fn state_name(slot: &str, layer: &str, name: &str) -> String {
    format!("optimizer.{slot}.{}", tensor_name(layer, name))
}

/// The shape of each trainable tensor, by name, for the optimizer state beside it.
fn shapes<T: Scalar, N: Network<T>>(net: &N) -> HashMap<String, Vec<usize>> {
    let mut shapes = HashMap::new();
    net.visit_tensors(&mut |t| {
        shapes.insert(tensor_name(t.layer, t.name), t.shape.to_vec());
    });
    shapes
}

/// The shape of an optimizer state buffer: its parameter's, or flat for a parameter `shapes`
/// does not know.
fn state_shape<T>(shapes: &HashMap<String, Vec<usize>>, s: &StateTensor<'_, T>) -> Vec<usize> {
    shapes
        .get(&tensor_name(s.layer, s.name))
        .cloned()
        .unwrap_or_else(|| vec![s.data.len()])
}

/// The bytes of a checkpoint of `net`, `optimizer`, `rng` and `progress`. `net` is only read
/// (its parameter visitor, which names the optimizer state, takes `&mut`). State that
/// [`from_bytes`] would refuse (a NaN, a negative variance or second moment) is refused here
/// with the same error.
pub fn to_bytes<T, N, O>(
    net: &mut N,
    optimizer: &mut O,
    rng: &crate::Rng,
    progress: Progress,
) -> Result<Vec<u8>, WeightsError>
where
    T: Scalar,
    N: Network<T> + Trainable<T>,
    O: OptimizerState<T, N>,
{
    check_layout_mut(net)?;
    check_settings_mut(net)?;
    let mut entries = network_entries(net);
    let shapes = shapes(net);
    optimizer.visit_state(net, &mut |s| {
        let shape = state_shape(&shapes, &s);
        entries.push(Entry::new(
            state_name(s.slot, s.layer, s.name),
            &shape,
            s.data,
        ));
    });
    let word_pos = rng.get_word_pos();
    let counters: [(&str, Vec<u64>); 5] = [
        (EPOCH, vec![progress.epoch]),
        (STEP, vec![progress.step]),
        (OPTIMIZER_STEPS, vec![optimizer.step_count()]),
        (RNG_STREAM, vec![rng.get_stream()]),
        // The low and high 64 bits of the 128-bit position.
        (RNG_WORD_POS, vec![word_pos as u64, (word_pos >> 64) as u64]),
    ];
    for (name, values) in counters {
        entries.push(Entry {
            name: name.to_string(),
            dtype: Dtype::U64,
            shape: vec![values.len()],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
    }
    entries.push(Entry {
        name: RNG_SEED.to_string(),
        dtype: Dtype::U8,
        shape: vec![32],
        bytes: rng.get_seed().to_vec(),
    });
    // A single metadata key: safetensors writes the map in hash order, and one key keeps a
    // checkpoint of the same state byte-identical.
    let metadata = HashMap::from([("format".to_string(), format_tag::<T, N, O>())]);
    let bytes = serialize(&entries, metadata)?;
    // What loading would refuse is not written.
    let expected = expected(net, optimizer);
    read_with_settings::<T, _>(&parse(&bytes)?, &expected, net, &|n| COUNTERS.contains(&n))?;
    Ok(bytes)
}

/// Every tensor a checkpoint of `net` and `optimizer` holds, in order: the network's, then the
/// optimizer's state, each with its shape and the values it admits.
fn expected<T, N, O>(net: &mut N, optimizer: &mut O) -> Vec<Expected>
where
    T: Scalar,
    N: Network<T> + Trainable<T>,
    O: OptimizerState<T, N>,
{
    let mut expected = network_expected(net);
    let shapes = shapes(net);
    optimizer.visit_state(net, &mut |s| {
        expected.push(Expected {
            name: state_name(s.slot, s.layer, s.name),
            shape: state_shape(&shapes, &s),
            // Adam's second moment is an average of squares.
            domain: if O::NAME == "adam" && s.slot == "v" {
                Domain::NonNegative
            } else {
                Domain::Finite
            },
        });
    });
    expected
}

/// Saves a checkpoint to `path` atomically. See [`to_bytes`].
pub fn save<T, N, O>(
    path: impl AsRef<Path>,
    net: &mut N,
    optimizer: &mut O,
    rng: &crate::Rng,
    progress: Progress,
) -> Result<(), WeightsError>
where
    T: Scalar,
    N: Network<T> + Trainable<T>,
    O: OptimizerState<T, N>,
{
    write_atomic(path, &to_bytes(net, optimizer, rng, progress)?)
}

/// Reads one of the checkpoint's own integer tensors, checking dtype and length.
fn counter(
    file: &safetensors::SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
    len: usize,
) -> Result<Vec<u64>, WeightsError> {
    let view = file.tensor(name).map_err(|_| WeightsError::Missing {
        name: name.to_string(),
    })?;
    if view.dtype() != dtype {
        return Err(WeightsError::Dtype {
            name: name.to_string(),
            expected: format!("{dtype:?}"),
            found: format!("{:?}", view.dtype()),
        });
    }
    if view.shape() != [len] {
        return Err(WeightsError::Shape {
            name: name.to_string(),
            expected: vec![len],
            found: view.shape().to_vec(),
        });
    }
    Ok(match dtype {
        Dtype::U64 => view
            .data()
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        _ => view.data().iter().map(|&b| u64::from(b)).collect(),
    })
}

/// Restores `net`, `optimizer` and `rng` from checkpoint `bytes` and returns the saved
/// [`Progress`]. Everything is checked first (format, dtype, optimizer kind, every tensor's
/// name, dtype, shape and values, the generator's state); on any error nothing is changed.
pub fn from_bytes<T, N, O>(
    bytes: &[u8],
    net: &mut N,
    optimizer: &mut O,
    rng: &mut crate::Rng,
) -> Result<Progress, WeightsError>
where
    T: Scalar,
    N: Network<T> + Trainable<T>,
    O: OptimizerState<T, N>,
{
    let file = parse(bytes)?;
    // `parse` has validated the header, so reading it again succeeds.
    let header = safetensors::SafeTensors::read_metadata(bytes)
        .map(|(_, header)| header)
        .map_err(|e| WeightsError::Corrupt {
            reason: e.to_string(),
        })?;
    let expected_tag = format_tag::<T, N, O>();
    let found_tag = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("format"))
        .map_or("nothing", String::as_str);
    if found_tag != expected_tag {
        return Err(WeightsError::Metadata {
            key: "format".to_string(),
            problem: format!(
                "the file says `{found_tag}`, but resuming this run needs `{expected_tag}` (a checkpoint of another optimizer or element type, or not a checkpoint)"
            ),
        });
    }
    let epoch = counter(&file, EPOCH, Dtype::U64, 1)?[0];
    let step = counter(&file, STEP, Dtype::U64, 1)?[0];
    let steps = counter(&file, OPTIMIZER_STEPS, Dtype::U64, 1)?[0];
    let stream = counter(&file, RNG_STREAM, Dtype::U64, 1)?[0];
    let pos = counter(&file, RNG_WORD_POS, Dtype::U64, 2)?;
    // ChaCha counts 64-bit blocks of 16 words: a position is below 2^68, and `set_word_pos`
    // drops any higher bits without a word, which would restore another position.
    if pos[1] >= 1 << (RNG_WORD_POS_BITS - 64) {
        return Err(WeightsError::OutOfDomain {
            name: RNG_WORD_POS.to_string(),
            index: 1,
            value: pos[1] as f64,
            requirement:
                "a generator's position is below 2^68 words, so its high word is at most 15",
        });
    }
    let word_pos = u128::from(pos[0]) | (u128::from(pos[1]) << 64);
    let seed_bytes = counter(&file, RNG_SEED, Dtype::U8, 32)?;
    let seed: [u8; 32] = core::array::from_fn(|k| seed_bytes[k] as u8);
    let progress = Progress { epoch, step };

    check_layout_mut(net)?;
    check_settings_mut(net)?;
    let model_count = network_expected(net).len();
    let expected = expected(net, optimizer);
    let ignore = |name: &str| COUNTERS.contains(&name);
    let (values, loaded) =
        read_with_settings(&file, &expected, net, &ignore).map_err(|e| match e {
            // Read as a checkpoint already: the plain-weights hint (use `checkpoint::load`)
            // would send the caller where they are.
            WeightsError::Unexpected { name } if name.starts_with("optimizer.") => {
                WeightsError::UntrainedState { name }
            }
            e => e,
        })?;

    // Everything has been checked: write.
    let (model, state) = values.split_at(model_count);
    write_network(net, model);
    write_settings(net, &loaded);
    let mut next = state.iter();
    optimizer.visit_state(net, &mut |s| {
        if let Some(v) = next.next() {
            s.data.copy_from_slice(v);
        }
    });
    optimizer.set_step_count(steps);
    let mut restored = crate::Rng::from_seed(seed);
    restored.set_stream(stream);
    restored.set_word_pos(word_pos);
    *rng = restored;
    Ok(progress)
}

/// [`from_bytes`] from a file.
pub fn load<T, N, O>(
    path: impl AsRef<Path>,
    net: &mut N,
    optimizer: &mut O,
    rng: &mut crate::Rng,
) -> Result<Progress, WeightsError>
where
    T: Scalar,
    N: Network<T> + Trainable<T>,
    O: OptimizerState<T, N>,
{
    from_bytes(&read_file(path.as_ref())?, net, optimizer, rng)
}
