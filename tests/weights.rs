//! Saving and loading weights as safetensors: names, round trips, every error case (each
//! leaving the network unchanged), and property-based fuzzing of the loader.

use gradflow::nn::standardize::MIN_STD;
use gradflow::prelude::*;
use gradflow::weights::{self, WeightsError};
use proptest::prelude::*;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};

network! {
    /// The network under test: dense, batchnorm (with running statistics), dense.
    pub struct Net<f32> {
        input 3,
        dense 4 [batchnorm, relu],
        dense 2,
    }
}

network! {
    /// The same layers in f64.
    pub struct Net64<f64> {
        input 3,
        dense 4 [batchnorm, relu],
        dense 2,
    }
}

network! {
    /// One layer wider.
    pub struct Wider<f32> {
        input 3,
        dense 5 [batchnorm, relu],
        dense 2,
    }
}

/// Proptest cases per fuzz target (recorded in the README).
const FUZZ_CASES: u32 = 10_000;

fn net(seed: u64) -> Net {
    let mut net = Net::new(&mut gradflow::rng(seed));
    // Running statistics away from their initial values, so that loading them is seen.
    net.batchnorm_0.running_mean = [0.5, -0.25, 1.0, 2.0];
    net.batchnorm_0.running_var = [1.5, 0.75, 2.0, 3.0];
    net
}

/// The tensors of a safetensors file, to be edited and written again.
fn entries(bytes: &[u8]) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut out: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write(entries: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views = entries.iter().map(|(name, dtype, shape, data)| {
        (
            name.clone(),
            TensorView::new(*dtype, shape.clone(), data).unwrap(),
        )
    });
    safetensors::serialize(views, None).unwrap()
}

/// Loads `bytes` into a fresh network, checks it was left unchanged, and returns the error.
fn load_err(bytes: &[u8]) -> WeightsError {
    let mut target = net(99);
    let before = weights::to_bytes(&target).unwrap();
    let err = weights::from_bytes(&mut target, bytes).unwrap_err();
    assert_eq!(
        weights::to_bytes(&target).unwrap(),
        before,
        "a failed load changed the network ({err})"
    );
    err
}

#[test]
fn names_and_shapes_are_the_visit_tensors_ones() {
    let bytes = weights::to_bytes(&net(1)).unwrap();
    let found: Vec<(String, Vec<usize>)> = entries(&bytes)
        .into_iter()
        .map(|(name, dtype, shape, _)| {
            assert_eq!(dtype, Dtype::F32, "{name}");
            (name, shape)
        })
        .collect();
    let expected = [
        ("batchnorm_0.beta", vec![4]),
        // Settings are scalars: shape [].
        ("batchnorm_0.eps", vec![]),
        ("batchnorm_0.gamma", vec![4]),
        ("batchnorm_0.momentum", vec![]),
        ("batchnorm_0.running_mean", vec![4]),
        ("batchnorm_0.running_var", vec![4]),
        ("dense_0.bias", vec![4]),
        ("dense_0.weight", vec![3, 4]),
        ("dense_1.bias", vec![2]),
        ("dense_1.weight", vec![4, 2]),
    ]
    .map(|(n, s)| (n.to_string(), s));
    assert_eq!(found, expected);
    let bytes64 = weights::to_bytes(&Net64::new(&mut gradflow::rng(1))).unwrap();
    assert!(entries(&bytes64).iter().all(|e| e.1 == Dtype::F64));
}

#[test]
fn save_then_load_restores_every_tensor_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("net.safetensors");
    let original = net(1);
    weights::save(&original, &path).unwrap();
    // Saved twice, the same bytes: the file is deterministic.
    assert_eq!(
        std::fs::read(&path).unwrap(),
        weights::to_bytes(&original).unwrap()
    );
    let mut loaded = Net::new(&mut gradflow::rng(2));
    assert_ne!(loaded.dense_0.weight, original.dense_0.weight);
    weights::load(&mut loaded, &path).unwrap();
    assert_eq!(loaded.dense_0.weight, original.dense_0.weight);
    assert_eq!(loaded.dense_1.bias, original.dense_1.bias);
    assert_eq!(loaded.batchnorm_0.running_var, [1.5, 0.75, 2.0, 3.0]);
    let x = [[0.3f32, -1.0, 2.0]; 2];
    assert_eq!(loaded.forward(&x), original.forward(&x));
    // The atomic write leaves no temporary file behind.
    let files: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn a_missing_tensor_is_named() {
    let mut e = entries(&weights::to_bytes(&net(1)).unwrap());
    e.retain(|(name, ..)| name != "batchnorm_0.running_var");
    let err = load_err(&write(&e));
    assert!(
        matches!(&err, WeightsError::Missing { name } if name == "batchnorm_0.running_var"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "tensor `batchnorm_0.running_var` is missing from the file"
    );
}

#[test]
fn an_extra_tensor_is_named() {
    let mut e = entries(&weights::to_bytes(&net(1)).unwrap());
    e.push(("dense_9.weight".into(), Dtype::F32, vec![1], vec![0; 4]));
    let err = load_err(&write(&e));
    assert!(
        matches!(&err, WeightsError::Unexpected { name } if name == "dense_9.weight"),
        "{err}"
    );
}

#[test]
fn a_misshapen_tensor_is_named_with_both_shapes() {
    let err = load_err(&weights::to_bytes(&Wider::new(&mut gradflow::rng(1))).unwrap());
    match &err {
        WeightsError::Shape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "dense_0.weight");
            assert_eq!(
                (expected.as_slice(), found.as_slice()),
                (&[3, 4][..], &[3, 5][..])
            );
        }
        other => panic!("expected a shape error, got {other}"),
    }
    assert!(err.to_string().contains("[3, 5] in the file"), "{err}");
    // Same element count, another shape: still refused.
    let mut e = entries(&weights::to_bytes(&net(1)).unwrap());
    for entry in &mut e {
        if entry.0 == "dense_0.weight" {
            entry.2 = vec![4, 3];
        }
    }
    assert!(matches!(load_err(&write(&e)), WeightsError::Shape { .. }));
}

#[test]
fn a_wrongly_typed_tensor_is_named() {
    let err = load_err(&weights::to_bytes(&Net64::new(&mut gradflow::rng(1))).unwrap());
    assert!(
        matches!(&err, WeightsError::Dtype { name, expected, found }
            if name == "dense_0.weight" && expected == "F32" && found == "F64"),
        "{err}"
    );
    // An integer tensor of the right size and shape.
    let mut e = entries(&weights::to_bytes(&net(1)).unwrap());
    for entry in &mut e {
        if entry.0 == "dense_1.bias" {
            entry.1 = Dtype::I32;
        }
    }
    assert!(
        matches!(load_err(&write(&e)), WeightsError::Dtype { name, .. } if name == "dense_1.bias")
    );
}

#[test]
fn a_non_finite_value_is_named_with_its_index() {
    let mut e = entries(&weights::to_bytes(&net(1)).unwrap());
    for entry in &mut e {
        if entry.0 == "batchnorm_0.gamma" {
            entry.3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        }
    }
    let err = load_err(&write(&e));
    assert!(
        matches!(&err, WeightsError::NonFinite { name, index: 2, .. } if name == "batchnorm_0.gamma"),
        "{err}"
    );
}

/// Finite values a tensor's role rules out: a negative variance, a standardization that would
/// divide by 0 or a negative number. Each would turn every later output NaN or infinite.
#[test]
fn a_value_outside_its_tensors_domain_is_named_with_its_index() {
    let mut e = entries(&weights::to_bytes(&net(1)).unwrap());
    for entry in &mut e {
        if entry.0 == "batchnorm_0.running_var" {
            entry.3[4..8].copy_from_slice(&(-5.0f32).to_le_bytes());
        }
    }
    let err = load_err(&write(&e));
    assert!(
        matches!(&err, WeightsError::OutOfDomain { name, index: 1, value, .. }
            if name == "batchnorm_0.running_var" && *value == -5.0),
        "{err}"
    );
    assert!(
        err.to_string().contains("a variance cannot be negative"),
        "{err}"
    );
    // A variance of exactly 0 is a constant feature, and loads.
    let mut e = entries(&weights::to_bytes(&net(1)).unwrap());
    for entry in &mut e {
        if entry.0 == "batchnorm_0.running_var" {
            entry.3[4..8].copy_from_slice(&0.0f32.to_le_bytes());
        }
    }
    weights::from_bytes(&mut net(2), &write(&e)).unwrap();

    network! {
        pub struct Scaled<f32> {
            input 2,
            standardize,
            dense 3,
        }
    }
    let scaled = Scaled::new(&mut gradflow::rng(1));
    for bad in [0.0f32, -1.0, 1e-39] {
        let mut e = entries(&weights::to_bytes(&scaled).unwrap());
        for entry in &mut e {
            if entry.0 == "standardize_0.std" {
                entry.3[4..8].copy_from_slice(&bad.to_le_bytes());
            }
        }
        let mut target = Scaled::new(&mut gradflow::rng(2));
        let err = weights::from_bytes(&mut target, &write(&e)).unwrap_err();
        assert!(
            matches!(&err, WeightsError::OutOfDomain { name, index: 1, .. } if name == "standardize_0.std"),
            "{bad}: {err}"
        );
        assert_eq!(target.standardize_0.std, [1.0; 2]);
    }
    // Spreads on either side of MIN_STD, in f64 and after rounding to f32 (some just above
    // it in f64 round below it in f32): what `fit` stores always loads, and is either a
    // spread of at least MIN_STD or 1 (no spread).
    // The spread of [0, b, b, b] is b * sqrt(3) / 4: b around MIN_STD * 4 / sqrt(3).
    let edge = ((MIN_STD * 4.0 / 3f64.sqrt()) as f32).to_bits();
    let mut kept = 0;
    for bits in edge - 80..edge + 80 {
        let b = f32::from_bits(bits);
        let mut fitted = Scaled::new(&mut gradflow::rng(3));
        fitted
            .standardize_0
            .fit(&[[0.0, 1.0], [b, 2.0], [b, 3.0], [b, 4.0]]);
        let std = fitted.standardize_0.std[0];
        assert!(std == 1.0 || f64::from(std) >= MIN_STD, "{b:e}: {std:e}");
        kept += usize::from(std != 1.0);
        let mut target = Scaled::new(&mut gradflow::rng(4));
        weights::from_bytes(&mut target, &weights::to_bytes(&fitted).unwrap()).unwrap();
        assert_eq!(target.standardize_0, fitted.standardize_0);
    }
    assert!(kept > 0 && kept < 160, "{kept}");
}

/// What loading would refuse is not saved: the error comes while the network is still in
/// hand, and no file that cannot be read back is left behind.
#[test]
fn a_network_that_could_not_be_loaded_back_is_not_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("net.safetensors");
    let mut bad = net(1);
    bad.dense_1.weight[2][1] = f32::NAN;
    let err = weights::save(&bad, &path).unwrap_err();
    assert!(
        matches!(&err, WeightsError::NonFinite { name, index: 5, .. } if name == "dense_1.weight"),
        "{err}"
    );
    assert!(!path.exists());
    let mut bad = net(1);
    bad.batchnorm_0.running_var[3] = -0.5;
    let err = weights::to_bytes(&bad).unwrap_err();
    assert!(
        matches!(&err, WeightsError::OutOfDomain { name, index: 3, .. } if name == "batchnorm_0.running_var"),
        "{err}"
    );
    weights::save(&net(1), &path).unwrap();
    weights::load(&mut net(2), &path).unwrap();
}

#[test]
fn a_truncated_file_names_the_tensor_cut_off() {
    let bytes = weights::to_bytes(&net(1)).unwrap();
    // The last tensor by offset: F32 tensors are laid out in name order.
    let err = load_err(&bytes[..bytes.len() - 3]);
    assert!(
        matches!(&err, WeightsError::Truncated { name } if name == "dense_1.weight"),
        "{err}"
    );
    // Cut in the middle of the data: the first tensor whose data runs past the end.
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let err = load_err(&bytes[..header + 20]);
    assert!(
        matches!(&err, WeightsError::Truncated { name } if name == "batchnorm_0.gamma"),
        "{err}"
    );
    // Cut inside the header: said so, with the header's length and what is left of it.
    for cut in [8, 9, header - 1] {
        let err = load_err(&bytes[..cut]);
        assert!(
            matches!(&err, WeightsError::TruncatedHeader { header: h, available }
                if *h as usize == header - 8 && *available == cut - 8),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().contains("cut short"), "{err}");
    }
    // Cut inside the 8-byte length: not a readable file at all.
    for cut in [0, 5] {
        assert!(
            matches!(load_err(&bytes[..cut]), WeightsError::Corrupt { .. }),
            "cut {cut}"
        );
    }
}

#[test]
fn a_corrupted_header_is_an_error() {
    let bytes = weights::to_bytes(&net(1)).unwrap();
    let mut garbled = bytes.clone();
    garbled[10] = b'!';
    assert!(matches!(load_err(&garbled), WeightsError::Corrupt { .. }));
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(load_err(&huge), WeightsError::Corrupt { .. }));
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    assert!(matches!(load_err(&longer), WeightsError::Corrupt { .. }));
    assert!(matches!(
        load_err(b"not a safetensors file"),
        WeightsError::Corrupt { .. }
    ));
    // A dtype edited by hand (F32 to F16, so 2 bytes a value where the offsets span 4): the
    // error names the tensor and what disagrees.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    let f32_entry = "\"dense_1.weight\":{\"dtype\":\"F32\"";
    assert!(header.contains(f32_entry), "{header}");
    let mut edited = bytes.clone();
    edited[8..8 + header_len].copy_from_slice(
        header
            .replace(f32_entry, &f32_entry.replace("F32", "F16"))
            .as_bytes(),
    );
    let err = load_err(&edited);
    assert!(
        matches!(&err, WeightsError::Corrupt { reason } if reason.contains(
            "tensor `dense_1.weight`: dtype F16 and shape [4, 2] need 16 bytes, but its data_offsets span 32"
        )),
        "{err}"
    );
    let missing = weights::load(&mut net(1), "/nonexistent/net.safetensors").unwrap_err();
    assert!(matches!(missing, WeightsError::Io { .. }));
    assert!(missing.to_string().contains("/nonexistent/net.safetensors"));
}

#[test]
fn a_tensor_named_twice_in_the_header_is_an_error() {
    // The header lists `dense_1.bias` a second time, with the same dtype, shape and offsets:
    // read into a map, the file would load as if it were whole.
    let bytes = weights::to_bytes(&net(1)).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    let start = header.find("\"dense_1.bias\":{").unwrap();
    let end = start + header[start..].find('}').unwrap() + 1;
    let entry = &header[start..end];
    let doubled = header.replacen(entry, &format!("{entry},{entry}"), 1);
    let mut edited = (doubled.len() as u64).to_le_bytes().to_vec();
    edited.extend_from_slice(doubled.as_bytes());
    edited.extend_from_slice(&bytes[8 + header_len..]);
    let err = load_err(&edited);
    assert!(
        matches!(&err, WeightsError::Corrupt { reason } if reason.contains("`dense_1.bias` twice")),
        "{err}"
    );
    // The same bytes with the entry once load.
    weights::from_bytes(&mut net(2), &bytes).unwrap();
}

fn fuzz_config() -> ProptestConfig {
    ProptestConfig {
        cases: FUZZ_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config())]

    /// Arbitrary bytes: an error, never a panic, and the network unchanged.
    #[test]
    fn fuzz_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut target = net(99);
        let before = weights::to_bytes(&target).unwrap();
        prop_assert!(weights::from_bytes(&mut target, &bytes).is_err());
        prop_assert_eq!(weights::to_bytes(&target).unwrap(), before);
    }

    /// A valid file with bytes overwritten, and maybe cut short: the load succeeds with
    /// finite values, or fails leaving the network unchanged; it never panics.
    #[test]
    fn fuzz_damaged_files_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = weights::to_bytes(&net(1)).unwrap();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let mut target = net(99);
        let before = weights::to_bytes(&target).unwrap();
        match weights::from_bytes(&mut target, &bytes) {
            Ok(()) => {
                let mut finite = true;
                target.visit_tensors(&mut |t| finite &= t.data.iter().all(|v| v.is_finite()));
                prop_assert!(finite);
            }
            Err(_) => prop_assert_eq!(weights::to_bytes(&target).unwrap(), before),
        }
    }
}

/// Threads saving to one path each get a temporary file of their own: every save succeeds,
/// and the file left is one of the saves, whole.
#[test]
fn concurrent_saves_to_one_path_all_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("shared.safetensors");
    let saves: Vec<Vec<u8>> = (0..4)
        .map(|seed| weights::to_bytes(&net(seed)).unwrap())
        .collect();
    std::thread::scope(|s| {
        for bytes in &saves {
            let path = &path;
            s.spawn(move || {
                for _ in 0..25 {
                    weights::write_atomic(path, bytes).unwrap();
                }
            });
        }
    });
    assert!(saves.contains(&std::fs::read(&path).unwrap()));
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
}

/// A save through a symbolic link replaces the file the link names and keeps the link; an
/// existing file keeps its permissions; a read-only file is refused and left as it was; and a
/// file name as long as the system allows can be saved (the temporary file's name is short).
#[cfg(unix)]
#[test]
fn saves_follow_links_keep_permissions_and_refuse_read_only_files() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (old, new) = (net(1), net(2));
    let new_bytes = weights::to_bytes(&new).unwrap();

    let target = dir.join("best.safetensors");
    weights::save(&old, &target).unwrap();
    let link = dir.join("latest.safetensors");
    symlink("best.safetensors", &link).unwrap();
    weights::save(&new, &link).unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), new_bytes);

    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    weights::save(&old, &target).unwrap();
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let kept = std::fs::read(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o444)).unwrap();
    let refused = weights::save(&new, &target).unwrap_err().to_string();
    assert!(refused.contains("read-only"), "{refused}");
    assert_eq!(std::fs::read(&target).unwrap(), kept);
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();

    // A directory is refused as one, with or without a trailing `/`, and stays as it was.
    let folder = dir.join("folder");
    std::fs::create_dir(&folder).unwrap();
    let err = weights::save(&new, &folder).unwrap_err().to_string();
    assert!(
        err.ends_with("the path is a directory; name a file to save to"),
        "{err}"
    );
    // With a trailing `/`, whether the folder exists or not.
    for path in [dir.join("folder/"), dir.join("missing/")] {
        let err = weights::save(&new, &path).unwrap_err().to_string();
        assert!(
            err.ends_with("names a directory; name a file to save to"),
            "{err}"
        );
    }
    assert!(!dir.join("missing").exists());
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    std::fs::remove_dir(&folder).unwrap();

    let long = dir.join(format!("{}.st", "a".repeat(250)));
    weights::save(&new, &long).unwrap();
    assert_eq!(std::fs::read(&long).unwrap(), new_bytes);

    let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert_eq!(left.len(), 3, "temporary files left behind: {left:?}");
}

/// A named pipe (and so a device such as `/dev/null`) is written into, not replaced: the
/// reader gets the file's bytes, and the pipe is still a pipe, through a link too.
#[cfg(unix)]
#[test]
fn saving_into_a_named_pipe_writes_through_it_and_keeps_it() {
    use std::os::unix::fs::{symlink, FileTypeExt};
    let tmp = tempfile::tempdir().unwrap();
    let (fifo, link) = (tmp.path().join("pipe"), tmp.path().join("link"));
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    symlink(&fifo, &link).unwrap();
    let network = net(3);
    for path in [&fifo, &link] {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        weights::save(&network, path).unwrap();
        assert_eq!(reader.join().unwrap(), weights::to_bytes(&network).unwrap());
        let kind = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "{kind:?}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
}

/// A user layer whose `visit_tensors` reports what `layer` says: two tensors under one name
/// (`Twin`), or a shape its data does not have (`Misshapen`), both a layer author's mistakes.
#[derive(Clone, Debug, bytemuck::Zeroable)]
struct UserLayer<const TWIN: bool> {
    a: [f32; 2],
    b: [f32; 2],
}

impl<const TWIN: bool> Forward<f32> for UserLayer<TWIN> {
    type Input = [f32; 2];
    type Output = [f32; 2];
    type Cache<const B: usize> = ();
    const KIND: &'static str = "user";
    const PARAM_COUNT: usize = 4;

    fn forward<const B: usize>(&self, x: &[[f32; 2]; B], y: &mut [[f32; 2]; B]) {
        for (xb, yb) in x.iter().zip(y) {
            for i in 0..2 {
                yb[i] = xb[i] * self.a[i] + self.b[i];
            }
        }
    }

    fn forward_train<const B: usize>(
        &mut self,
        x: &[[f32; 2]; B],
        y: &mut [[f32; 2]; B],
        _: &mut (),
    ) {
        self.forward(x, y)
    }

    fn visit_tensors(&self, f: &mut dyn FnMut(gradflow::nn::Tensor<'_, f32>)) {
        use gradflow::nn::{Tensor, TensorKind::Frozen};
        let (b, shape): (&str, &[usize]) = if TWIN { ("a", &[2]) } else { ("b", &[3]) };
        f(Tensor {
            layer: "",
            name: "a",
            kind: Frozen,
            shape: &[2],
            data: &self.a,
        });
        f(Tensor {
            layer: "",
            name: b,
            kind: Frozen,
            shape,
            data: &self.b,
        });
    }

    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(gradflow::nn::TensorMut<'_, f32>)) {
        use gradflow::nn::{TensorKind::Frozen, TensorMut};
        let (b, shape): (&str, &[usize]) = if TWIN { ("a", &[2]) } else { ("b", &[3]) };
        f(TensorMut {
            layer: "",
            name: "a",
            kind: Frozen,
            shape: &[2],
            data: &mut self.a,
        });
        f(TensorMut {
            layer: "",
            name: b,
            kind: Frozen,
            shape,
            data: &mut self.b,
        });
    }
}

network! { struct Twin<f32> { input 2, layer UserLayer<true> (2 -> 2), dense 2 } }
network! { struct Misshapen<f32> { input 2, layer UserLayer<false> (2 -> 2), dense 2 } }

/// The file tensors a user-layer network would load: `layer_0.a` (and `layer_0.b` of
/// `b_len` values when given), and the dense layer's.
fn user_layer_file(b_len: Option<usize>) -> Vec<u8> {
    let floats = |v: &[f32]| v.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let mut entries = vec![
        (
            "layer_0.a".to_string(),
            Dtype::F32,
            vec![2],
            floats(&[9.0, 8.0]),
        ),
        (
            "dense_1.weight".to_string(),
            Dtype::F32,
            vec![2, 2],
            floats(&[1.0; 4]),
        ),
        (
            "dense_1.bias".to_string(),
            Dtype::F32,
            vec![2],
            floats(&[0.0; 2]),
        ),
    ];
    if let Some(len) = b_len {
        entries.push((
            "layer_0.b".to_string(),
            Dtype::F32,
            vec![len],
            floats(&vec![7.0; len]),
        ));
    }
    write(&entries)
}

#[test]
fn a_network_with_two_tensors_under_one_name_neither_saves_nor_loads() {
    let mut net = Twin::new(&mut gradflow::rng(1));
    net.layer_0.a = [1.0, 2.0];
    net.layer_0.b = [3.0, 4.0];
    let err = weights::to_bytes(&net).unwrap_err();
    assert!(
        err.to_string()
            .contains("two tensors are named `layer_0.a`"),
        "{err}"
    );
    // One file tensor would have gone into both.
    let err = weights::from_bytes(&mut net, &user_layer_file(None)).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Mapping { name, problem }
            if name == "layer_0.a" && problem.contains("two of the network's tensors")),
        "{err}"
    );
    assert_eq!((net.layer_0.a, net.layer_0.b), ([1.0, 2.0], [3.0, 4.0]));
}

#[test]
fn a_layer_whose_shape_disagrees_with_its_data_is_refused_without_a_panic() {
    let mut net = Misshapen::new(&mut gradflow::rng(1));
    net.layer_0.a = [1.0, 2.0];
    let err = weights::from_bytes(&mut net, &user_layer_file(Some(3))).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Mapping { name, problem }
            if name == "layer_0.b" && problem.contains("shape [3] but 2 values")),
        "{err}"
    );
    // Nothing was written, not even the tensors before it.
    assert_eq!(net.layer_0.a, [1.0, 2.0]);
}

/// Batchnorm's `eps` and `momentum` are stored beside its tensors, as scalar tensors, so a
/// loaded network computes what the saved one did (Keras' `eps` is 1e-3, not the 1e-5 of
/// `new`).
#[test]
fn batchnorm_settings_travel_with_the_weights() {
    let mut saved = net(1);
    (saved.batchnorm_0.eps, saved.batchnorm_0.momentum) = (1e-3, 0.01);
    let bytes = weights::to_bytes(&saved).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let eps = file.tensor("batchnorm_0.eps").unwrap();
    assert_eq!((eps.dtype(), eps.shape()), (Dtype::F32, &[][..]));
    assert_eq!(eps.data(), 1e-3f32.to_le_bytes());
    let mut loaded = net(2);
    weights::from_bytes(&mut loaded, &bytes).unwrap();
    assert_eq!(loaded.batchnorm_0.eps, 1e-3);
    assert_eq!(loaded.batchnorm_0.momentum, 0.01);
    let x = [[0.5f32, -1.0, 2.0], [0.1, 0.2, 0.3]];
    assert_eq!(loaded.forward(&x), saved.forward(&x));
    // f64 too, exactly.
    let mut saved = Net64::new(&mut gradflow::rng(1));
    saved.batchnorm_0.eps = 0.1 + 0.2;
    let mut loaded = Net64::new(&mut gradflow::rng(2));
    weights::from_bytes(&mut loaded, &weights::to_bytes(&saved).unwrap()).unwrap();
    assert_eq!(loaded.batchnorm_0.eps, 0.1 + 0.2);
}

/// A file without settings (written before they were stored, or by hand) leaves the
/// network's own.
#[test]
fn a_file_without_settings_keeps_the_networks_own() {
    let mut saved = net(1);
    saved.batchnorm_0.eps = 1e-3;
    let bytes = weights::to_bytes(&saved).unwrap();
    let mut tensors = entries(&bytes);
    tensors.retain(|(name, ..)| !name.ends_with(".eps") && !name.ends_with(".momentum"));
    let mut loaded = net(2);
    loaded.batchnorm_0.eps = 2e-5;
    weights::from_bytes(&mut loaded, &write(&tensors)).unwrap();
    assert_eq!(loaded.batchnorm_0.eps, 2e-5);
    assert_eq!(loaded.batchnorm_0.gamma, saved.batchnorm_0.gamma);
}

#[test]
fn a_setting_out_of_its_range_is_refused_both_ways() {
    let bytes = weights::to_bytes(&net(1)).unwrap();
    let with = |name: &str, value: f32, shape: Vec<usize>| {
        let mut tensors = entries(&bytes);
        for t in tensors.iter_mut().filter(|t| t.0 == name) {
            (t.2, t.3) = (shape.clone(), value.to_le_bytes().to_vec());
        }
        write(&tensors)
    };
    let err = load_err(&with("batchnorm_0.eps", -1.0, vec![]));
    assert!(err.to_string().contains("it must be positive"), "{err}");
    let err = load_err(&with("batchnorm_0.momentum", 1.5, vec![]));
    assert!(err.to_string().contains("between 0 and 1"), "{err}");
    let err = load_err(&with("batchnorm_0.eps", f32::NAN, vec![]));
    assert!(matches!(err, WeightsError::NonFinite { .. }), "{err}");
    let err = load_err(&with("batchnorm_0.eps", 1e-3, vec![1]));
    assert!(matches!(err, WeightsError::Shape { .. }), "{err}");
    // Saving refuses what loading would.
    let mut bad = net(1);
    bad.batchnorm_0.eps = 0.0;
    let err = weights::to_bytes(&bad).unwrap_err();
    assert!(
        matches!(&err, WeightsError::OutOfDomain { name, .. } if name == "batchnorm_0.eps"),
        "{err}"
    );
}
