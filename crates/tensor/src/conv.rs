//! 2-D convolution over channels-last samples as matrix products (a conv1d is the `kh = 1`
//! case).
//!
//! A sample is `[H][W][C]` and a weight `[KH][KW][C][OC]`. Flattened, the weight is a
//! `(KH*KW*C) x OC` matrix whose row `(u*KW + v)*C + c` belongs to tap `(u, v)` and input
//! channel `c`, and the output of a batch is a `(B*OH*OW) x OC` matrix. The input side of the
//! product is the matrix of patches (im2col), which is never built whole: blocks of at most
//! [`BLOCK`] elements are gathered on the stack and multiplied by [`gemm`] one after the
//! other, so no heap is involved and large images need no large buffers.
//!
//! - forward: `Y += Patches W`
//! - weight gradient: `dW += Patches^T dY`
//! - input gradient, stride 1 (an output covering a full pass, a weight of at most 4096
//!   values): `dX = Patches(dY) W'`, the forward convolution of `dY` with the weight flipped in
//!   space and transposed in channels, `W'[u][v][o][c] = W[KH-1-u][KW-1-v][c][o]`, padded by
//!   `KH-1-PH`, `KW-1-PW` (a shared dimension of `KH*KW*OC`, where the product below has only
//!   `OC`, and no scattering), through the implicit kernel where it takes the shape
//! - input gradient, otherwise: `dPatches = dY W^T`, scattered back onto `dX` (col2im)
//!
//! These pay off where [`gemm`] has a fast kernel ([`Scalar::has_fast_gemm`]); elsewhere direct
//! loops do as well without the 2 x [`BLOCK`] elements of stack.

use crate::gemm::{gemm, View, ViewMut};
use crate::simd::copy_short;
use crate::Scalar;

/// Elements in one gathered block of patches (64 KiB of `f32`): enough rows that the weight
/// gradient's products have a long shared dimension.
pub const BLOCK: usize = 16384;

/// The shape of a convolution: input `h x w x c`, output `oh x ow x oc`, kernel `kh x kw`,
/// strides and zero padding per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Output channels.
    pub oc: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Zero rows added above (and below) the input.
    pub ph: usize,
    /// Zero columns added left (and right) of the input.
    pub pw: usize,
}

impl Geometry {
    /// Elements of one patch: one row of the patch matrix.
    ///
    /// # Panics
    /// If the count overflows `usize` (the fields are public, so nothing else prevents it).
    pub fn patch_len(&self) -> usize {
        product([self.kh, self.kw, self.c])
    }

    pub(crate) fn sample_len(&self) -> usize {
        product([self.h, self.w, self.c])
    }

    pub(crate) fn pixels(&self) -> usize {
        product([self.oh, self.ow, 1])
    }

    /// Offset in a sample of tap `(u, v)` of output pixel `(oy, ox)`, or `None` in the padding.
    #[inline]
    pub(crate) fn tap(&self, oy: usize, ox: usize, u: usize, v: usize) -> Option<usize> {
        let iy = (oy * self.sh + u)
            .checked_sub(self.ph)
            .filter(|&i| i < self.h)?;
        let ix = (ox * self.sw + v)
            .checked_sub(self.pw)
            .filter(|&i| i < self.w)?;
        Some((iy * self.w + ix) * self.c)
    }

    /// Calls `f(offset_in_block, offset_in_sample or None, run)` for each run of consecutive
    /// patch columns among `k0..k1` of pixel `p` that are consecutive in the sample too (or all
    /// padding): the channels of one tap, extended across the following taps of the same kernel
    /// row while those read the next input columns.
    #[inline]
    fn runs(&self, p: usize, k0: usize, k1: usize, mut f: impl FnMut(usize, Option<usize>, usize)) {
        let (oy, ox) = (p / self.ow, p % self.ow);
        let at_tap = |tap: usize| self.tap(oy, ox, tap / self.kw, tap % self.kw);
        let mut k = k0;
        while k < k1 {
            let (tap, ch) = (k / self.c, k % self.c);
            let at = at_tap(tap).map(|offset| offset + ch);
            let mut end = ((tap + 1) * self.c).min(k1);
            // Taps v and v + 1 of one kernel row read neighbouring input columns.
            let mut next = tap + 1;
            while end < k1 && next % self.kw != 0 {
                let continues = match (at, at_tap(next)) {
                    (Some(at), Some(n)) => n == at + (end - k),
                    (None, None) => true,
                    _ => false,
                };
                if !continues {
                    break;
                }
                end = ((next + 1) * self.c).min(k1);
                next += 1;
            }
            f(k - k0, at, end - k);
            k = end;
        }
    }

    fn check<T>(&self, batch: usize, x: &[T], w: &[T], y: &[T]) {
        assert!(
            self.c > 0 && self.kh > 0 && self.kw > 0 && self.sh > 0 && self.sw > 0,
            "degenerate convolution {self:?}"
        );
        // The last output row's last tap, `(oh - 1) * sh + kh - 1`, must lie within the
        // padded input and be computable without wrapping around (the taps are computed so).
        let fits = |out: usize, stride: usize, kernel: usize, input: usize, pad: usize| {
            out == 0
                || (out - 1)
                    .checked_mul(stride)
                    .and_then(|reach| reach.checked_add(kernel))
                    .is_some_and(|reach| reach as u128 <= input as u128 + 2 * pad as u128)
        };
        assert!(
            fits(self.oh, self.sh, self.kh, self.h, self.ph)
                && fits(self.ow, self.sw, self.kw, self.w, self.pw),
            "output {}x{} does not fit {self:?}",
            self.oh,
            self.ow
        );
        let overflow = "a convolution geometry whose sizes overflow usize";
        let times = |a: usize, b: usize| a.checked_mul(b).expect(overflow);
        // The padded sizes are computed (`kernel_rows`): they must fit too.
        for (size, pad) in [(self.h, self.ph), (self.w, self.pw)] {
            times(pad, 2).checked_add(size).expect(overflow);
        }
        assert_eq!(x.len(), times(batch, self.sample_len()), "input length");
        assert_eq!(w.len(), times(self.patch_len(), self.oc), "weight length");
        assert_eq!(
            y.len(),
            times(times(batch, self.pixels()), self.oc),
            "output length"
        );
    }

    /// How a batch's patch matrix is cut: columns per block, rows (pixels) per block.
    fn blocks(&self) -> (usize, usize) {
        let cols = self.patch_len().min(BLOCK);
        (cols, (BLOCK / cols).max(1))
    }

    /// Gathers rows `p0..p0 + rows` (pixels of the whole batch, sample-major) and columns
    /// `k0..k0 + cols` of the patch matrix into `block`, row-major.
    fn gather<T: Scalar>(
        &self,
        x: &[T],
        p0: usize,
        rows: usize,
        k0: usize,
        cols: usize,
        block: &mut [T],
    ) {
        if k0 == 0 && cols == self.patch_len() {
            let sample_len = self.sample_len();
            self.whole_patches(p0, rows, |i, b, oy, ox| {
                let sample = &x[b * sample_len..(b + 1) * sample_len];
                let out = &mut block[i * cols..(i + 1) * cols];
                self.kernel_rows(oy, ox, |start, len, at| {
                    let dst = &mut out[start..start + len];
                    match at {
                        Some(at) => copy_short(dst, &sample[at..at + len]),
                        None => dst.fill(T::ZERO),
                    }
                });
            });
        } else {
            self.gather_runs(x, p0, rows, k0, cols, block);
        }
    }

    /// [`gather`](Self::gather) for any block of columns, run by run: the general path, for
    /// patches longer than a block.
    fn gather_runs<T: Scalar>(
        &self,
        x: &[T],
        p0: usize,
        rows: usize,
        k0: usize,
        cols: usize,
        block: &mut [T],
    ) {
        let (per_sample, sample_len) = (self.pixels(), self.sample_len());
        for (i, out) in block.chunks_exact_mut(cols).take(rows).enumerate() {
            let (b, p) = ((p0 + i) / per_sample, (p0 + i) % per_sample);
            let sample = &x[b * sample_len..(b + 1) * sample_len];
            self.runs(p, k0, k0 + cols, |j, at, run| {
                let dst = &mut out[j..j + run];
                match at {
                    Some(at) => copy_short(dst, &sample[at..at + run]),
                    None => dst.fill(T::ZERO),
                }
            });
        }
    }

    /// Calls `f(i, sample, oy, ox)` for the pixels `p0..p0 + rows` of the batch, `i` counting
    /// from 0, stepping through samples and rows without a division per pixel.
    #[inline]
    fn whole_patches(&self, p0: usize, rows: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
        let per_sample = self.pixels();
        if per_sample == 0 {
            return;
        }
        let (mut b, p) = (p0 / per_sample, p0 % per_sample);
        let (mut oy, mut ox) = (p / self.ow, p % self.ow);
        for i in 0..rows {
            f(i, b, oy, ox);
            ox += 1;
            if ox == self.ow {
                ox = 0;
                oy += 1;
                if oy == self.oh {
                    oy = 0;
                    b += 1;
                }
            }
        }
    }

    /// Cuts the whole patch of output pixel `(oy, ox)` into its kernel rows, and each kernel
    /// row into at most three runs: taps left of the input (padding), taps inside it, which
    /// read consecutive input values, and taps right of it. Calls `f(start, len, at)` for each
    /// run in order, `start` in the patch, `at` its offset in the sample or `None` for padding.
    #[inline]
    fn kernel_rows(&self, oy: usize, ox: usize, mut f: impl FnMut(usize, usize, Option<usize>)) {
        let (c, kw) = (self.c, self.kw);
        let start = ox * self.sw;
        // Taps 0..left fall left of column 0, taps kw - right..kw right of the last column.
        let left = self.pw.saturating_sub(start).min(kw);
        let right = (start + kw).saturating_sub(self.pw + self.w).min(kw - left);
        let inside = kw - left - right;
        for u in 0..self.kh {
            let row = u * kw * c;
            let iy = (oy * self.sh + u)
                .checked_sub(self.ph)
                .filter(|&i| i < self.h);
            let Some(iy) = iy else {
                f(row, kw * c, None);
                continue;
            };
            if left > 0 {
                f(row, left * c, None);
            }
            if inside > 0 {
                let at = (iy * self.w + start + left - self.pw) * c;
                f(row + left * c, inside * c, Some(at));
            }
            if right > 0 {
                f(row + (left + inside) * c, right * c, None);
            }
        }
    }

    /// Adds a block laid out as [`gather`](Self::gather) reads it back onto the input positions
    /// it came from (padding positions are dropped).
    fn scatter_add<T: Scalar>(
        &self,
        dx: &mut [T],
        p0: usize,
        rows: usize,
        k0: usize,
        cols: usize,
        block: &[T],
    ) {
        let (per_sample, sample_len) = (self.pixels(), self.sample_len());
        if k0 == 0 && cols == self.patch_len() {
            self.whole_patches(p0, rows, |i, b, oy, ox| {
                let sample = &mut dx[b * sample_len..(b + 1) * sample_len];
                let src = &block[i * cols..(i + 1) * cols];
                self.kernel_rows(oy, ox, |start, len, at| {
                    if let Some(at) = at {
                        let from = &src[start..start + len];
                        for (d, &g) in sample[at..at + len].iter_mut().zip(from) {
                            *d += g;
                        }
                    }
                });
            });
            return;
        }
        for (i, src) in block.chunks_exact(cols).take(rows).enumerate() {
            let (b, p) = ((p0 + i) / per_sample, (p0 + i) % per_sample);
            let sample = &mut dx[b * sample_len..(b + 1) * sample_len];
            self.runs(p, k0, k0 + cols, |j, at, run| {
                if let Some(at) = at {
                    for (d, &g) in sample[at..at + run].iter_mut().zip(&src[j..j + run]) {
                        *d += g;
                    }
                }
            });
        }
    }
}

/// `a * b * c`, refusing to wrap around.
fn product(factors: [usize; 3]) -> usize {
    factors
        .into_iter()
        .try_fold(1usize, usize::checked_mul)
        .expect("a convolution geometry whose sizes overflow usize")
}

/// `y += conv(x, w)` over a batch of `batch` samples (the caller fills `y` with the bias
/// first). Slices are the flattened arrays.
///
/// # Panics
/// If a slice's length disagrees with the geometry; if the geometry is degenerate (`c`, `kh`,
/// `kw`, `sh` or `sw` is 0), its output does not fit its padded input, or its sizes overflow
/// `usize`.
pub fn forward<T: Scalar>(g: &Geometry, batch: usize, x: &[T], w: &[T], y: &mut [T]) {
    g.check(batch, x, w, y);
    let (cols, rows) = g.blocks();
    let total = batch * g.pixels();
    // The whole batch in one call where the type's implicit kernel takes it (it needs no
    // buffer, so the gather blocks' size means nothing to it): its tiles then run across
    // those blocks' boundaries, and only the batch's last rows make short tiles. Each output
    // row's sums are the same either way. Where it declines the whole batch (with `parallel`,
    // a product worth splitting across threads), it may still take the blocks below.
    if cols == g.patch_len() && total > 0 {
        let mut out = ViewMut::row_major(&mut y[..total * g.oc], total, g.oc);
        if T::try_fast_conv_block(g, x, w, 0, &mut out) {
            return;
        }
    }
    // Zeroed (64 KiB) only once a block needs gathering.
    let mut buffer: Option<[T; BLOCK]> = None;
    for p0 in (0..total).step_by(rows) {
        let rows = rows.min(total - p0);
        let mut out = ViewMut::row_major(&mut y[p0 * g.oc..(p0 + rows) * g.oc], rows, g.oc);
        // The same product without gathering the patches, where the type's kernel has it.
        if cols == g.patch_len() && T::try_fast_conv_block(g, x, w, p0, &mut out) {
            continue;
        }
        let block = buffer.get_or_insert([T::ZERO; BLOCK]);
        for k0 in (0..g.patch_len()).step_by(cols) {
            let cols = cols.min(g.patch_len() - k0);
            g.gather(x, p0, rows, k0, cols, block);
            let patches = View::row_major(&block[..rows * cols], rows, cols);
            let weights = View::row_major(&w[k0 * g.oc..(k0 + cols) * g.oc], cols, g.oc);
            gemm(patches, weights, &mut out, true);
        }
    }
}

/// `dw += Patches^T dy`, and `dx` (overwritten) when given: for a stride-1 geometry whose
/// output covers a full pass and whose weight has at most 4096 values, the forward
/// convolution of `dy` with the weight flipped in space and transposed in channels;
/// otherwise `dPatches = dy W^T`, scattered back.
///
/// # Panics
/// As [`forward`] does, and if `dx` or `dw` is not as long as `x` or `w`.
pub fn backward<T: Scalar>(
    g: &Geometry,
    batch: usize,
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: Option<&mut [T]>,
) {
    g.check(batch, x, w, dy);
    let mut dx = dx.and_then(|dx| {
        assert_eq!(dx.len(), x.len(), "input gradient length");
        dx.fill(T::ZERO);
        (!input_grad_as_forward(g, batch, w, dy, dx)).then_some(dx)
    });
    let mut dw = dw;
    if let Some(dw) = dw.as_deref() {
        assert_eq!(dw.len(), w.len(), "weight gradient length");
    }
    let (cols, rows) = g.blocks();
    let total = batch * g.pixels();
    let mut block = [T::ZERO; BLOCK];
    for p0 in (0..total).step_by(rows) {
        let rows = rows.min(total - p0);
        let grads = View::row_major(&dy[p0 * g.oc..(p0 + rows) * g.oc], rows, g.oc);
        for k0 in (0..g.patch_len()).step_by(cols) {
            let cols = cols.min(g.patch_len() - k0);
            if let Some(dw) = dw.as_deref_mut() {
                // The same product without gathering the patches, where the type's kernel has it.
                let whole = cols == g.patch_len();
                if !(whole && T::try_fast_conv_weight_grad(g, x, p0, grads, dw)) {
                    g.gather(x, p0, rows, k0, cols, &mut block);
                    let patches = View::row_major(&block[..rows * cols], rows, cols);
                    let mut out =
                        ViewMut::row_major(&mut dw[k0 * g.oc..(k0 + cols) * g.oc], cols, g.oc);
                    gemm(patches.t(), grads, &mut out, true);
                }
            }
            if let Some(dx) = dx.as_deref_mut() {
                let weights = View::row_major(&w[k0 * g.oc..(k0 + cols) * g.oc], cols, g.oc);
                gemm(
                    grads,
                    weights.t(),
                    &mut ViewMut::row_major(&mut block[..rows * cols], rows, cols),
                    false,
                );
                g.scatter_add(dx, p0, rows, k0, cols, &block);
            }
        }
    }
}

/// Largest flipped weight [`input_grad_as_forward`] builds on the stack.
const FLIPPED: usize = 4096;

/// `dx += ` the input gradient of a stride-1 convolution, computed as the forward
/// convolution of `dy` with the weight flipped in space and transposed in channels,
/// where the type's implicit kernel takes that shape; returns false having done nothing
/// otherwise.
#[inline(never)]
fn input_grad_as_forward<T: Scalar>(
    g: &Geometry,
    batch: usize,
    w: &[T],
    dy: &[T],
    dx: &mut [T],
) -> bool {
    // Every input pixel must be covered as in a full stride-1 pass: `oh = h + 2 ph - kh + 1`
    // (the geometry's output may be shorter, leaving the last rows' gradient zero).
    if g.oc == 0
        || g.sh != 1
        || g.sw != 1
        || g.ph >= g.kh
        || g.pw >= g.kw
        || g.oh + g.kh != g.h + 2 * g.ph + 1
        || g.ow + g.kw != g.w + 2 * g.pw + 1
        || w.len() > FLIPPED
    {
        return false;
    }
    let t = Geometry {
        h: g.oh,
        w: g.ow,
        c: g.oc,
        oh: g.h,
        ow: g.w,
        oc: g.c,
        kh: g.kh,
        kw: g.kw,
        sh: 1,
        sw: 1,
        ph: g.kh - 1 - g.ph,
        pw: g.kw - 1 - g.pw,
    };
    let mut flipped = [T::ZERO; FLIPPED];
    for u in 0..g.kh {
        for v in 0..g.kw {
            let tap = (g.kh - 1 - u) * g.kw + (g.kw - 1 - v);
            for c in 0..g.c {
                for o in 0..g.oc {
                    flipped[((u * g.kw + v) * g.oc + o) * g.c + c] = w[(tap * g.c + c) * g.oc + o];
                }
            }
        }
    }
    forward(&t, batch, dy, &flipped[..w.len()], dx);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};
    use std::vec::Vec;

    /// Direct definition: `y[b][oy][ox][o] = sum x[b][iy][ix][c] * w[u][v][c][o]`.
    fn naive(g: &Geometry, batch: usize, x: &[f64], w: &[f64]) -> [f64; 2048] {
        let mut y = [0.0; 2048];
        for b in 0..batch {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for o in 0..g.oc {
                        let mut sum = 0.0;
                        for u in 0..g.kh {
                            for v in 0..g.kw {
                                let (iy, ix) = (oy * g.sh + u, ox * g.sw + v);
                                if iy < g.ph || ix < g.pw || iy - g.ph >= g.h || ix - g.pw >= g.w {
                                    continue;
                                }
                                for c in 0..g.c {
                                    let xi = ((b * g.h + iy - g.ph) * g.w + ix - g.pw) * g.c + c;
                                    let wi = ((u * g.kw + v) * g.c + c) * g.oc + o;
                                    sum += x[xi] * w[wi];
                                }
                            }
                        }
                        y[((b * g.oh + oy) * g.ow + ox) * g.oc + o] = sum;
                    }
                }
            }
        }
        y
    }

    /// A stride-`(sh, sw)`, padding-`(ph, pw)` convolution of an `h x w x c` input with `oc`
    /// `kh x kw` kernels, its output size as PyTorch rounds it.
    fn geometry(
        (h, w, c, oc, kh, kw, sh, sw, ph, pw): (
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
        ),
    ) -> Geometry {
        let oh = (h + 2 * ph - kh) / sh + 1;
        let ow = (w + 2 * pw - kw) / sw + 1;
        Geometry {
            h,
            w,
            c,
            oh,
            ow,
            oc,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
        }
    }

    fn geometries() -> [Geometry; 5] {
        [
            (5, 5, 3, 4, 3, 3, 1, 1, 1, 1),
            (6, 7, 2, 3, 3, 3, 2, 2, 1, 1),
            (5, 6, 3, 2, 2, 3, 2, 1, 0, 0),
            (1, 9, 4, 3, 1, 3, 1, 2, 0, 1),
            (4, 4, 5, 2, 1, 1, 1, 1, 0, 0),
        ]
        .map(geometry)
    }

    #[test]
    fn forward_matches_the_definition() {
        for g in geometries() {
            let batch = 2;
            let x = test_values::<512>(1);
            let w = test_values::<512>(2);
            let (x, w) = (&x[..batch * g.sample_len()], &w[..g.patch_len() * g.oc]);
            let mut y = [0.0; 2048];
            let y = &mut y[..batch * g.pixels() * g.oc];
            forward(&g, batch, x, w, y);
            let expected = naive(&g, batch, x, w);
            for (a, b) in y.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for g in geometries() {
            let batch = 2;
            let x = test_values::<512>(3);
            let w = test_values::<512>(4);
            let r = test_values::<2048>(5);
            let (x, w) = (&x[..batch * g.sample_len()], &w[..g.patch_len() * g.oc]);
            let n = batch * g.pixels() * g.oc;
            let loss = |x: &[f64], w: &[f64]| -> f64 {
                let mut y = [0.0; 2048];
                forward(&g, batch, x, w, &mut y[..n]);
                y[..n].iter().zip(&r).map(|(y, r)| y * r).sum()
            };
            let mut dx = [0.0; 512];
            let mut dw = [7.0; 512];
            let dx = &mut dx[..x.len()];
            let dw = &mut dw[..w.len()];
            dw.fill(0.0);
            backward(&g, batch, x, w, &r[..n], Some(dx), Some(dw));
            let (mut xa, mut wa) = ([0.0; 512], [0.0; 512]);
            xa[..x.len()].copy_from_slice(x);
            wa[..w.len()].copy_from_slice(w);
            let check = check_gradient(dx, |k, d| {
                let mut xa = xa;
                xa[k] += d;
                loss(&xa[..x.len()], w)
            });
            assert!(check.passes(1e-6), "{g:?} input: {check:?}");
            let check = check_gradient(dw, |k, d| {
                let mut wa = wa;
                wa[k] += d;
                loss(x, &wa[..w.len()])
            });
            assert!(check.passes(1e-6), "{g:?} weight: {check:?}");
        }
    }

    /// `len` values in `[-0.5, 0.5)`, spread by the multiplier `mul` (odd patterns, no zeros
    /// in a row).
    fn ramp<T: Scalar>(len: usize, mul: usize) -> Vec<T> {
        (0..len)
            .map(|i| T::from_f64(((i * mul) % 997) as f64 / 997.0 - 0.5))
            .collect()
    }

    /// The input gradient by its definition, `dx[b][iy][ix][c] = sum dy[b][oy][ox][o] *
    /// w[u][v][c][o]` over every output pixel whose patch holds `(iy, ix)` at tap `(u, v)`.
    fn naive_input_grad<T: Scalar>(g: &Geometry, batch: usize, w: &[T], dy: &[T]) -> Vec<f64> {
        let mut dx = std::vec![0.0; batch * g.sample_len()];
        for b in 0..batch {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for u in 0..g.kh {
                        for v in 0..g.kw {
                            let (iy, ix) = (oy * g.sh + u, ox * g.sw + v);
                            if iy < g.ph || ix < g.pw || iy - g.ph >= g.h || ix - g.pw >= g.w {
                                continue;
                            }
                            for c in 0..g.c {
                                for o in 0..g.oc {
                                    let d = dy[((b * g.oh + oy) * g.ow + ox) * g.oc + o];
                                    let wi = ((u * g.kw + v) * g.c + c) * g.oc + o;
                                    dx[((b * g.h + iy - g.ph) * g.w + ix - g.pw) * g.c + c] +=
                                        d.to_f64() * w[wi].to_f64();
                                }
                            }
                        }
                    }
                }
            }
        }
        dx
    }

    /// The input gradient, in f64 and in f32 (where stride 1 computes it as a forward
    /// convolution of `dy` with the flipped weight, through the implicit kernel when the input
    /// has whole 16-channel panels), against its definition: the W6 shape over several blocks,
    /// 17 and 3 channels, 5x5 and 4x4 and 1x1 and 1x3 kernels, no padding, padding wider than
    /// half the kernel, an output shorter than a full pass, and strides that keep the
    /// scattering path.
    #[test]
    fn input_gradient_matches_the_definition() {
        let specs = [
            (8, 8, 16, 16, 3, 3, 1, 1, 1, 1),
            (5, 5, 17, 3, 3, 3, 1, 1, 1, 1),
            (6, 6, 32, 16, 5, 5, 1, 1, 2, 2),
            (7, 7, 16, 16, 4, 4, 1, 1, 0, 0),
            (3, 3, 16, 5, 2, 2, 1, 1, 1, 1),
            (1, 9, 3, 4, 1, 3, 1, 1, 0, 1),
            (4, 5, 16, 1, 1, 1, 1, 1, 0, 0),
            (6, 7, 2, 3, 3, 3, 2, 2, 1, 1),
            (5, 6, 3, 2, 2, 3, 2, 1, 0, 0),
        ];
        let data = ramp::<f64>;
        let mut geometries: Vec<Geometry> = specs.map(geometry).to_vec();
        // No output channels: the gradient is 0 (the transposed geometry would have no input
        // channels, which the forward pass refuses).
        geometries.push(geometry((4, 4, 3, 0, 3, 3, 1, 1, 1, 1)));
        // Stride 1 but an output one row short of a full pass: the last input row gets 0.
        let mut short = geometry((6, 6, 16, 16, 3, 3, 1, 1, 1, 1));
        short.oh -= 1;
        geometries.push(short);
        for g in geometries {
            let batch = 3;
            let (n_x, n_w, n_y) = (
                batch * g.sample_len(),
                g.patch_len() * g.oc,
                batch * g.pixels() * g.oc,
            );
            let (x, w, dy) = (data(n_x, 7919), data(n_w, 104729), data(n_y, 31));
            let expected = naive_input_grad(&g, batch, &w, &dy);
            let mut dx = std::vec![7.0; n_x];
            backward(&g, batch, &x, &w, &dy, Some(&mut dx), None);
            for (a, b) in dx.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-12, "{g:?} f64: {a} vs {b}");
            }
            let narrow = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<_>>();
            let (x32, w32, dy32) = (narrow(&x), narrow(&w), narrow(&dy));
            let expected = naive_input_grad(&g, batch, &w32, &dy32);
            let mut dx32 = std::vec![7.0f32; n_x];
            backward(&g, batch, &x32, &w32, &dy32, Some(&mut dx32), None);
            for (a, b) in dx32.iter().zip(&expected) {
                assert!((*a as f64 - b).abs() < 1e-5, "{g:?} f32: {a} vs {b}");
            }
        }
    }

    /// The f32 path (the fast product kernel where the CPU has one) against f64.
    #[test]
    fn f32_agrees_with_f64() {
        for g in geometries() {
            let batch = 3;
            let (n_x, n_w, n_y) = (
                batch * g.sample_len(),
                g.patch_len() * g.oc,
                batch * g.pixels() * g.oc,
            );
            let x = test_values::<512>(8);
            let w = test_values::<512>(9);
            let r = test_values::<2048>(10);
            let narrow = |v: &[f64]| -> [f32; 2048] {
                let mut out = [0.0; 2048];
                for (o, v) in out.iter_mut().zip(v) {
                    *o = *v as f32;
                }
                out
            };
            let (x32, w32, r32) = (narrow(&x[..n_x]), narrow(&w[..n_w]), narrow(&r[..n_y]));
            let (mut y, mut y32) = ([0.0f64; 2048], [0.0f32; 2048]);
            forward(&g, batch, &x[..n_x], &w[..n_w], &mut y[..n_y]);
            forward(&g, batch, &x32[..n_x], &w32[..n_w], &mut y32[..n_y]);
            let (mut dx, mut dx32) = ([0.0f64; 512], [0.0f32; 512]);
            let (mut dw, mut dw32) = ([0.0f64; 512], [0.0f32; 512]);
            backward(
                &g,
                batch,
                &x[..n_x],
                &w[..n_w],
                &r[..n_y],
                Some(&mut dx[..n_x]),
                Some(&mut dw[..n_w]),
            );
            backward(
                &g,
                batch,
                &x32[..n_x],
                &w32[..n_w],
                &r32[..n_y],
                Some(&mut dx32[..n_x]),
                Some(&mut dw32[..n_w]),
            );
            for (a, b) in y
                .iter()
                .zip(&y32)
                .chain(dx.iter().zip(&dx32))
                .chain(dw.iter().zip(&dw32))
            {
                assert!((a - *b as f64).abs() < 1e-4, "{g:?}: {a} vs {b}");
            }
        }
    }

    /// The `f32` kernel that reads patches in place ([`Scalar::try_fast_conv_block`]) against
    /// gathering them and multiplying, bit for bit: 3x3 "same" with 16 and with 1 input
    /// channel, strides, asymmetric padding, a 5x5 kernel, a 256-value patch, 32 output
    /// channels, a 1x1 kernel, padding wider than the kernel, stride 3, blocks starting
    /// mid-sample and mid-batch, every number of rows from 3 to 26 (every tile height and
    /// split of the 6-row and the 12-row tilings), samples too large to copy with their
    /// padding and samples copied in groups, with each kernel of the machine.
    #[test]
    fn patches_read_in_place_match_gathered_ones_bit_for_bit() {
        extern crate std;
        use std::vec::Vec;
        if !crate::gemm::fast_f32_available() {
            return;
        }
        let specs = [
            (8, 8, 16, 16, 3, 3, 1, 1, 1, 1),
            (8, 8, 1, 16, 3, 3, 1, 1, 1, 1),
            (5, 7, 3, 32, 3, 2, 2, 1, 1, 0),
            (6, 6, 4, 16, 5, 5, 1, 1, 2, 2),
            (4, 9, 8, 16, 1, 3, 1, 2, 0, 1),
            (7, 7, 16, 16, 4, 4, 1, 1, 0, 0),
            // 1x1, padding wider than the kernel, stride 3, 48 output channels.
            (4, 5, 8, 16, 1, 1, 1, 1, 0, 0),
            (3, 3, 2, 16, 2, 2, 1, 1, 3, 3),
            (7, 8, 2, 48, 2, 2, 3, 3, 1, 1),
            // A padded sample of 10816 values: one fits the kernel's buffer, so its taps are
            // tested against the padding one by one.
            (24, 24, 16, 16, 3, 3, 1, 1, 1, 1),
            // Padded samples of 6480 values: two fit the buffer, so 26 rows of 16-pixel
            // samples span groups, and a group cut 1 or 2 rows before the end gives 3 back.
            (16, 16, 20, 16, 3, 3, 5, 5, 1, 1),
        ];
        let data = ramp::<f32>;
        let mut checked = 0;
        let kernels = crate::gemm::tests::with_each_kernel(|kernel| {
            for g in specs.map(geometry) {
                let batch = 3;
                let (x, w) = (
                    data(batch * g.sample_len(), 7919),
                    data(g.patch_len() * g.oc, 104729),
                );
                let (cols, total) = (g.patch_len(), batch * g.pixels());
                for p0 in [0, 1, g.pixels() - 1] {
                    for rows in (3..=26).filter(|&r| p0 + r <= total) {
                        let start = data(rows * g.oc, 31);
                        let mut fast = start.clone();
                        let mut out = ViewMut::row_major(&mut fast, rows, g.oc);
                        assert!(f32::try_fast_conv_block(&g, &x, &w, p0, &mut out), "{g:?}");
                        let mut block = std::vec![0.0f32; rows * cols];
                        g.gather(&x, p0, rows, 0, cols, &mut block);
                        let mut slow = start.clone();
                        gemm(
                            View::row_major(&block, rows, cols),
                            View::row_major(&w, cols, g.oc),
                            &mut ViewMut::row_major(&mut slow, rows, g.oc),
                            true,
                        );
                        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(&fast),
                            bits(&slow),
                            "{kernel}: {g:?} rows {p0}..{}",
                            p0 + rows
                        );
                        checked += 1;
                    }
                }
            }
        });
        assert!(checked > 250 * kernels, "{checked}");
        // Shapes it does not take: 10 output channels (a partial panel), 2 rows.
        let g = geometry((4, 4, 2, 10, 3, 3, 1, 1, 1, 1));
        let (x, w) = (data(g.sample_len(), 3), data(g.patch_len() * 10, 5));
        let mut y = std::vec![0.0f32; 4 * 10];
        assert!(!f32::try_fast_conv_block(
            &g,
            &x,
            &w,
            0,
            &mut ViewMut::row_major(&mut y, 4, 10)
        ));
        let g = geometry((4, 4, 2, 16, 3, 3, 1, 1, 1, 1));
        let w = data(g.patch_len() * 16, 5);
        let mut y = std::vec![0.0f32; 2 * 16];
        assert!(!f32::try_fast_conv_block(
            &g,
            &x,
            &w,
            0,
            &mut ViewMut::row_major(&mut y, 2, 16)
        ));
    }

    /// The `f32` weight-gradient kernel that reads patches in place
    /// ([`Scalar::try_fast_conv_weight_grad`]) against gathering them and multiplying, bit for
    /// bit: 8, 12, 16, 20 and 32 channels (tiles of 16, 8 and 4 channels), strides, asymmetric
    /// and wide padding, a 5x5 and a 1x1 kernel, 16, 32 and 48 output channels, runs of pixels
    /// starting mid-sample and mid-batch, from 1 pixel to more than one depth block (`KC`,
    /// 256) of them. On a machine without its kernel it must decline, as it must for shapes
    /// it does not take.
    #[test]
    fn weight_gradient_read_in_place_matches_gathered_bit_for_bit() {
        extern crate std;
        use std::vec::Vec;
        let specs = [
            (8, 8, 16, 16, 3, 3, 1, 1, 1, 1),
            (5, 7, 8, 32, 3, 2, 2, 1, 1, 0),
            (6, 6, 12, 16, 5, 5, 1, 1, 2, 2),
            (4, 9, 20, 48, 1, 3, 1, 2, 0, 1),
            (3, 3, 32, 16, 2, 2, 1, 1, 3, 3),
            (7, 8, 8, 16, 1, 1, 1, 1, 0, 0),
        ];
        let data = ramp::<f32>;
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let mut fast_runs = 0;
        crate::gemm::tests::with_each_kernel(|kernel| {
            for g in specs.map(geometry) {
                let batch = 6;
                let total = batch * g.pixels();
                let x = data(batch * g.sample_len(), 7919);
                let dy = data(total * g.oc, 104729);
                let k = g.patch_len();
                for p0 in [0, 1, g.pixels() - 1] {
                    for rows in [1, 2, 5, 64, 113, 257, 300]
                        .into_iter()
                        .filter(|&r| p0 + r <= total)
                    {
                        let grads = View::row_major(&dy[p0 * g.oc..(p0 + rows) * g.oc], rows, g.oc);
                        let start = data(k * g.oc, 31);
                        let mut fast = start.clone();
                        if !f32::try_fast_conv_weight_grad(&g, &x, p0, grads, &mut fast) {
                            assert_eq!(kernel, "avx2", "{g:?}: declined by the AVX-512 kernel");
                            assert_eq!(fast, start, "declined, yet wrote");
                            continue;
                        }
                        let mut block = std::vec![0.0f32; rows * k];
                        g.gather(&x, p0, rows, 0, k, &mut block);
                        let mut slow = start.clone();
                        gemm(
                            View::row_major(&block, rows, k).t(),
                            grads,
                            &mut ViewMut::row_major(&mut slow, k, g.oc),
                            true,
                        );
                        assert_eq!(
                            bits(&fast),
                            bits(&slow),
                            "{kernel}: {g:?} pixels {p0}..{}",
                            p0 + rows
                        );
                        fast_runs += 1;
                    }
                }
            }
        });
        if crate::gemm::wide_f32_available() {
            assert!(fast_runs > 80, "{fast_runs}");
        }
        // Shapes it does not take: 1 and 6 channels, 10 output channels.
        for spec in [
            (8, 8, 1, 16, 3, 3, 1, 1, 1, 1),
            (4, 4, 6, 16, 3, 3, 1, 1, 1, 1),
            (4, 4, 8, 10, 3, 3, 1, 1, 1, 1),
        ] {
            let g = geometry(spec);
            let (x, dy) = (data(g.sample_len(), 3), data(g.pixels() * g.oc, 5));
            let mut dw = std::vec![0.0f32; g.patch_len() * g.oc];
            let grads = View::row_major(&dy, g.pixels(), g.oc);
            assert!(
                !f32::try_fast_conv_weight_grad(&g, &x, 0, grads, &mut dw),
                "{g:?}"
            );
        }
    }

    /// A geometry whose patch length wraps around `usize` is refused before any kernel runs
    /// (its loops would otherwise run over the real sizes, past the weight).
    #[test]
    #[should_panic(expected = "overflow usize")]
    fn a_geometry_whose_sizes_overflow_is_refused() {
        let g = Geometry {
            kh: (1 << 63) + 1,
            kw: 2,
            ph: 1 << 62,
            pw: 1,
            ..geometry((1, 1, 1, 16, 1, 1, 1, 1, 0, 0))
        };
        let (x, w) = ([0.5f32; 4], [0.5f32; 2 * 16]);
        let mut y = [0.0f32; 16];
        forward(&g, 1, &x[..1], &w, &mut y);
    }

    /// A stride whose product with the output rows wraps around must not pass the fit check
    /// (the taps would wrap the same way and read a real row).
    #[test]
    #[should_panic(expected = "output 3x1 does not fit")]
    fn a_stride_that_wraps_around_is_refused() {
        let g = Geometry {
            oh: 3,
            sh: 1 << 63,
            ..geometry((1, 1, 1, 1, 1, 1, 1, 1, 0, 0))
        };
        let mut y = [0.0f32; 3];
        forward(&g, 1, &[2.0f32], &[1.0], &mut y);
    }

    #[test]
    #[should_panic(expected = "sizes overflow usize")]
    fn a_padding_whose_padded_size_wraps_around_is_refused() {
        let g = Geometry {
            pw: usize::MAX,
            ..geometry((1, 1, 1, 1, 1, 1, 1, 1, 0, 0))
        };
        forward(&g, 1, &[2.0f32], &[1.0], &mut [0.0; 1]);
    }

    #[test]
    #[should_panic(expected = "sizes overflow usize")]
    fn a_batch_whose_length_wraps_around_is_refused() {
        let g = geometry((1, 1, 2, 1, 1, 1, 1, 1, 0, 0));
        let mut y = [0.0f64; 0];
        forward(&g, 1 << 63, &[], &[0.0; 2], &mut y);
    }

    /// The whole-patch gather and scatter (kernel rows cut at the image edges) against the
    /// general run-by-run ones, on the test geometries and on kernels wider than the input,
    /// padding wider than the kernel and strides past the kernel, starting mid-batch.
    #[test]
    fn whole_patch_paths_match_the_general_ones() {
        let extra = [
            (2, 2, 3, 1, 5, 5, 1, 1, 2, 2),
            (3, 2, 2, 1, 3, 3, 1, 1, 3, 3),
            (7, 8, 1, 1, 2, 2, 3, 3, 1, 1),
            (1, 1, 4, 1, 1, 3, 1, 1, 0, 1),
        ]
        .map(geometry);
        for g in geometries().into_iter().chain(extra) {
            let batch = 3;
            let x = test_values::<1024>(8);
            let x = &x[..batch * g.sample_len()];
            let (cols, total) = (g.patch_len(), batch * g.pixels());
            for p0 in [0, 1, g.pixels().saturating_sub(1), g.pixels() + 2] {
                let rows = total.saturating_sub(p0).min(7);
                let (mut fast, mut slow) = ([f64::NAN; 4096], [f64::NAN; 4096]);
                g.gather(x, p0, rows, 0, cols, &mut fast);
                g.gather_runs(x, p0, rows, 0, cols, &mut slow);
                assert_eq!(fast[..rows * cols], slow[..rows * cols], "{g:?} from {p0}");

                let block = test_values::<4096>(9);
                let (mut fast, mut slow) = ([0.5; 1024], [0.5; 1024]);
                g.scatter_add(&mut fast[..x.len()], p0, rows, 0, cols, &block);
                // The general path: a column block one short of the patch, then the last column.
                let mut head = [0.0; 4096];
                for (r, row) in block.chunks_exact(cols).take(rows).enumerate() {
                    head[r * (cols - 1)..(r + 1) * (cols - 1)].copy_from_slice(&row[..cols - 1]);
                }
                let tail: [f64; 64] = core::array::from_fn(|r| {
                    if r < rows {
                        block[r * cols + cols - 1]
                    } else {
                        0.0
                    }
                });
                g.scatter_add(&mut slow[..x.len()], p0, rows, 0, cols - 1, &head);
                g.scatter_add(&mut slow[..x.len()], p0, rows, cols - 1, 1, &tail);
                for (a, b) in fast.iter().zip(&slow) {
                    assert!((a - b).abs() < 1e-12, "{g:?} from {p0}: {a} vs {b}");
                }
            }
        }
    }

    /// A patch row longer than a block and more pixels than fit in one: several blocks each way.
    #[test]
    fn blocks_split_rows_and_columns() {
        let g = Geometry {
            h: 3,
            w: 3,
            c: 2000,
            oh: 3,
            ow: 3,
            oc: 2,
            kh: 3,
            kw: 3,
            sh: 1,
            sw: 1,
            ph: 1,
            pw: 1,
        };
        assert!(g.patch_len() > BLOCK);
        let batch = 1;
        let x = test_values::<18000>(6);
        let w = test_values::<36000>(7);
        let mut y = [0.0; 18];
        forward(&g, batch, &x, &w, &mut y);
        for oy in 0..3 {
            for ox in 0..3 {
                for o in 0..2 {
                    let mut sum = 0.0;
                    for u in 0..3 {
                        for v in 0..3 {
                            let (iy, ix) = (oy + u, ox + v);
                            if iy == 0 || ix == 0 || iy > 3 || ix > 3 {
                                continue;
                            }
                            for c in 0..2000 {
                                sum += x[((iy - 1) * 3 + ix - 1) * 2000 + c]
                                    * w[((u * 3 + v) * 2000 + c) * 2 + o];
                            }
                        }
                    }
                    assert!((y[(oy * 3 + ox) * 2 + o] - sum).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "input length")]
    fn a_short_input_is_rejected() {
        let g = geometries()[0];
        let x = [0.0f32; 10];
        let w = [0.0f32; 108];
        let mut y = [0.0f32; 100];
        forward(&g, 1, &x, &w, &mut y);
    }
}
