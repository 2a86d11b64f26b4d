//! The baked-weights byte layout, shared by every generated network: the scalars of every
//! stored tensor (parameters, frozen parameters and running statistics), tensor after tensor
//! in [`Network::visit_tensors`] order, each tensor row-major, each scalar little-endian
//! (`f32::to_le_bytes`). The total is exactly `PARAM_BYTES`; there is no header.
//!
//! The std side writes it ([`to_le_bytes`], [`write_le_bytes`]); a device reads it back into
//! an existing network ([`load_le_bytes`]) or, without running any code at all, builds a
//! network in a `static` with the generated `const fn from_le_bytes`.

use crate::network::{check_layout, check_layout_mut, Network};
use gradflow_tensor::Scalar;

/// One scalar's little-endian bytes written into `out` (`size_of::<T>()` bytes).
fn put_le<T: Scalar>(value: T, out: &mut [u8]) {
    out.copy_from_slice(bytemuck::bytes_of(&value));
    // IEEE floats are stored in native byte order: reverse them on big-endian targets.
    if cfg!(target_endian = "big") {
        out.reverse();
    }
}

/// One scalar read from its little-endian bytes (`size_of::<T>()` bytes).
fn get_le<T: Scalar>(bytes: &[u8]) -> T {
    let mut value = T::ZERO;
    let native = bytemuck::bytes_of_mut(&mut value);
    native.copy_from_slice(bytes);
    if cfg!(target_endian = "big") {
        native.reverse();
    }
    value
}

/// Writes every stored tensor of `net` into `out` in the baked-weights layout.
///
/// # Panics
/// If `out` is not exactly `N::PARAM_BYTES` long (the methods `network!` generates take
/// `&mut [u8; PARAM_BYTES]`, so through them the length is checked at compile time), or if a
/// layer misdescribes its tensors ([`check_layout`]: a layer of your own whose
/// `PARAM_COUNT` disagrees with its `visit_tensors`), which would leave values out.
pub fn write_le_bytes<T: Scalar, N: Network<T> + ?Sized>(net: &N, out: &mut [u8]) {
    assert_eq!(
        out.len(),
        N::PARAM_BYTES,
        "baked weights: wrong buffer length"
    );
    if let Err(e) = check_layout(net) {
        panic!("baked weights: {e}");
    }
    let size = core::mem::size_of::<T>();
    let mut chunks = out.chunks_exact_mut(size);
    net.visit_tensors(&mut |tensor| {
        for (&value, chunk) in tensor.data.iter().zip(chunks.by_ref()) {
            put_le(value, chunk);
        }
    });
}

/// Overwrites every stored tensor of `net` with the values in `bytes` (baked-weights layout).
/// State that is not a tensor (a batchnorm's `eps` and `momentum`) is kept, except where it
/// is a zeroed network's: a batchnorm whose `eps` is 0 (which no batchnorm admits; a network
/// made by [`crate::memory::const_zeroed`] has it) gets the defaults that the generated
/// `from_le_bytes` and `init` give, `eps` [`DEFAULT_EPS`] and, if its `momentum` is 0 too, [`DEFAULT_MOMENTUM`].
/// Otherwise the loaded network would divide by a variance of 0 and never update its
/// running statistics.
///
/// [`DEFAULT_EPS`]: crate::batchnorm::DEFAULT_EPS
/// [`DEFAULT_MOMENTUM`]: crate::batchnorm::DEFAULT_MOMENTUM
///
/// # Panics
/// If `bytes` is not exactly `N::PARAM_BYTES` long (see [`write_le_bytes`]), or if a layer
/// misdescribes its tensors ([`check_layout_mut`]: also a `visit_tensors_mut` that does not
/// visit what `visit_tensors` does), before anything is written.
pub fn load_le_bytes<T: Scalar, N: Network<T> + ?Sized>(net: &mut N, bytes: &[u8]) {
    assert_eq!(bytes.len(), N::PARAM_BYTES, "baked weights: wrong length");
    if let Err(e) = check_layout_mut(net) {
        panic!("baked weights: {e}");
    }
    let size = core::mem::size_of::<T>();
    let mut chunks = bytes.chunks_exact(size);
    net.visit_tensors_mut(&mut |tensor| {
        for (value, chunk) in tensor.data.iter_mut().zip(chunks.by_ref()) {
            *value = get_le(chunk);
        }
    });
    default_zeroed_settings(net);
}

/// Gives the batchnorm defaults to the settings a zeroed network left at 0 (see
/// [`load_le_bytes`]). A batchnorm visits `eps` then `momentum`, under its layer's name.
fn default_zeroed_settings<T: Scalar, N: Network<T> + ?Sized>(net: &mut N) {
    use crate::batchnorm::{DEFAULT_EPS, DEFAULT_MOMENTUM};
    let mut defaulted: Option<&'static str> = None;
    net.visit_settings_mut(&mut |s| {
        let zero = s.value.to_f64() == 0.0 && !(s.admits)(0.0);
        if s.name == "eps" && zero {
            *s.value = T::from_f64(DEFAULT_EPS);
            defaulted = Some(s.layer);
        } else if s.name == "momentum" && defaulted == Some(s.layer) && s.value.to_f64() == 0.0 {
            *s.value = T::from_f64(DEFAULT_MOMENTUM);
        }
    });
}

/// The baked-weights bytes of `net` in a new vector, `N::PARAM_BYTES` long.
#[cfg(feature = "alloc")]
pub fn to_le_bytes<T: Scalar, N: Network<T> + ?Sized>(net: &N) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec![0; N::PARAM_BYTES];
    write_le_bytes(net, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_little_endian() {
        let mut out = [0u8; 4];
        put_le(1.0f32, &mut out);
        assert_eq!(out, 1.0f32.to_le_bytes());
        let mut out = [0u8; 8];
        put_le(-2.5f64, &mut out);
        assert_eq!(out, (-2.5f64).to_le_bytes());
        assert_eq!(get_le::<f64>(&out), -2.5);
    }
}
