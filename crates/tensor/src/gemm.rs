//! General matrix products `C = A B` and `C += A B` over strided views.
//!
//! [`gemm`] runs the fastest kernel this type and machine have: for `f32` on x86-64 with AVX2 and
//! FMA, a register-blocked kernel ([`Scalar::try_fast_gemm`]); otherwise the plain
//! [`gemm_reference`]. The dense layer's three products (`matmul`) are all one call here, with
//! the transposes expressed as strides, so no product ever copies a matrix to transpose it.
//!
//! Detection of AVX2 and FMA happens at run time with `std` and at compile time without it
//! (`-C target-feature=+avx2,+fma` or `-C target-cpu=native`).

use crate::Scalar;
use core::marker::PhantomData;

/// A read-only matrix view: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
///
/// A row-major `[[T; C]; R]` is `View::row_major(flat, R, C)`; its transpose is
/// [`View::t`], which swaps the strides and copies nothing.
#[derive(Clone, Copy, Debug)]
pub struct View<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T: Copy> View<'a, T> {
    /// A view of `data` with the given shape and strides.
    ///
    /// # Panics
    /// If an element of the view would lie outside `data`: every later access is in bounds.
    pub fn new(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(row_stride)
                .and_then(|r| r.checked_add((cols - 1).checked_mul(col_stride)?));
            assert!(
                last.is_some_and(|last| last < data.len()),
                "a {rows}x{cols} view with strides ({row_stride}, {col_stride}) does not fit in {} elements",
                data.len()
            );
        }
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A row-major `rows x cols` matrix stored in `data`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose, as a view of the same memory.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows `start..start + len` as a view of their own.
    ///
    /// # Panics
    /// If the block reaches past the last row.
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    pub(crate) fn row_block(self, start: usize, len: usize) -> Self {
        assert!(
            start + len <= self.rows,
            "rows {start}..{} of {}",
            start + len,
            self.rows
        );
        if len == 0 || self.cols == 0 {
            return Self { rows: len, ..self };
        }
        Self::new(
            &self.data[start * self.row_stride..],
            len,
            self.cols,
            self.row_stride,
            self.col_stride,
        )
    }

    /// Columns `start..start + len` as a view of the same rows.
    ///
    /// # Panics
    /// If the block reaches past the last column.
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    pub(crate) fn col_block(self, start: usize, len: usize) -> Self {
        self.t().row_block(start, len).t()
    }

    /// Element `(r, c)`.
    ///
    /// # Panics
    /// If `r` or `c` is out of range.
    #[inline]
    pub fn get(&self, r: usize, c: usize) -> T {
        assert!(
            r < self.rows && c < self.cols,
            "({r}, {c}) outside the view"
        );
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// A mutable row-major matrix: element `(r, c)` lies `r * row_stride + c` elements past the
/// start of the borrowed slice.
///
/// It is an exclusive borrow of exactly its elements, like `&mut [T]`, but of a strided set:
/// so a view can be cut into column blocks (`split_cols`) as well as row blocks, and
/// the blocks handed to different threads.
#[derive(Debug)]
pub struct ViewMut<'a, T> {
    /// The first element; every `(r, c)` with `r < rows`, `c < cols` is in the borrowed slice.
    ptr: *mut T,
    rows: usize,
    cols: usize,
    row_stride: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: a `ViewMut` is an exclusive borrow of its elements (no other view or reference can
// reach them while it lives), so moving it to another thread is as sound as moving `&mut [T]`.
unsafe impl<T: Send> Send for ViewMut<'_, T> {}

impl<'a, T> ViewMut<'a, T> {
    /// A `rows x cols` matrix whose rows start `row_stride` elements apart.
    ///
    /// # Panics
    /// If the last element would lie outside `data`, or rows would overlap.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(rows <= 1 || row_stride >= cols, "rows of a ViewMut overlap");
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(row_stride)
                .and_then(|r| r.checked_add(cols - 1));
            assert!(
                last.is_some_and(|last| last < data.len()),
                "a {rows}x{cols} view with row stride {row_stride} does not fit in {} elements",
                data.len()
            );
        }
        Self {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            row_stride,
            _borrow: PhantomData,
        }
    }

    /// A row-major `rows x cols` matrix stored in `data`.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The first `at` rows and the rest, as two disjoint views.
    ///
    /// # Panics
    /// If `at` is past the last row.
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    pub(crate) fn split_rows(&mut self, at: usize) -> (ViewMut<'_, T>, ViewMut<'_, T>) {
        assert!(at <= self.rows, "split at row {at} of {}", self.rows);
        let top = ViewMut {
            rows: at,
            _borrow: PhantomData,
            ..*self
        };
        let bottom = ViewMut {
            // Only dereferenced when the block has rows and columns, in which case the offset
            // stays inside the borrowed slice.
            ptr: self.ptr.wrapping_add(at * self.row_stride),
            rows: self.rows - at,
            _borrow: PhantomData,
            ..*self
        };
        (top, bottom)
    }

    /// The first `at` columns and the rest, as two disjoint views: every row is cut at the
    /// same column, so no element belongs to both.
    ///
    /// # Panics
    /// If `at` is past the last column.
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    pub(crate) fn split_cols(&mut self, at: usize) -> (ViewMut<'_, T>, ViewMut<'_, T>) {
        assert!(at <= self.cols, "split at column {at} of {}", self.cols);
        let left = ViewMut {
            cols: at,
            _borrow: PhantomData,
            ..*self
        };
        let right = ViewMut {
            // Only dereferenced when the block has rows and columns, in which case the offset
            // stays inside the borrowed slice.
            ptr: self.ptr.wrapping_add(at),
            cols: self.cols - at,
            _borrow: PhantomData,
            ..*self
        };
        (left, right)
    }

    /// Row `r`, `cols` elements long.
    #[inline]
    pub fn row_mut(&mut self, r: usize) -> &mut [T] {
        assert!(r < self.rows, "row {r} outside the view");
        if self.cols == 0 {
            return &mut [];
        }
        // SAFETY: `new` checked that every element of the view lies inside the slice it
        // borrows for 'a, and `split_rows`/`split_cols` only hand out sub-views whose elements
        // are disjoint. Row `r`'s `cols` elements therefore exist and belong to this view
        // alone, and `&mut self` keeps them from being borrowed twice.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(r * self.row_stride), self.cols) }
    }
}

fn check_shapes<T: Copy>(a: &View<'_, T>, b: &View<'_, T>, c: &ViewMut<'_, T>) {
    assert!(
        a.cols == b.rows && c.rows == a.rows && c.cols == b.cols,
        "gemm of {}x{} by {}x{} into {}x{}",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
}

/// `c = a b`, or `c += a b` when `accumulate`: the plain triple loop every faster kernel is
/// tested against.
///
/// # Panics
/// If the shapes do not chain.
pub fn gemm_reference<T: Scalar>(
    a: View<'_, T>,
    b: View<'_, T>,
    c: &mut ViewMut<'_, T>,
    accumulate: bool,
) {
    check_shapes(&a, &b, c);
    for r in 0..a.rows {
        let row = c.row_mut(r);
        for (j, out) in row.iter_mut().enumerate() {
            let mut sum = T::ZERO;
            for k in 0..a.cols {
                sum += a.get(r, k) * b.get(k, j);
            }
            *out = if accumulate { *out + sum } else { sum };
        }
    }
}

/// `c = a b`, or `c += a b` when `accumulate`, with the fastest kernel available.
///
/// # Panics
/// If the shapes do not chain.
pub fn gemm<T: Scalar>(a: View<'_, T>, b: View<'_, T>, c: &mut ViewMut<'_, T>, accumulate: bool) {
    check_shapes(&a, &b, c);
    if !T::try_fast_gemm(a, b, c, accumulate) {
        gemm_reference(a, b, c, accumulate);
    }
}

/// With the `parallel` feature, products of at least this many multiply-adds are split across
/// threads: below it, handing work to another core costs more than it saves.
#[cfg(feature = "parallel")]
pub const PARALLEL_MIN_MACS: usize = 1 << 20;

/// Whether [`Scalar::try_fast_gemm`] has a kernel for `f32` on this machine.
pub fn fast_f32_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this machine runs the AVX-512 `f32` kernels (on top of [`fast_f32_available`]):
/// elementwise loops that other crates compile in several copies pick the widest with it.
pub fn wide_f32_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::wide_available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The `f32` kernel behind [`Scalar::try_fast_gemm`]; returns false when it cannot run here.
pub(crate) fn try_sgemm(
    a: View<'_, f32>,
    b: View<'_, f32>,
    c: &mut ViewMut<'_, f32>,
    accumulate: bool,
) -> bool {
    let start = if accumulate { Start::C } else { Start::Zero };
    try_sgemm_from(a, b, c, start)
}

/// `c[r] = bias + (a b)[r]` for every row by the `f32` kernel behind
/// [`Scalar::try_fast_linear`]; returns false when it cannot run here.
///
/// # Panics
/// If `bias` is not one value per column of `c`.
pub(crate) fn try_sgemm_bias(
    a: View<'_, f32>,
    b: View<'_, f32>,
    bias: &[f32],
    c: &mut ViewMut<'_, f32>,
) -> bool {
    assert_eq!(bias.len(), c.cols, "one bias per column");
    try_sgemm_from(a, b, c, Start::Bias(bias))
}

fn try_sgemm_from(
    a: View<'_, f32>,
    b: View<'_, f32>,
    c: &mut ViewMut<'_, f32>,
    start: Start<'_>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::sgemm(a, b, c, start)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b, c, start);
        false
    }
}

/// Rows `p0..p0 + y.rows()` of the convolution product `Patches W` added to `y`, by the `f32`
/// kernel reading each patch where it lies in `x` (see [`Scalar::try_fast_conv_block`]);
/// returns false when it cannot run here or the shape is not one it takes.
pub(crate) fn try_conv_block(
    g: &crate::conv::Geometry,
    x: &[f32],
    w: &[f32],
    p0: usize,
    y: &mut ViewMut<'_, f32>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::conv_block(g, x, w, p0, y)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (g, x, w, p0, y);
        false
    }
}

/// `dw += Patches^T dy` for the pixels `p0..p0 + dy.rows()` of the batch, by the `f32` kernel
/// reading each patch where it lies in `x` (see [`Scalar::try_fast_conv_weight_grad`]);
/// returns false when it cannot run here or the shape is not one it takes.
pub(crate) fn try_conv_weight_grad(
    g: &crate::conv::Geometry,
    x: &[f32],
    p0: usize,
    dy: View<'_, f32>,
    dw: &mut [f32],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::conv_weight_grad(g, x, p0, dy, dw)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (g, x, p0, dy, dw);
        false
    }
}

/// What the fast kernel adds a product to. Only the x86-64 kernel reads it; elsewhere no fast
/// kernel exists.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Start<'a> {
    /// Nothing: `c = a b`.
    Zero,
    /// `c` itself: `c += a b`.
    C,
    /// One value per column of `c`: `c[r] = bias + (a b)[r]`.
    Bias(&'a [f32]),
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl<'a> Start<'a> {
    /// The start of columns `at..at + len` of the product.
    fn cols(self, at: usize, len: usize) -> Self {
        match self {
            Start::Bias(bias) => Start::Bias(&bias[at..at + len]),
            other => other,
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Register-blocked kernels over 16-column panels of `b`, in blocks of [`KC`] of the
    //! shared dimension so that a packed panel stays in L1. With AVX2 and FMA, 6 rows x 16
    //! columns of `c` live in 12 ymm registers ([`micro`]); with AVX-512, 12 rows x 32 columns
    //! (two panels) in 24 zmm registers ([`micro_wide_pair`]), or x 16 columns for a last lone
    //! panel ([`micro_wide`]): about half the instructions per multiply-add of the AVX2
    //! kernel on cores with two 512-bit FMA units, and 14 loads per 24 multiply-adds where
    //! `micro_wide` needs 13 per 12. All add the products of each sum in the same order, from
    //! zero, and then the start value, so they give the same bits.

    use super::{Start, View, ViewMut};
    use crate::simd::copy_short;
    use core::arch::x86_64::*;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// Rows of `c` per micro-tile.
    const MR: usize = 6;
    /// Rows of `c` per AVX-512 micro-tile.
    const WIDE_MR: usize = 12;
    /// Columns of `c` per micro-tile: two ymm registers.
    const NR: usize = 16;
    /// With `parallel`, a product whose threads would each get at least this many rows of `c`
    /// is cut by rows: each thread then packs all of `b`, at most `1 / ROWS_PER_THREAD` of its
    /// multiply-adds, and writes whole rows of `c`, which share no cache line with the other
    /// thread's and are the rows (the first or second half of a weight gradient) that the
    /// optimizer's split update and the gradients' split zeroing give the same thread.
    #[cfg(feature = "parallel")]
    const ROWS_PER_THREAD: usize = 4 * WIDE_MR;
    /// Shared-dimension block: a packed panel is `KC x NR` floats = 16 KiB.
    const KC: usize = 256;
    /// A row-major right-hand matrix up to this many floats (32 KiB, the size of L1) is read
    /// in place rather than packed.
    const DIRECT_MAX: usize = 8192;
    /// How many rows ahead a panel copy asks for the rows of `b` it will copy next.
    const PACK_AHEAD: usize = 16;
    /// A batch-1 product whose `b` has at least this many floats (1 MiB) is summed in runs
    /// of rows (see [`few_rows`]).
    const GROUPED_MIN: usize = 1 << 18;
    /// How many runs of rows [`few_rows`] cuts a large `b` into.
    const GROUPS: usize = 4;
    /// Columns of `b` per pass over its rows in [`few_rows`]: its partial rows take
    /// `GROUPS * GROUP_COLS` floats (16 KiB) of stack.
    const GROUP_COLS: usize = 1024;
    /// How many `b`s [`few_rows`] remembers the last pass's direction of.
    const PASSES_KEPT: usize = 8;

    #[cfg(any(feature = "std", test))]
    pub(super) fn available() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }

    #[cfg(not(any(feature = "std", test)))]
    pub(super) fn available() -> bool {
        cfg!(all(target_feature = "avx2", target_feature = "fma"))
    }

    /// Whether the AVX-512 kernels can run (on top of [`available`]).
    #[cfg(any(feature = "std", test))]
    pub(super) fn wide_available() -> bool {
        #[cfg(test)]
        if super::tests::NARROW_ONLY.with(|n| n.get()) {
            return false;
        }
        available() && std::is_x86_feature_detected!("avx512f")
    }

    #[cfg(not(any(feature = "std", test)))]
    pub(super) fn wide_available() -> bool {
        available() && cfg!(target_feature = "avx512f")
    }

    pub(super) fn sgemm(
        a: View<'_, f32>,
        b: View<'_, f32>,
        c: &mut ViewMut<'_, f32>,
        start: Start<'_>,
    ) -> bool {
        if !available() {
            return false;
        }
        #[cfg(feature = "parallel")]
        if split_across_threads(a, b, c, start) {
            return true;
        }
        // SAFETY: `available` has confirmed that this CPU executes AVX2 and FMA instructions.
        unsafe { sgemm_avx2(a, b, c, start) };
        true
    }

    /// With the `parallel` feature, a product of at least [`PARALLEL_MIN_MACS`] multiply-adds is
    /// cut into one block of `c` per thread of the current rayon pool, run by nested
    /// `rayon::join`s. Returns false when the product stays whole.
    #[cfg(feature = "parallel")]
    fn split_across_threads(
        a: View<'_, f32>,
        b: View<'_, f32>,
        c: &mut ViewMut<'_, f32>,
        start: Start<'_>,
    ) -> bool {
        if a.rows * a.cols * b.cols < super::PARALLEL_MIN_MACS {
            return false;
        }
        let blocks = (a.rows / MR).max(b.cols / NR);
        let parts = rayon::current_num_threads().min(blocks);
        if parts < 2 {
            return false;
        }
        run_parts(a, b, c, start, parts);
        true
    }

    /// Splits `c` between `parts` threads, `parts / 2` shares to the first block and the rest to
    /// the second, cutting whole micro-tiles. A short `c` (a batch's activations) is cut by
    /// columns, so each thread packs and streams only its own panels of `b`; cutting it by
    /// rows would make every thread pack all of `b` for a few tiles of work. A `c` with at
    /// least [`ROWS_PER_THREAD`] rows per thread (a weight gradient) is cut by rows.
    #[cfg(feature = "parallel")]
    fn run_parts(
        a: View<'_, f32>,
        b: View<'_, f32>,
        c: &mut ViewMut<'_, f32>,
        start: Start<'_>,
        parts: usize,
    ) {
        let (m, n) = (a.rows, b.cols);
        let by_cols = m < parts * ROWS_PER_THREAD && n / NR >= parts;
        if parts < 2 || !(by_cols || m / MR >= parts) {
            // SAFETY: only reached from `sgemm`, after `available` confirmed AVX2 and FMA.
            unsafe { sgemm_avx2(a, b, c, start) };
            return;
        }
        let first = parts / 2;
        let rest = parts - first;
        if by_cols {
            let at = ((n * first / parts).div_ceil(NR) * NR).min(n);
            let (mut left, mut right) = c.split_cols(at);
            rayon::join(
                || run_parts(a, b.col_block(0, at), &mut left, start.cols(0, at), first),
                || {
                    let (b, start) = (b.col_block(at, n - at), start.cols(at, n - at));
                    run_parts(a, b, &mut right, start, rest)
                },
            );
        } else {
            let at = ((m * first / parts).div_ceil(MR) * MR).min(m);
            let (mut top, mut bottom) = c.split_rows(at);
            rayon::join(
                || run_parts(a.row_block(0, at), b, &mut top, start, first),
                || run_parts(a.row_block(at, m - at), b, &mut bottom, start, rest),
            );
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn sgemm_avx2(a: View<'_, f32>, b: View<'_, f32>, c: &mut ViewMut<'_, f32>, start: Start<'_>) {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        if m == 0 || n == 0 {
            return;
        }
        if m < 3 && b.col_stride == 1 {
            for r in 0..m {
                few_rows(&a, r, &b, c.row_mut(r), start);
            }
        } else if k == 0 {
            for r in 0..m {
                match start {
                    Start::Zero => c.row_mut(r).fill(0.0),
                    Start::Bias(bias) => c.row_mut(r).copy_from_slice(bias),
                    Start::C => {}
                }
            }
        } else if wide_available() {
            // SAFETY: `wide_available` has confirmed that this CPU executes AVX-512F.
            unsafe { packed_wide(a, b, c, start) };
        } else {
            packed_narrow(a, b, c, start);
        }
    }

    /// A micro-kernel over `NR`-column panels: how many rows its tiles take, and the tile.
    trait Kernel {
        /// Whether a tile may span two panels (`2 * NR` columns of `c`).
        const PAIRED: bool;

        /// The most rows a tile takes.
        const TILE_ROWS: usize;

        /// Rows of the next tile when `left` rows of `c` remain.
        fn tile_rows(left: usize) -> usize;

        /// Computes tile `t` of `rows` rows (at most what `tile_rows` gives): its first `NR`
        /// columns from panel `b`, the rest (only if [`Kernel::PAIRED`]) from `next`.
        ///
        /// # Safety
        /// The CPU must execute the kernel's instructions (AVX2 and FMA; AVX-512F for
        /// [`Wide`]).
        unsafe fn tile(
            rows: usize,
            a: &View<'_, f32>,
            b: Panel<'_>,
            next: Option<Panel<'_>>,
            c: &mut ViewMut<'_, f32>,
            t: Tile<'_>,
        );

        /// Computes convolution tile `t` of `rows` rows (3 up to what `tile_rows` gives),
        /// reading patches through `src`.
        ///
        /// # Safety
        /// As for [`Kernel::tile`].
        unsafe fn conv_tile(
            rows: usize,
            src: &ConvSource<'_>,
            w: &[f32],
            y: &mut ViewMut<'_, f32>,
            t: Tile<'_>,
        );
    }

    /// The AVX2 kernel, [`micro`].
    struct Narrow;

    impl Kernel for Narrow {
        const PAIRED: bool = false;
        const TILE_ROWS: usize = MR;

        fn tile_rows(left: usize) -> usize {
            tile_rows(left)
        }

        #[inline(always)]
        unsafe fn tile(
            rows: usize,
            a: &View<'_, f32>,
            b: Panel<'_>,
            _: Option<Panel<'_>>,
            c: &mut ViewMut<'_, f32>,
            t: Tile<'_>,
        ) {
            // SAFETY: the caller guarantees AVX2 and FMA.
            unsafe {
                match rows {
                    6 => micro::<6>(a, b, c, t),
                    5 => micro::<5>(a, b, c, t),
                    4 => micro::<4>(a, b, c, t),
                    3 => micro::<3>(a, b, c, t),
                    2 => micro::<2>(a, b, c, t),
                    _ => micro::<1>(a, b, c, t),
                }
            }
        }

        #[inline(always)]
        unsafe fn conv_tile(
            rows: usize,
            src: &ConvSource<'_>,
            w: &[f32],
            y: &mut ViewMut<'_, f32>,
            t: Tile<'_>,
        ) {
            // SAFETY: the caller guarantees AVX2 and FMA.
            unsafe {
                match rows {
                    6 => micro_conv::<6>(src, w, y, t),
                    5 => micro_conv::<5>(src, w, y, t),
                    4 => micro_conv::<4>(src, w, y, t),
                    _ => micro_conv::<3>(src, w, y, t),
                }
            }
        }
    }

    /// The AVX-512 kernel, [`micro_wide`].
    struct Wide;

    impl Kernel for Wide {
        const PAIRED: bool = true;
        const TILE_ROWS: usize = WIDE_MR;

        fn tile_rows(left: usize) -> usize {
            wide_tile_rows(left)
        }

        #[inline(always)]
        unsafe fn tile(
            rows: usize,
            a: &View<'_, f32>,
            b: Panel<'_>,
            next: Option<Panel<'_>>,
            c: &mut ViewMut<'_, f32>,
            t: Tile<'_>,
        ) {
            // SAFETY: the caller guarantees AVX-512F (and with it AVX2 and FMA).
            unsafe {
                if let Some(next) = next {
                    return match rows {
                        12 => micro_wide_pair::<12>(a, [b, next], c, t),
                        11 => micro_wide_pair::<11>(a, [b, next], c, t),
                        10 => micro_wide_pair::<10>(a, [b, next], c, t),
                        9 => micro_wide_pair::<9>(a, [b, next], c, t),
                        8 => micro_wide_pair::<8>(a, [b, next], c, t),
                        7 => micro_wide_pair::<7>(a, [b, next], c, t),
                        6 => micro_wide_pair::<6>(a, [b, next], c, t),
                        5 => micro_wide_pair::<5>(a, [b, next], c, t),
                        4 => micro_wide_pair::<4>(a, [b, next], c, t),
                        3 => micro_wide_pair::<3>(a, [b, next], c, t),
                        2 => micro_wide_pair::<2>(a, [b, next], c, t),
                        _ => micro_wide_pair::<1>(a, [b, next], c, t),
                    };
                }
                match rows {
                    12 => micro_wide::<12>(a, b, c, t),
                    11 => micro_wide::<11>(a, b, c, t),
                    10 => micro_wide::<10>(a, b, c, t),
                    9 => micro_wide::<9>(a, b, c, t),
                    8 => micro_wide::<8>(a, b, c, t),
                    7 => micro_wide::<7>(a, b, c, t),
                    6 => micro_wide::<6>(a, b, c, t),
                    5 => micro_wide::<5>(a, b, c, t),
                    4 => micro_wide::<4>(a, b, c, t),
                    3 => micro_wide::<3>(a, b, c, t),
                    2 => micro_wide::<2>(a, b, c, t),
                    _ => micro_wide::<1>(a, b, c, t),
                }
            }
        }

        #[inline(always)]
        unsafe fn conv_tile(
            rows: usize,
            src: &ConvSource<'_>,
            w: &[f32],
            y: &mut ViewMut<'_, f32>,
            t: Tile<'_>,
        ) {
            // SAFETY: the caller guarantees AVX-512F.
            unsafe {
                match rows {
                    12 => micro_conv_wide::<12>(src, w, y, t),
                    11 => micro_conv_wide::<11>(src, w, y, t),
                    10 => micro_conv_wide::<10>(src, w, y, t),
                    9 => micro_conv_wide::<9>(src, w, y, t),
                    8 => micro_conv_wide::<8>(src, w, y, t),
                    7 => micro_conv_wide::<7>(src, w, y, t),
                    6 => micro_conv_wide::<6>(src, w, y, t),
                    5 => micro_conv_wide::<5>(src, w, y, t),
                    4 => micro_conv_wide::<4>(src, w, y, t),
                    _ => micro_conv_wide::<3>(src, w, y, t),
                }
            }
        }
    }

    /// The blocked product by the AVX2 kernel.
    #[target_feature(enable = "avx2,fma")]
    fn packed_narrow(
        a: View<'_, f32>,
        b: View<'_, f32>,
        c: &mut ViewMut<'_, f32>,
        start: Start<'_>,
    ) {
        // SAFETY: this function runs only where AVX2 and FMA do.
        unsafe { packed::<Narrow>(a, b, c, start) }
    }

    /// The blocked product by the AVX-512 kernel.
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn packed_wide(a: View<'_, f32>, b: View<'_, f32>, c: &mut ViewMut<'_, f32>, start: Start<'_>) {
        // SAFETY: this function runs only where AVX-512F does.
        unsafe { packed::<Wide>(a, b, c, start) }
    }

    /// The blocked product, with a panel buffer no deeper than the shared dimension needs:
    /// the buffer is zeroed on every call, and a 64-deep product should not clear 16 KiB.
    /// A product whose panels are all read in place (see [`reads_in_place`]) gets none.
    /// Inlined into [`packed_narrow`] or [`packed_wide`], so compiled for their features.
    ///
    /// # Safety
    /// The CPU must execute `K`'s instructions.
    #[inline(always)]
    unsafe fn packed<K: Kernel>(
        a: View<'_, f32>,
        b: View<'_, f32>,
        c: &mut ViewMut<'_, f32>,
        start: Start<'_>,
    ) {
        // SAFETY: the caller guarantees `K`'s instructions.
        unsafe {
            if reads_in_place::<K>(&b, a.rows, a.cols) && b.cols.is_multiple_of(NR) {
                return packed_in::<K, 0>(a, b, c, start);
            }
            match a.cols {
                0..=64 => packed_in::<K, 64>(a, b, c, start),
                65..=128 => packed_in::<K, 128>(a, b, c, start),
                _ => packed_in::<K, KC>(a, b, c, start),
            }
        }
    }

    /// Whether full `NR`-column panels of the `k x n` matrix `b` are read where they lie, for
    /// a product of `m` rows. A row-major `b` of at most `DIRECT_MAX` floats stays in L1 and
    /// its rows map to different cache sets, so copying it would only add work. A larger one
    /// is still read in place when `m` makes at most three of `K`'s tiles: each panel is
    /// then read at most three times, and packing it costs about as much as one read (a
    /// 32 x 128 x 128 product, W2's, took 13% less time reading its 64 KiB `b` in place).
    fn reads_in_place<K: Kernel>(b: &View<'_, f32>, m: usize, k: usize) -> bool {
        b.col_stride == 1 && (k * b.row_stride <= DIRECT_MAX || m <= 3 * K::TILE_ROWS)
    }

    /// Packs a `D x NR` panel of `b` (or reads it in place), two side by side for a kernel
    /// whose tiles span two ([`Kernel::PAIRED`]), then sweeps `K`'s tiles of `a` across them.
    /// `D` is 0 only when no panel needs packing.
    ///
    /// # Safety
    /// The CPU must execute `K`'s instructions.
    #[inline(always)]
    unsafe fn packed_in<K: Kernel, const D: usize>(
        a: View<'_, f32>,
        b: View<'_, f32>,
        c: &mut ViewMut<'_, f32>,
        start: Start<'_>,
    ) {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let direct = reads_in_place::<K>(&b, m, k);
        // One buffer per panel of a tile: a paired tile reads two.
        let mut packed = [[[0.0f32; NR]; D]; 2];
        // Without a buffer, blocks of `KC` (a single one up to 256), as the buffered path cuts.
        let depth = if D == 0 { KC } else { D };
        let span = if K::PAIRED { 2 * NR } else { NR };
        for pc in (0..k).step_by(depth) {
            let kc = depth.min(k - pc);
            // Blocks after the first add to what the first wrote.
            let start = if pc > 0 { Start::C } else { start };
            for jc in (0..n).step_by(span) {
                let nr = span.min(n - jc);
                let [first, second] = &mut packed;
                // SAFETY: `K`'s instructions, which the caller guarantees, include AVX2.
                let (panel, next) = unsafe {
                    let panel = panel_of(&b, direct, pc, kc, jc, nr.min(NR), first);
                    let next =
                        (nr > NR).then(|| panel_of(&b, direct, pc, kc, jc + NR, nr - NR, second));
                    (panel, next)
                };
                let mut ic = 0;
                while ic < m {
                    let rows = K::tile_rows(m - ic);
                    let tile = Tile {
                        row: ic,
                        col: jc,
                        cols: nr,
                        depth: pc,
                        len: kc,
                        start: start.cols(jc, nr),
                    };
                    // SAFETY: the caller guarantees `K`'s instructions.
                    unsafe { K::tile(rows, &a, panel, next, c, tile) };
                    ic += rows;
                }
            }
        }
    }

    /// Panel `b[pc..pc + kc][jc..jc + nr]`: read in place when `direct` and the panel is
    /// whole, otherwise packed into the first `kc` rows of `buf`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn panel_of<'p>(
        b: &View<'p, f32>,
        direct: bool,
        pc: usize,
        kc: usize,
        jc: usize,
        nr: usize,
        buf: &'p mut [[f32; NR]],
    ) -> Panel<'p> {
        if direct && nr == NR {
            Panel {
                data: &b.data[pc * b.row_stride + jc..],
                stride: b.row_stride,
            }
        } else {
            let buf = &mut buf[..kc];
            pack_b(b, pc, kc, jc, nr, buf);
            Panel {
                data: buf.as_flattened(),
                stride: NR,
            }
        }
    }

    /// Rows of the next micro-tile when `left` rows of `c` remain: `MR`, except that the last
    /// 7 or 8 rows go as 4 + 3 or 4 + 4. A tile of one or two rows keeps only two or four
    /// sums in flight, too few to cover the multiply-add latency, so it runs at half speed or
    /// less; 32 rows (a batch of 32) as 6 x 5 + 2 lost about 6% that way. Which tile a row
    /// falls in does not change its sums.
    fn tile_rows(left: usize) -> usize {
        match left {
            7 | 8 => 4,
            _ => left.min(MR),
        }
    }

    /// Rows of the next [`micro_wide`] tile when `left` rows of `c` remain: 12, except that
    /// the last 13 to 24 rows go as two tiles of about half each, so that no tile keeps fewer
    /// than 7 sums in flight (a batch of 64 is 12 x 4 + 8 + 8, of 32 is 12 + 10 + 10).
    fn wide_tile_rows(left: usize) -> usize {
        match left {
            13..=24 => left.div_ceil(2),
            _ => left.min(WIDE_MR),
        }
    }

    /// `NR` columns of `b` over the shared indices of a tile: row `p` is the `NR` floats at
    /// `data[p * stride..]`, either in a packed buffer (`stride == NR`) or in `b` itself.
    #[derive(Clone, Copy)]
    struct Panel<'a> {
        data: &'a [f32],
        stride: usize,
    }

    /// Copies `b[pc..pc + kc][jc..jc + nr]` into `packed`, zero-filling columns past `nr`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn pack_b(
        b: &View<'_, f32>,
        pc: usize,
        kc: usize,
        jc: usize,
        nr: usize,
        packed: &mut [[f32; NR]],
    ) {
        let packed = &mut packed[..kc];
        if b.row_stride == 1 {
            // A transposed row-major matrix: each column of the panel is a contiguous run.
            // Eight columns at a time go through 8x8 register transposes; the rest (a partial
            // group of columns, the last `kc % 8` rows) element by element.
            let column = |j: usize| {
                let start = (jc + j) * b.col_stride + pc;
                &b.data[start..start + kc]
            };
            let full_rows = kc / 8 * 8;
            for j0 in (0..NR).step_by(8) {
                if j0 + 8 <= nr {
                    // Columns `j0..j0 + 8` by pointer: their slices spilled to the stack. The
                    // pointer comes from the rest of `b.data`, which holds all eight.
                    let cs = b.col_stride;
                    let first = b.data[(jc + j0) * cs + pc..].as_ptr();
                    // Bounds-checks the farthest float the loads below read.
                    let _ = column(j0 + 7);
                    for p in (0..full_rows).step_by(8) {
                        let block: [__m256; 8] = core::array::from_fn(|i| {
                            // SAFETY: column `j0 + i` (i < 8) is `kc` floats starting `i * cs`
                            // past `first`, all inside `b.data`: the columns lie at increasing
                            // offsets and `column` checked the farthest. `p + 8 <= kc`.
                            unsafe { _mm256_loadu_ps(first.add(i * cs + p)) }
                        });
                        let rows = transpose8(block);
                        for (q, row) in rows.into_iter().enumerate() {
                            store8(&mut packed[p + q][j0..], row);
                        }
                    }
                    for (p, row) in packed.iter_mut().enumerate().skip(full_rows) {
                        for i in 0..8 {
                            row[j0 + i] = column(j0 + i)[p];
                        }
                    }
                } else {
                    for j in j0..j0 + 8 {
                        if j < nr {
                            for (row, &v) in packed.iter_mut().zip(column(j)) {
                                row[j] = v;
                            }
                        } else {
                            for row in packed.iter_mut() {
                                row[j] = 0.0;
                            }
                        }
                    }
                }
            }
            return;
        }
        for (p, row) in packed.iter_mut().enumerate() {
            let start = (pc + p) * b.row_stride + jc * b.col_stride;
            if b.col_stride == 1 && nr == NR {
                let ahead = b
                    .data
                    .as_ptr()
                    .wrapping_add(start + PACK_AHEAD * b.row_stride);
                // A prefetch only hints: it reads nothing and faults on no address.
                _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(NR - 1).cast());
                // A fixed-size copy: a `memcpy` call per 64-byte row would cost more.
                *row = b.data[start..start + NR]
                    .try_into()
                    .expect("a full panel row");
            } else {
                // A whole row at once: filling the columns past `nr` with a slice `fill` was a
                // `memset` call per row.
                *row = core::array::from_fn(|j| {
                    if j < nr {
                        b.data[start + j * b.col_stride]
                    } else {
                        0.0
                    }
                });
            }
        }
    }

    /// Which part of `c` a micro-kernel call computes: rows `row..row + R`, columns
    /// `col..col + cols`, over the shared indices `depth..depth + len`, added to `start`
    /// (whose bias, if any, is already cut to the tile's columns).
    #[derive(Clone, Copy)]
    struct Tile<'a> {
        row: usize,
        col: usize,
        cols: usize,
        depth: usize,
        len: usize,
        start: Start<'a>,
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn micro<const R: usize>(
        a: &View<'_, f32>,
        b: Panel<'_>,
        c: &mut ViewMut<'_, f32>,
        t: Tile<'_>,
    ) {
        let (ars, acs) = (a.row_stride, a.col_stride);
        // Every `(t.row + r, t.depth + p)` with r < R, p < t.len lies inside `a`, which
        // `View::new` checked against `a.data`'s length; every panel row `p < t.len` lies
        // inside `b.data`.
        assert!(t.row + R <= a.rows && t.depth + t.len <= a.cols);
        assert!(t.len == 0 || (t.len - 1) * b.stride + NR <= b.data.len());
        let base = a.data.as_ptr().wrapping_add(t.row * ars + t.depth * acs);
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        for p in 0..t.len {
            // SAFETY: `p * b.stride + NR <= b.data.len()` (asserted above), so both 8-float
            // loads read elements of `b.data`; the loads are unaligned.
            let (b0, b1) = unsafe {
                let row = b.data.as_ptr().add(p * b.stride);
                (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8)))
            };
            let ap = base.wrapping_add(p * acs);
            for r in 0..R {
                // SAFETY: (t.row + r, t.depth + p) is inside `a` (asserted above), so this
                // offset addresses an element of `a.data`.
                let av = _mm256_set1_ps(unsafe { *ap.add(r * ars) });
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
            }
        }
        if t.cols == NR {
            // A full tile, by pointer: the loop unrolls and the sums never leave their
            // registers (through `row_mut` they were spilled to the stack and reloaded).
            assert!(t.row + R <= c.rows && t.col + NR <= c.cols);
            let bias = match t.start {
                Start::Bias(bias) => Some((load8(bias), load8(&bias[8..]))),
                _ => None,
            };
            let corner = c.ptr.wrapping_add(t.row * c.row_stride + t.col);
            for r in 0..R {
                let at = corner.wrapping_add(r * c.row_stride);
                // SAFETY: row `t.row + r` < `c.rows` and columns `t.col..t.col + NR` <=
                // `c.cols` (asserted above) are elements of the view, which `ViewMut`
                // borrows exclusively and `&mut c` keeps unaliased; the accesses are unaligned.
                unsafe {
                    let (l, h) = match (t.start, bias) {
                        (Start::C, _) => (
                            _mm256_add_ps(lo[r], _mm256_loadu_ps(at)),
                            _mm256_add_ps(hi[r], _mm256_loadu_ps(at.add(8))),
                        ),
                        (_, Some((b0, b1))) => (_mm256_add_ps(lo[r], b0), _mm256_add_ps(hi[r], b1)),
                        _ => (lo[r], hi[r]),
                    };
                    _mm256_storeu_ps(at, l);
                    _mm256_storeu_ps(at.add(8), h);
                }
            }
            return;
        }
        for r in 0..R {
            let mut out = [0.0f32; NR];
            let (l, h) = out.split_at_mut(8);
            store8(l, lo[r]);
            store8(h, hi[r]);
            store_partial(c, t, r, &out);
        }
    }

    /// Row `r` of a tile narrower than `NR` columns: its sums `out` added to the tile's start.
    /// Copied by [`copy_short`]: `copy_from_slice` of a length known only at run time is a
    /// `memcpy` call, which cost more than the row (with the AVX2 kernel, W2's 10-wide last
    /// layer stores 320 rows this way per step).
    fn store_partial(c: &mut ViewMut<'_, f32>, t: Tile<'_>, r: usize, out: &[f32; NR]) {
        let row = &mut c.row_mut(t.row + r)[t.col..t.col + t.cols];
        let base: &[f32] = match t.start {
            Start::Zero => {
                copy_short(row, &out[..t.cols]);
                return;
            }
            Start::C => row,
            Start::Bias(bias) => bias,
        };
        let sums: [f32; NR] =
            core::array::from_fn(|j| if j < t.cols { out[j] + base[j] } else { 0.0 });
        copy_short(row, &sums[..t.cols]);
    }

    /// [`micro`] with AVX-512: a row of the tile is one zmm register, so a tile of 12 rows
    /// keeps 12 sums in flight with one load of `b` per step of the shared index, and each
    /// sum takes its products in the same order as [`micro`]'s.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn micro_wide<const R: usize>(
        a: &View<'_, f32>,
        b: Panel<'_>,
        c: &mut ViewMut<'_, f32>,
        t: Tile<'_>,
    ) {
        let (ars, acs) = (a.row_stride, a.col_stride);
        // As in `micro`: every `(t.row + r, t.depth + p)` lies inside `a`, every panel row
        // `p < t.len` inside `b.data`.
        assert!(t.row + R <= a.rows && t.depth + t.len <= a.cols);
        assert!(t.len == 0 || (t.len - 1) * b.stride + NR <= b.data.len());
        let base = a.data.as_ptr().wrapping_add(t.row * ars + t.depth * acs);
        let mut sums = [_mm512_setzero_ps(); R];
        for p in 0..t.len {
            // SAFETY: `p * b.stride + NR <= b.data.len()` (asserted above), so the 16-float
            // load reads elements of `b.data`; it is unaligned.
            let bv = unsafe { _mm512_loadu_ps(b.data.as_ptr().add(p * b.stride)) };
            let ap = base.wrapping_add(p * acs);
            for (r, sum) in sums.iter_mut().enumerate() {
                // SAFETY: (t.row + r, t.depth + p) is inside `a` (asserted above).
                let av = _mm512_set1_ps(unsafe { *ap.add(r * ars) });
                *sum = _mm512_fmadd_ps(av, bv, *sum);
            }
        }
        // A tile narrower than `NR` columns (a 10-wide output layer) is stored through the
        // same mask as a whole one: storing it row by row through a buffer took half the
        // time of W2's 128x32x10 weight gradient. Every row of `c` is read before any is
        // written: rows of 10 floats share cache lines, and a load that follows a masked
        // store to the same line waited for that store.
        assert!(t.cols <= NR && t.row + R <= c.rows && t.col + t.cols <= c.cols);
        let mask: __mmask16 = (u32::MAX >> (32 - t.cols)) as u16;
        let corner = c.ptr.wrapping_add(t.row * c.row_stride + t.col);
        // Row `r` of the tile: for `r < R`, row `t.row + r` < `c.rows` and columns
        // `t.col..t.col + t.cols` <= `c.cols` (asserted above) are elements of the view, which
        // `ViewMut` borrows exclusively and `&mut c` keeps unaliased.
        let row = |r: usize| corner.wrapping_add(r * c.row_stride);
        let starts: Option<[__m512; R]> = match t.start {
            // SAFETY: the load is masked to row `r`'s `t.cols` columns (see `row`); unaligned.
            Start::C => Some(core::array::from_fn(|r| unsafe {
                _mm512_maskz_loadu_ps(mask, row(r))
            })),
            Start::Bias(bias) => {
                assert!(bias.len() >= t.cols);
                // SAFETY: the load is masked to the bias's first `t.cols` floats (asserted
                // just above); unaligned.
                Some([unsafe { _mm512_maskz_loadu_ps(mask, bias.as_ptr()) }; R])
            }
            Start::Zero => None,
        };
        for (r, &sum) in sums.iter().enumerate() {
            let v = match starts {
                Some(starts) => _mm512_add_ps(sum, starts[r]),
                None => sum,
            };
            // SAFETY: the store is masked to row `r`'s `t.cols` columns (see `row`); unaligned.
            unsafe { _mm512_mask_storeu_ps(row(r), mask, v) };
        }
    }

    /// [`micro_wide`] over two panels: a tile of `R` rows by 17 to 32 columns, two zmm sums
    /// per row. Each step of the shared index loads two rows of `b` and broadcasts `R` values
    /// of `a` for `2 * R` multiply-adds, where [`micro_wide`] broadcasts as many for half the
    /// work: with 12 rows, 14 loads per 24 multiply-adds instead of 13 per 12, so the two
    /// FMA units, not the load ports, set the pace. Each sum takes its products in the same
    /// order as [`micro_wide`]'s, so the bits are the same.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn micro_wide_pair<const R: usize>(
        a: &View<'_, f32>,
        [b, next]: [Panel<'_>; 2],
        c: &mut ViewMut<'_, f32>,
        t: Tile<'_>,
    ) {
        let (ars, acs) = (a.row_stride, a.col_stride);
        // As in `micro`: every `(t.row + r, t.depth + p)` lies inside `a`, every panel row
        // `p < t.len` inside both panels' data.
        assert!(t.row + R <= a.rows && t.depth + t.len <= a.cols);
        assert!(t.len == 0 || (t.len - 1) * b.stride + NR <= b.data.len());
        assert!(t.len == 0 || (t.len - 1) * next.stride + NR <= next.data.len());
        let base = a.data.as_ptr().wrapping_add(t.row * ars + t.depth * acs);
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        for p in 0..t.len {
            // SAFETY: `p * stride + NR <= data.len()` for both panels (asserted above), so
            // the 16-float loads read elements of their data; they are unaligned.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_ps(b.data.as_ptr().add(p * b.stride)),
                    _mm512_loadu_ps(next.data.as_ptr().add(p * next.stride)),
                )
            };
            let ap = base.wrapping_add(p * acs);
            for r in 0..R {
                // SAFETY: (t.row + r, t.depth + p) is inside `a` (asserted above).
                let av = _mm512_set1_ps(unsafe { *ap.add(r * ars) });
                lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
            }
        }
        assert!(NR < t.cols && t.cols <= 2 * NR);
        assert!(t.row + R <= c.rows && t.col + t.cols <= c.cols);
        // The columns of the second panel that are in the tile: the low `t.cols - NR` bits.
        let mask: __mmask16 = (u32::MAX >> (32 - (t.cols - NR))) as u16;
        let bias = match t.start {
            // SAFETY: the bias is cut to the tile's `t.cols` columns; the masked load reads
            // only the ones past `NR`.
            Start::Bias(bias) => Some(unsafe {
                assert!(bias.len() == t.cols);
                (
                    _mm512_loadu_ps(bias.as_ptr()),
                    _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(NR)),
                )
            }),
            _ => None,
        };
        let corner = c.ptr.wrapping_add(t.row * c.row_stride + t.col);
        for r in 0..R {
            let at = corner.wrapping_add(r * c.row_stride);
            // SAFETY: row `t.row + r` < `c.rows` and columns `t.col..t.col + t.cols` <=
            // `c.cols` (asserted above) are elements of the view, which `ViewMut` borrows
            // exclusively and `&mut c` keeps unaliased. The accesses past `NR` columns are
            // masked to the tile's columns; all are unaligned.
            unsafe {
                let (l, h) = match (t.start, bias) {
                    (Start::C, _) => (
                        _mm512_add_ps(lo[r], _mm512_loadu_ps(at)),
                        _mm512_add_ps(hi[r], _mm512_maskz_loadu_ps(mask, at.add(NR))),
                    ),
                    (_, Some((b0, b1))) => (_mm512_add_ps(lo[r], b0), _mm512_add_ps(hi[r], b1)),
                    _ => (lo[r], hi[r]),
                };
                _mm512_storeu_ps(at, l);
                _mm512_mask_storeu_ps(at.add(NR), mask, h);
            }
        }
    }

    /// The forward convolution's product for one block of output pixels (`y`'s rows, from
    /// pixel `p0` of the batch) without the patch matrix: each micro-tile reads its pixels'
    /// patches where they lie in `x`, tap by tap (a tap in the padding reads zeros), and the
    /// weight `w` (`patch_len x oc`, row-major) in place. The shared index runs over taps
    /// then channels, the order of a patch row, and the tiles store as [`micro`]'s do, so every
    /// sum is the one the gathered product computes, bit for bit. Taken when that product
    /// would be one block of the packed kernel (a patch of at most [`KC`] values, at least 3
    /// rows) with whole 16-column panels; otherwise returns false.
    pub(super) fn conv_block(
        g: &crate::conv::Geometry,
        x: &[f32],
        w: &[f32],
        p0: usize,
        y: &mut ViewMut<'_, f32>,
    ) -> bool {
        let k = g.patch_len();
        let fits = k <= KC && y.rows >= 3 && g.oc.is_multiple_of(NR) && y.cols == g.oc;
        if !available() || !fits {
            return false;
        }
        // A product the `parallel` feature would split across the pool's threads is left to
        // the gathering path, which splits it.
        #[cfg(feature = "parallel")]
        if y.rows * k * g.oc >= super::PARALLEL_MIN_MACS && rayon::current_num_threads() > 1 {
            return false;
        }
        if wide_available() {
            // SAFETY: `wide_available` has confirmed that this CPU executes AVX-512F.
            unsafe { conv_block_wide(g, x, w, p0, y) };
        } else {
            // SAFETY: `available` has confirmed that this CPU executes AVX2 and FMA.
            unsafe { conv_block_narrow(g, x, w, p0, y) };
        }
        true
    }

    /// [`conv_block`] by the AVX2 kernel.
    #[target_feature(enable = "avx2,fma")]
    fn conv_block_narrow(
        g: &crate::conv::Geometry,
        x: &[f32],
        w: &[f32],
        p0: usize,
        y: &mut ViewMut<'_, f32>,
    ) {
        // SAFETY: this function runs only where AVX2 and FMA do.
        unsafe { conv_block_with::<Narrow>(g, x, w, p0, y) }
    }

    /// [`conv_block`] by the AVX-512 kernel.
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn conv_block_wide(
        g: &crate::conv::Geometry,
        x: &[f32],
        w: &[f32],
        p0: usize,
        y: &mut ViewMut<'_, f32>,
    ) {
        // SAFETY: this function runs only where AVX-512F does.
        unsafe { conv_block_with::<Wide>(g, x, w, p0, y) }
    }

    /// The tiles of [`conv_block`] by kernel `K`, inlined into the wrapper of its features.
    ///
    /// # Safety
    /// The CPU must execute `K`'s instructions.
    #[inline(always)]
    unsafe fn conv_block_with<K: Kernel>(
        g: &crate::conv::Geometry,
        x: &[f32],
        w: &[f32],
        p0: usize,
        y: &mut ViewMut<'_, f32>,
    ) {
        if let Some(padded_len) = padded_sample_len(g) {
            // SAFETY: the caller guarantees `K`'s instructions.
            return unsafe { conv_block_padded::<K>(g, x, w, p0, y, padded_len) };
        }
        let zeros = [0.0f32; KC];
        let sample_len = g.sample_len();
        let mut walk = PixelWalk::at(g, p0);
        let mut row = 0;
        while row < y.rows {
            let rows = K::tile_rows(y.rows - row);
            // Where each pixel of the tile reads; rows past it repeat its last one.
            let mut pixels = [PixelTaps::default(); WIDE_MR];
            for taps in &mut pixels[..rows] {
                *taps = PixelTaps::new(g, walk.b * sample_len, walk.oy, walk.ox);
                walk.step(g);
            }
            let last = pixels[rows - 1];
            pixels[rows..].fill(last);
            let src = ConvSource {
                g,
                taps: Taps::InPlace(InPlace {
                    x,
                    zeros: &zeros,
                    pixels,
                }),
            };
            // SAFETY: the caller guarantees `K`'s instructions.
            unsafe { conv_tiles::<K>(&src, w, y, row, rows) };
            row += rows;
        }
    }

    /// The tiles of rows `row..row + rows` of `y`, one per 16 output channels.
    ///
    /// # Safety
    /// The CPU must execute `K`'s instructions.
    #[inline(always)]
    unsafe fn conv_tiles<K: Kernel>(
        src: &ConvSource<'_>,
        w: &[f32],
        y: &mut ViewMut<'_, f32>,
        row: usize,
        rows: usize,
    ) {
        for col in (0..src.g.oc).step_by(NR) {
            let t = Tile {
                row,
                col,
                cols: NR,
                depth: 0,
                len: src.g.patch_len(),
                start: Start::C,
            };
            // SAFETY: the caller guarantees `K`'s instructions.
            unsafe { K::conv_tile(rows, src, w, y, t) };
        }
    }

    /// Floats of the stack buffer in which [`conv_block_padded`] writes samples out with their
    /// padding: 64 KiB.
    const PAD_MAX: usize = 16384;

    /// The floats of one sample with its zero padding written out, `(h + 2 ph) (w + 2 pw) c`,
    /// when [`conv_block_padded`] takes the geometry: at least two such samples fit in
    /// [`PAD_MAX`], and all but one of them hold at least 8 output pixels, so that a run of
    /// rows cut at a group of samples' end can keep 3 rows on each side (a tile's least).
    fn padded_sample_len(g: &crate::conv::Geometry) -> Option<usize> {
        let rows = g.ph.checked_mul(2)?.checked_add(g.h)?;
        let cols = g.pw.checked_mul(2)?.checked_add(g.w)?;
        let len = rows.checked_mul(cols)?.checked_mul(g.c)?;
        let group = PAD_MAX / len.max(1);
        (len > 0 && group >= 2 && (group - 1).saturating_mul(g.pixels()) >= 8).then_some(len)
    }

    /// [`conv_block_with`] over samples copied, a group at a time, into a buffer with their
    /// padding written out as zeros. A tile's pixels then read every tap inside the buffer,
    /// at a fixed offset from where each pixel's patch starts: no tap is tested against the
    /// padding, which took a third of the convolution's time outside its multiply-adds. The
    /// zeros are the same zeros, taken in the same order, so the sums are unchanged.
    ///
    /// # Safety
    /// The CPU must execute `K`'s instructions.
    #[inline(always)]
    unsafe fn conv_block_padded<K: Kernel>(
        g: &crate::conv::Geometry,
        x: &[f32],
        w: &[f32],
        p0: usize,
        y: &mut ViewMut<'_, f32>,
        padded_len: usize,
    ) {
        let mut pad = [0.0f32; PAD_MAX];
        let group = PAD_MAX / padded_len;
        let (pixels, sample_len) = (g.pixels(), g.sample_len());
        let (input_row, padded_row) = (g.w * g.c, (g.w + 2 * g.pw) * g.c);
        let end = p0 + y.rows;
        let mut row = 0;
        while row < y.rows {
            let first = (p0 + row) / pixels;
            // This group's rows: up to the end of its samples, but never leaving 1 or 2 rows
            // for the next group (`padded_sample_len` ensures at least 6 remain here).
            let mut stop = ((first + group) * pixels).min(end);
            if (1..3).contains(&(end - stop)) {
                stop -= 3;
            }
            // Each sample's rows into the middle of its padded copy; the border stays zero.
            let last = (stop - 1) / pixels;
            for (slot, sample) in pad.chunks_exact_mut(padded_len).zip(first..=last) {
                let input = &x[sample * sample_len..(sample + 1) * sample_len];
                for (i, line) in input.chunks_exact(input_row).enumerate() {
                    let at = (i + g.ph) * padded_row + g.pw * g.c;
                    slot[at..at + input_row].copy_from_slice(line);
                }
            }
            let data = &pad[..(last - first + 1) * padded_len];
            let mut walk = PixelWalk::at(g, p0 + row);
            while p0 + row < stop {
                let rows = K::tile_rows(stop - p0 - row);
                // Where each pixel's patch starts in `data`; rows past the tile repeat its last.
                let mut starts = [0; WIDE_MR];
                for start in &mut starts[..rows] {
                    *start = (walk.b - first) * padded_len
                        + walk.oy * g.sh * padded_row
                        + walk.ox * g.sw * g.c;
                    walk.step(g);
                }
                let last_start = starts[rows - 1];
                starts[rows..].fill(last_start);
                let src = ConvSource {
                    g,
                    taps: Taps::Padded(Padded::new(g, data, padded_row, starts)),
                };
                // SAFETY: the caller guarantees `K`'s instructions.
                unsafe { conv_tiles::<K>(&src, w, y, row, rows) };
                row += rows;
            }
        }
    }

    /// Samples with their padding written out (see [`conv_block_padded`]), and where in them
    /// each pixel of a tile starts its patch.
    struct Padded<'a> {
        data: &'a [f32],
        /// Floats of one padded row of a sample.
        row: usize,
        /// Index in `data` of each pixel's tap `(0, 0)`.
        starts: [usize; WIDE_MR],
    }

    impl<'a> Padded<'a> {
        /// Checks that every tap of every pixel lies inside `data`, with its `c` values: the
        /// last tap, `(kh - 1, kw - 1)`, of the pixel that starts farthest.
        fn new(
            g: &crate::conv::Geometry,
            data: &'a [f32],
            row: usize,
            starts: [usize; WIDE_MR],
        ) -> Self {
            let farthest = starts.iter().max().copied().unwrap_or(0);
            let last_tap = (g.kh - 1) * row + (g.kw - 1) * g.c;
            assert!(farthest + last_tap + g.c <= data.len());
            Self { data, row, starts }
        }
    }

    /// Where a convolution micro-tile's rows read their patches.
    struct ConvSource<'a> {
        g: &'a crate::conv::Geometry,
        taps: Taps<'a>,
    }

    /// Where a tile's rows find their taps' values. One lives on the stack per tile, and
    /// boxing the larger variant would allocate, which the kernels never do.
    #[allow(clippy::large_enum_variant)]
    enum Taps<'a> {
        /// In the input, each tap tested against the padding.
        InPlace(InPlace<'a>),
        /// In samples copied with their padding written out.
        Padded(Padded<'a>),
    }

    /// The input itself, and where each row's pixel reads its taps.
    struct InPlace<'a> {
        x: &'a [f32],
        /// At least `g.c` zeros, read for taps in the padding.
        zeros: &'a [f32],
        pixels: [PixelTaps; WIDE_MR],
    }

    /// An output pixel of the batch, `(sample, oy, ox)`, stepped to the next one without the
    /// divisions that finding it from its index takes (a dozen per convolution tile, once).
    #[derive(Clone, Copy)]
    struct PixelWalk {
        b: usize,
        oy: usize,
        ox: usize,
    }

    impl PixelWalk {
        /// Pixel `p` of the batch, counted sample after sample.
        fn at(g: &crate::conv::Geometry, p: usize) -> Self {
            let q = p % g.pixels();
            Self {
                b: p / g.pixels(),
                oy: q / g.ow,
                ox: q % g.ow,
            }
        }

        #[inline(always)]
        fn step(&mut self, g: &crate::conv::Geometry) {
            self.ox += 1;
            if self.ox == g.ow {
                self.ox = 0;
                self.oy += 1;
                if self.oy == g.oh {
                    self.oy = 0;
                    self.b += 1;
                }
            }
        }
    }

    /// One output pixel's patch, worked out once per tile rather than once per tap: which
    /// kernel rows and columns fall inside the input, and where tap `(0, 0)` would start.
    #[derive(Clone, Copy, Default)]
    struct PixelTaps {
        /// Index in `x` of tap `(0, 0)`'s first value, computed modulo `usize::MAX + 1`: it
        /// may lie before the sample (in the padding), but for every tap inside the input,
        /// adding `(u * w + v) * c` gives that tap's true index.
        origin: usize,
        /// Tap `(u, v)` reads the input for `rows.0 <= u < rows.1` and `cols.0 <= v < cols.1`;
        /// the padding's zeros otherwise.
        rows: (usize, usize),
        cols: (usize, usize),
    }

    impl PixelTaps {
        /// Output pixel `(oy, ox)` of the sample starting at `x[sample_start]`.
        #[inline(always)]
        fn new(g: &crate::conv::Geometry, sample_start: usize, oy: usize, ox: usize) -> Self {
            // Tap `u` reads input row `oy * sh + u - ph`, inside when `0 <= .. < h`.
            let (top, left) = (oy * g.sh, ox * g.sw);
            let origin = top
                .wrapping_sub(g.ph)
                .wrapping_mul(g.w)
                .wrapping_add(left.wrapping_sub(g.pw))
                .wrapping_mul(g.c)
                .wrapping_add(sample_start);
            Self {
                origin,
                rows: (
                    g.ph.saturating_sub(top),
                    g.h.saturating_add(g.ph).saturating_sub(top),
                ),
                cols: (
                    g.pw.saturating_sub(left),
                    g.w.saturating_add(g.pw).saturating_sub(left),
                ),
            }
        }
    }

    impl InPlace<'_> {
        /// The `c` input values tap `(u, v)` of row `r` reads (zeros in the padding).
        #[inline(always)]
        fn tap(&self, g: &crate::conv::Geometry, r: usize, u: usize, v: usize) -> &[f32] {
            let p = &self.pixels[r];
            let c = g.c;
            let inside = (p.rows.0..p.rows.1).contains(&u) && (p.cols.0..p.cols.1).contains(&v);
            if !inside {
                return &self.zeros[..c];
            }
            let at = p
                .origin
                .wrapping_add(u.wrapping_mul(g.w).wrapping_add(v).wrapping_mul(c));
            &self.x[at..at + c]
        }
    }

    impl ConvSource<'_> {
        /// Where each of the first `R` rows' values for tap `(u, v)` start: in the padded
        /// samples when there are some, otherwise [`InPlace::tap`]'s slices, each at least `c`
        /// long (checked here), as pointers, so that the kernel's
        /// channel loop indexes them without a bounds check per row and channel (which kept
        /// the slices' lengths on the stack and compared each of them every multiply-add:
        /// a third of the convolution's time).
        #[inline(always)]
        fn tap_starts<const R: usize>(&self, u: usize, v: usize) -> [*const f32; R] {
            match &self.taps {
                Taps::Padded(p) => {
                    // Inside `p.data` with `c` values for every tap `u < kh`, `v < kw`, which
                    // `Padded::new` checked for the farthest pixel.
                    assert!(u < self.g.kh && v < self.g.kw);
                    let offset = u * p.row + v * self.g.c;
                    core::array::from_fn(|r| p.data.as_ptr().wrapping_add(p.starts[r] + offset))
                }
                Taps::InPlace(taps) => core::array::from_fn(|r| {
                    let values = taps.tap(self.g, r, u, v);
                    assert!(values.len() >= self.g.c);
                    values.as_ptr()
                }),
            }
        }
    }

    /// [`micro`] with the rows of `a` being patches read through `src`: for each tap, the `R`
    /// pixels' `c` input values, and `c` rows of the weight panel.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn micro_conv<const R: usize>(
        src: &ConvSource<'_>,
        w: &[f32],
        y: &mut ViewMut<'_, f32>,
        t: Tile<'_>,
    ) {
        let (g, oc) = (src.g, src.g.oc);
        // A full tile added to `y` over the whole patch is all this kernel computes.
        debug_assert!(matches!(t.start, Start::C) && t.cols == NR && t.depth == 0);
        assert!(t.col + NR <= oc);
        // All `patch_len` weight rows (a checked slice, and `patch_len` itself refuses to
        // overflow, so every `(u * kw + v) * c + ch` below is one of its rows).
        let weights = &w[..g.patch_len() * oc];
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        for u in 0..g.kh {
            for v in 0..g.kw {
                let rows = src.tap_starts::<R>(u, v);
                let first = (u * g.kw + v) * g.c;
                // `ch` indexes the weight rows and every pixel's channels at once.
                for ch in 0..g.c {
                    // SAFETY: row `first + ch` < `patch_len` = kh kw c, and `t.col + NR <= oc`
                    // (asserted above), so the 16 floats at `(first + ch) * oc + t.col` lie
                    // inside `weights`; the loads are unaligned.
                    let (b0, b1) = unsafe {
                        let at = weights.as_ptr().add((first + ch) * oc + t.col);
                        (_mm256_loadu_ps(at), _mm256_loadu_ps(at.add(8)))
                    };
                    for r in 0..R {
                        // SAFETY: `ch < c`, and each row holds at least `c` values
                        // (`tap_starts` or `Padded::new` checked).
                        let av = _mm256_set1_ps(unsafe { *rows[r].add(ch) });
                        lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                        hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                    }
                }
            }
        }
        // `y += sums` (it holds the bias), as `micro` stores a full tile that starts from `c`.
        assert!(t.row + R <= y.rows && t.col + NR <= y.cols);
        let corner = y.ptr.wrapping_add(t.row * y.row_stride + t.col);
        for r in 0..R {
            let at = corner.wrapping_add(r * y.row_stride);
            // SAFETY: row `t.row + r` < `y.rows` and columns `t.col..t.col + NR` <= `y.cols`
            // (asserted above) are elements of the view, which `ViewMut` borrows exclusively
            // and `&mut y` keeps unaliased; the accesses are unaligned.
            unsafe {
                _mm256_storeu_ps(at, _mm256_add_ps(lo[r], _mm256_loadu_ps(at)));
                _mm256_storeu_ps(at.add(8), _mm256_add_ps(hi[r], _mm256_loadu_ps(at.add(8))));
            }
        }
    }

    /// [`micro_conv`] with AVX-512, as [`micro_wide`] is [`micro`]: the same sums in the same
    /// order.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn micro_conv_wide<const R: usize>(
        src: &ConvSource<'_>,
        w: &[f32],
        y: &mut ViewMut<'_, f32>,
        t: Tile<'_>,
    ) {
        let (g, oc) = (src.g, src.g.oc);
        debug_assert!(matches!(t.start, Start::C) && t.cols == NR && t.depth == 0);
        assert!(t.col + NR <= oc);
        let weights = &w[..g.patch_len() * oc];
        let mut sums = [_mm512_setzero_ps(); R];
        for u in 0..g.kh {
            for v in 0..g.kw {
                let rows = src.tap_starts::<R>(u, v);
                let first = (u * g.kw + v) * g.c;
                for ch in 0..g.c {
                    // SAFETY: as in `micro_conv`, the 16 floats at `(first + ch) * oc + t.col`
                    // lie inside `weights`; the load is unaligned.
                    let bv =
                        unsafe { _mm512_loadu_ps(weights.as_ptr().add((first + ch) * oc + t.col)) };
                    for (sum, row) in sums.iter_mut().zip(rows) {
                        // SAFETY: `ch < c`, and each row holds at least `c` values
                        // (`tap_starts` or `Padded::new` checked).
                        let av = _mm512_set1_ps(unsafe { *row.add(ch) });
                        *sum = _mm512_fmadd_ps(av, bv, *sum);
                    }
                }
            }
        }
        assert!(t.row + R <= y.rows && t.col + NR <= y.cols);
        let corner = y.ptr.wrapping_add(t.row * y.row_stride + t.col);
        for (r, &sum) in sums.iter().enumerate() {
            let at = corner.wrapping_add(r * y.row_stride);
            // SAFETY: as in `micro_conv`: row `t.row + r` and columns `t.col..t.col + NR` are
            // elements of the exclusively borrowed view; the accesses are unaligned.
            unsafe { _mm512_storeu_ps(at, _mm512_add_ps(sum, _mm512_loadu_ps(at))) };
        }
    }

    /// The weight gradient's product `dw += Patches^T dy` for the pixels `p0..p0 + dy.rows`,
    /// without the patch matrix: each tile is up to 16 channels of one tap by one 16-column
    /// panel of `dw`, and its sums run over the pixels, reading each pixel's channels where
    /// they lie in `x` (zeros for a tap in the padding) and its row of `dy` in place. The
    /// pixels are summed in order, in blocks of [`KC`] each added to `dw` as the packed
    /// kernel adds its depth blocks, so every value is the one the gathered product computes,
    /// bit for bit. Taken on AVX-512 machines, for whole 16-column panels and channel counts
    /// that are multiples of 4 from 8 up; otherwise returns false. A product the `parallel`
    /// feature would split across threads is left to the gathering path too.
    pub(super) fn conv_weight_grad(
        g: &crate::conv::Geometry,
        x: &[f32],
        p0: usize,
        dy: View<'_, f32>,
        dw: &mut [f32],
    ) -> bool {
        let k = g.patch_len();
        let fits = g.c >= 8
            && g.c.is_multiple_of(4)
            && g.oc.is_multiple_of(NR)
            && dy.cols == g.oc
            && dy.col_stride == 1
            && dw.len() == k * g.oc;
        if !wide_available() || !fits {
            return false;
        }
        #[cfg(feature = "parallel")]
        if k * dy.rows * g.oc >= super::PARALLEL_MIN_MACS && rayon::current_num_threads() > 1 {
            return false;
        }
        // Every pixel's row of `dy` lies in `dy.data`: checked once here, for the kernel's
        // loads (its reads of `x` and writes to `dw` go through checked slices).
        if dy.rows == 0 {
            return true;
        }
        assert!((dy.rows - 1) * dy.row_stride + dy.cols <= dy.data.len());
        // SAFETY: `wide_available` has confirmed that this CPU executes AVX-512F.
        unsafe { conv_weight_grad_wide(g, x, p0, dy, dw) };
        true
    }

    /// [`conv_weight_grad`]'s tiles, compiled for AVX-512.
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn conv_weight_grad_wide(
        g: &crate::conv::Geometry,
        x: &[f32],
        p0: usize,
        dy: View<'_, f32>,
        dw: &mut [f32],
    ) {
        let c = g.c;
        for first in (0..dy.rows).step_by(KC) {
            let pixels = PixelRange {
                g,
                sample_len: g.sample_len(),
                p0: p0 + first,
                dy: first,
                len: KC.min(dy.rows - first),
            };
            for u in 0..g.kh {
                for v in 0..g.kw {
                    let mut ch = 0;
                    while ch < c {
                        let left = c - ch;
                        let rows = if left >= 16 {
                            16
                        } else if left >= 8 {
                            8
                        } else {
                            4
                        };
                        for col in (0..g.oc).step_by(NR) {
                            let t = WeightTile { u, v, ch, col };
                            match rows {
                                16 => weight_grad_tile::<16>(&pixels, x, &dy, dw, t),
                                8 => weight_grad_tile::<8>(&pixels, x, &dy, dw, t),
                                _ => weight_grad_tile::<4>(&pixels, x, &dy, dw, t),
                            }
                        }
                        ch += rows;
                    }
                }
            }
        }
    }

    /// A run of consecutive pixels of the batch (one depth block of the weight gradient).
    struct PixelRange<'a> {
        g: &'a crate::conv::Geometry,
        /// `g.sample_len()`, computed once (it checks for overflow).
        sample_len: usize,
        /// The first pixel, counted over the whole batch.
        p0: usize,
        /// The first pixel's row in `dy`.
        dy: usize,
        len: usize,
    }

    /// Which part of the weight gradient a tile computes: channels `ch..ch + R` of tap
    /// `(u, v)` (patch rows `(u kw + v) c + ch..`), columns `col..col + NR`.
    #[derive(Clone, Copy)]
    struct WeightTile {
        u: usize,
        v: usize,
        ch: usize,
        col: usize,
    }

    /// One tile of [`conv_weight_grad`]: `R` patch rows by `NR` columns of `dw`, summed over
    /// the pixels of `px` in order and added to `dw`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn weight_grad_tile<const R: usize>(
        px: &PixelRange<'_>,
        x: &[f32],
        dy: &View<'_, f32>,
        dw: &mut [f32],
        t: WeightTile,
    ) {
        let (g, zeros) = (px.g, [0.0f32; R]);
        let mut sums = [_mm512_setzero_ps(); R];
        let mut walk = PixelWalk::at(g, px.p0);
        for i in 0..px.len {
            let PixelWalk { b, oy, ox } = walk;
            // Tap (u, v) of pixel (oy, ox) reads input (iy, ix), in the padding when either
            // falls outside (a "negative" index wraps to a huge one). `Geometry::tap` says the
            // same with `checked_sub`s, but through it this loop measured 2-5% slower.
            let iy = (oy * g.sh + t.u).wrapping_sub(g.ph);
            let ix = (ox * g.sw + t.v).wrapping_sub(g.pw);
            let values: &[f32] = if iy < g.h && ix < g.w {
                let at = b * px.sample_len + (iy * g.w + ix) * g.c + t.ch;
                &x[at..at + R]
            } else {
                &zeros
            };
            let row = (px.dy + i) * dy.row_stride + t.col;
            // SAFETY: `conv_weight_grad` checked that the last pixel's row of `dy` ends inside
            // `dy.data`, and `t.col + NR <= oc = dy.cols`; the load is unaligned.
            let dv = unsafe { _mm512_loadu_ps(dy.data.as_ptr().add(row)) };
            for (sum, &a) in sums.iter_mut().zip(values) {
                *sum = _mm512_fmadd_ps(_mm512_set1_ps(a), dv, *sum);
            }
            walk.step(g);
        }
        let first = (t.u * g.kw + t.v) * g.c + t.ch;
        let out = &mut dw[first * g.oc..(first + R) * g.oc];
        for (r, &sum) in sums.iter().enumerate() {
            let at = &mut out[r * g.oc + t.col..r * g.oc + t.col + NR];
            // SAFETY: `at` holds the 16 floats loaded and stored (a checked slice); the
            // accesses are unaligned.
            unsafe {
                _mm512_storeu_ps(
                    at.as_mut_ptr(),
                    _mm512_add_ps(sum, _mm512_loadu_ps(at.as_ptr())),
                )
            };
        }
    }

    /// One row of `c` from a row-contiguous `b`: for batch-1 inference, where packing would
    /// cost as much as the product. `b` streams through in memory order while the output row
    /// stays in L1.
    ///
    /// A `b` of at least [`GROUPED_MIN`] floats is summed in [`GROUPS`] runs of its rows,
    /// each into its own partial row, and the partial rows are then added to `out` in order:
    /// so the runs may be read in either order with the same result, bit for bit. Successive
    /// calls on the same `b` alternate the order ([`reverse_this_pass`]), so that each call
    /// starts on the rows the last one read last, which are still in L2. Repeated batch-1
    /// inference through weights a little larger than L2 (W5's 1.6 and 1 MiB) otherwise
    /// reads every row from L3: streaming 2.6 MiB in a loop took 85 us in memory order and
    /// 57 us alternating.
    #[target_feature(enable = "avx2,fma")]
    fn few_rows(a: &View<'_, f32>, r: usize, b: &View<'_, f32>, out: &mut [f32], start: Start<'_>) {
        let (k, n) = (a.cols, b.cols);
        match start {
            Start::Zero => out.fill(0.0),
            Start::Bias(bias) => out.copy_from_slice(bias),
            Start::C => {}
        }
        if k * n < GROUPED_MIN {
            sum_rows(a, r, b, 0..k, 0, out);
            return;
        }
        let per = k.div_ceil(GROUPS).next_multiple_of(8);
        let runs = |g: usize| (g * per).min(k)..((g + 1) * per).min(k);
        let reverse = reverse_this_pass(b.data.as_ptr());
        let mut partial = [[0.0f32; GROUP_COLS]; GROUPS];
        for j0 in (0..n).step_by(GROUP_COLS) {
            let w = GROUP_COLS.min(n - j0);
            for i in 0..GROUPS {
                let g = if reverse { GROUPS - 1 - i } else { i };
                let part = &mut partial[g][..w];
                part.fill(0.0);
                sum_rows(a, r, b, runs(g), j0, part);
            }
            let out = &mut out[j0..j0 + w];
            for g in (0..GROUPS).filter(|&g| !runs(g).is_empty()) {
                crate::elementwise::add_assign(out, &partial[g][..w]);
            }
        }
    }

    /// Whether this pass of [`few_rows`] over the `b` at `key` reads its runs of rows last to
    /// first: yes when the last pass over it went first to last (see [`Passes`]).
    fn reverse_this_pass(key: *const f32) -> bool {
        static LAST: Passes = Passes::new();
        LAST.reverse(key)
    }

    /// The direction of the last pass over each of the [`PASSES_KEPT`] most recent `b`s, as
    /// a table of their addresses with the lowest bit set after a reversed pass (a float's
    /// address is even). It only steers the order of memory reads, never a result, so
    /// relaxed loads and stores do: threads that race on an entry at worst read in the same
    /// order twice.
    pub(super) struct Passes {
        last: [AtomicUsize; PASSES_KEPT],
        next: AtomicUsize,
    }

    impl Passes {
        pub(super) const fn new() -> Self {
            Self {
                last: [const { AtomicUsize::new(0) }; PASSES_KEPT],
                next: AtomicUsize::new(0),
            }
        }

        /// Whether this pass over the `b` at `key` goes backward; records that it did.
        pub(super) fn reverse(&self, key: *const f32) -> bool {
            let key = key as usize;
            let entry = self.last.iter().find(|e| e.load(Relaxed) & !1 == key);
            let entry =
                entry.unwrap_or_else(|| &self.last[self.next.fetch_add(1, Relaxed) % PASSES_KEPT]);
            let reverse = entry.load(Relaxed) == key;
            entry.store(key | usize::from(reverse), Relaxed);
            reverse
        }
    }

    /// `out += a[r][rows] b[rows][j0..j0 + out.len()]` by [`add_rows_wide`] where AVX-512
    /// runs, else by [`add_rows`]: the same multiply-adds in the same order, so the same bits.
    #[target_feature(enable = "avx2,fma")]
    fn sum_rows(
        a: &View<'_, f32>,
        r: usize,
        b: &View<'_, f32>,
        rows: core::ops::Range<usize>,
        j0: usize,
        out: &mut [f32],
    ) {
        if wide_available() {
            // SAFETY: `wide_available` has confirmed that this CPU executes AVX-512F.
            unsafe { add_rows_wide(a, r, b, rows, j0, out) }
        } else {
            add_rows(a, r, b, rows, j0, out)
        }
    }

    /// [`add_rows`] for a `b` whose rows start on a cache line at column `j0` (every row:
    /// its row stride is a multiple of 16 floats): `out` is taken 256 columns at a time (then
    /// 128), held in 16 (8) zmm sums while the rows stream past, so each row of `b` is read
    /// in whole cache lines, one per load. Each sum takes its rows in order, one multiply-add
    /// each, as [`add_rows`] does. Any other `b` goes to [`add_rows`], as do the last columns.
    ///
    /// W5's batch-1 pass over 2.6 MiB of weights (read from L3) took 28 us by [`add_rows`] and
    /// 24-25 us by the column blocks (median of 20,000 calls). A misaligned `b` is left to
    /// [`add_rows`]: with its lines split between two loads, the column blocks measured no
    /// faster, and reading the few columns before the first whole line separately cost more
    /// than it saved.
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn add_rows_wide(
        a: &View<'_, f32>,
        r: usize,
        b: &View<'_, f32>,
        rows: core::ops::Range<usize>,
        j0: usize,
        out: &mut [f32],
    ) {
        const LINE: usize = 64;
        // Only compared with the line size, never dereferenced.
        let first = b.data.as_ptr().wrapping_add(rows.start * b.row_stride + j0);
        let whole_lines =
            b.row_stride.is_multiple_of(LINE / 4) && (first as usize).is_multiple_of(LINE);
        let mut done = 0;
        if whole_lines && !rows.is_empty() {
            let n = out.len();
            while n - done >= 256 {
                let cols = j0 + done;
                column_block::<16>(a, r, b, rows.clone(), cols, &mut out[done..done + 256]);
                done += 256;
            }
            if n - done >= 128 {
                let cols = j0 + done;
                column_block::<8>(a, r, b, rows.clone(), cols, &mut out[done..done + 128]);
                done += 128;
            }
        }
        if done < out.len() {
            add_rows(a, r, b, rows, j0 + done, &mut out[done..]);
        }
    }

    /// `out += a[r][rows] b[rows][j0..j0 + 16 V]`, the `16 V` columns in `V` zmm sums.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn column_block<const V: usize>(
        a: &View<'_, f32>,
        r: usize,
        b: &View<'_, f32>,
        rows: core::ops::Range<usize>,
        j0: usize,
        out: &mut [f32],
    ) {
        assert!(out.len() == 16 * V && j0 + 16 * V <= b.cols && rows.end <= b.rows);
        // Every row `p` of the run lies inside `b.data` from column `j0` to `j0 + 16 V`.
        assert!(rows.is_empty() || (rows.end - 1) * b.row_stride + j0 + 16 * V <= b.data.len());
        // SAFETY: `out` holds `16 V` floats (asserted above); the loads are unaligned.
        let mut sums: [__m512; V] =
            core::array::from_fn(|t| unsafe { _mm512_loadu_ps(out.as_ptr().add(16 * t)) });
        for p in rows {
            let v = _mm512_set1_ps(a.get(r, p));
            let row = b.data.as_ptr().wrapping_add(p * b.row_stride + j0);
            for (t, sum) in sums.iter_mut().enumerate() {
                // SAFETY: columns `j0 + 16 t .. j0 + 16 t + 16` of row `p` are elements of
                // `b.data` (asserted above); the load is unaligned.
                *sum = _mm512_fmadd_ps(v, unsafe { _mm512_loadu_ps(row.add(16 * t)) }, *sum);
            }
        }
        for (t, sum) in sums.iter().enumerate() {
            // SAFETY: `out` holds `16 V` floats (asserted above); the store is unaligned.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * t), *sum) };
        }
    }

    /// `out += a[r][rows] b[rows][j0..j0 + out.len()]`, rows in order, eight at a time (then
    /// four, then one). The three loops are written out: a const-generic version over arrays
    /// of rows ran 50% slower.
    #[target_feature(enable = "avx2,fma")]
    fn add_rows(
        a: &View<'_, f32>,
        r: usize,
        b: &View<'_, f32>,
        rows: core::ops::Range<usize>,
        j0: usize,
        out: &mut [f32],
    ) {
        let (k, n) = (rows.end, out.len());
        let brow = |p: usize| &b.data[p * b.row_stride + j0..p * b.row_stride + j0 + n];
        let vectors = n / 8 * 8;
        let mut p = rows.start;
        // Eight rows of `b` per pass over the output row: half the loads and stores of `out`
        // that four rows take, with the same multiply-adds in the same order.
        while p + 8 <= k {
            let v = |i: usize| _mm256_set1_ps(a.get(r, p + i));
            let (v0, v1, v2, v3, v4, v5, v6, v7) = (v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7));
            let (b0, b1, b2, b3) = (brow(p), brow(p + 1), brow(p + 2), brow(p + 3));
            let (b4, b5, b6, b7) = (brow(p + 4), brow(p + 5), brow(p + 6), brow(p + 7));
            for j in (0..vectors).step_by(8) {
                let mut acc = load8(&out[j..]);
                acc = _mm256_fmadd_ps(v0, load8(&b0[j..]), acc);
                acc = _mm256_fmadd_ps(v1, load8(&b1[j..]), acc);
                acc = _mm256_fmadd_ps(v2, load8(&b2[j..]), acc);
                acc = _mm256_fmadd_ps(v3, load8(&b3[j..]), acc);
                acc = _mm256_fmadd_ps(v4, load8(&b4[j..]), acc);
                acc = _mm256_fmadd_ps(v5, load8(&b5[j..]), acc);
                acc = _mm256_fmadd_ps(v6, load8(&b6[j..]), acc);
                acc = _mm256_fmadd_ps(v7, load8(&b7[j..]), acc);
                store8(&mut out[j..], acc);
            }
            for j in vectors..n {
                let a = |i: usize| a.get(r, p + i);
                out[j] += a(0) * b0[j] + a(1) * b1[j] + a(2) * b2[j] + a(3) * b3[j];
                out[j] += a(4) * b4[j] + a(5) * b5[j] + a(6) * b6[j] + a(7) * b7[j];
            }
            p += 8;
        }
        while p + 4 <= k {
            let (a0, a1, a2, a3) = (
                a.get(r, p),
                a.get(r, p + 1),
                a.get(r, p + 2),
                a.get(r, p + 3),
            );
            let (v0, v1, v2, v3) = (
                _mm256_set1_ps(a0),
                _mm256_set1_ps(a1),
                _mm256_set1_ps(a2),
                _mm256_set1_ps(a3),
            );
            let (b0, b1, b2, b3) = (brow(p), brow(p + 1), brow(p + 2), brow(p + 3));
            for j in (0..vectors).step_by(8) {
                let mut acc = load8(&out[j..]);
                acc = _mm256_fmadd_ps(v0, load8(&b0[j..]), acc);
                acc = _mm256_fmadd_ps(v1, load8(&b1[j..]), acc);
                acc = _mm256_fmadd_ps(v2, load8(&b2[j..]), acc);
                acc = _mm256_fmadd_ps(v3, load8(&b3[j..]), acc);
                store8(&mut out[j..], acc);
            }
            for j in vectors..n {
                out[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
            }
            p += 4;
        }
        for p in p..k {
            let ap = a.get(r, p);
            let (v, bp) = (_mm256_set1_ps(ap), brow(p));
            for j in (0..vectors).step_by(8) {
                let acc = _mm256_fmadd_ps(v, load8(&bp[j..]), load8(&out[j..]));
                store8(&mut out[j..], acc);
            }
            for j in vectors..n {
                out[j] += ap * bp[j];
            }
        }
    }

    /// Transposes an 8x8 block held in eight registers: row `q` of the result holds element
    /// `q` of every input register, in order.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn load8(s: &[f32]) -> __m256 {
        let s: &[f32; 8] = s[..8].try_into().expect("eight lanes");
        // SAFETY: `s` is eight initialised floats; the load is unaligned.
        unsafe { _mm256_loadu_ps(s.as_ptr()) }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn store8(d: &mut [f32], v: __m256) {
        let d: &mut [f32; 8] = (&mut d[..8]).try_into().expect("eight lanes");
        // SAFETY: `d` is eight writable floats; the store is unaligned.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), v) }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gradcheck::test_values;

    const DIMS: [usize; 5] = [1, 3, 17, 64, 127];

    std::thread_local! {
        /// Set while a test runs the AVX2 kernel on a machine that also has AVX-512.
        pub(super) static NARROW_ONLY: core::cell::Cell<bool> =
            const { core::cell::Cell::new(false) };
    }

    /// Runs `f` with each `f32` kernel of this machine in turn, naming it: the AVX-512 one
    /// (if the CPU has it), then the AVX2 one (or whatever `try_fast_gemm` finds here).
    /// Only the calling thread is affected: with `parallel`, pool threads pick their own.
    pub(crate) fn with_each_kernel(mut f: impl FnMut(&str)) -> usize {
        let mut kernels = 1;
        #[cfg(target_arch = "x86_64")]
        if x86::wide_available() {
            f("avx512");
            kernels += 1;
        }
        NARROW_ONLY.with(|n| n.set(true));
        f("avx2");
        NARROW_ONLY.with(|n| n.set(false));
        kernels
    }

    fn values(n: usize, seed: u64) -> [f32; 127 * 127] {
        let v = test_values::<{ 127 * 127 }>(seed);
        let mut out = [0.0f32; 127 * 127];
        for (o, v) in out.iter_mut().zip(v).take(n) {
            *o = v as f32;
        }
        out
    }

    /// `c = a b` (or `c += a b` from `values(_, seed)`) by the fast kernel and by the
    /// reference; `c` is the first `a.rows() x b.cols()` values, row-major.
    fn fast_and_reference(
        a: View<'_, f32>,
        b: View<'_, f32>,
        accumulate: bool,
        seed: u64,
    ) -> ([f32; 127 * 127], [f32; 127 * 127]) {
        let (m, n) = (a.rows(), b.cols());
        let mut fast = values(m * n, seed);
        let mut slow = fast;
        let fast_view = &mut ViewMut::row_major(&mut fast[..m * n], m, n);
        assert!(f32::try_fast_gemm(a, b, fast_view, accumulate));
        gemm_reference(
            a,
            b,
            &mut ViewMut::row_major(&mut slow[..m * n], m, n),
            accumulate,
        );
        (fast, slow)
    }

    /// `len` values in [-0.5, 0.5), a different sequence for each `seed`.
    fn wave(len: usize, seed: usize) -> std::vec::Vec<f32> {
        (0..len)
            .map(|i| ((i * 37 + seed) % 101) as f32 / 101.0 - 0.5)
            .collect()
    }

    /// `c += a b` from `c = wave(_, 3)`, by the fast kernel of the moment (`fast`) or by the
    /// reference.
    fn accumulated(a: View<'_, f32>, b: View<'_, f32>, fast: bool) -> std::vec::Vec<f32> {
        let (m, n) = (a.rows(), b.cols());
        let mut c = wave(m * n, 3);
        let cv = &mut ViewMut::row_major(&mut c, m, n);
        if fast {
            assert!(f32::try_fast_gemm(a, b, cv, true));
        } else {
            gemm_reference(a, b, cv, true);
        }
        c
    }

    /// Asserts that a product over a shared dimension of `k` is within rounding of the
    /// reference's, naming the first element that is not.
    fn assert_near(c: &[f32], reference: &[f32], k: usize, what: &str) {
        for (i, (f, s)) in c.iter().zip(reference).enumerate() {
            assert!(
                (f - s).abs() <= 1e-6 * (k as f32 + 1.0),
                "{what} at {i}: {f} vs {s}"
            );
        }
    }

    /// Batch-1 products over a `b` of at least 1 MiB, which `few_rows` sums in runs of rows
    /// read in alternating order: each matches the reference, and calls that follow one
    /// another (so read the runs in opposite orders) give the same bits. The shapes cover
    /// whole rows in one pass (600 x 500), two passes of columns (1100 = 1024 + 76), runs
    /// that end in 4-row and 1-row steps beside a last odd column (1027 x 257), runs left
    /// empty (9 rows in runs of 8), and, with `parallel`, a product large enough to be cut
    /// between threads by columns, each half a column block of `b` (1024 x 1100).
    #[test]
    fn batch_one_products_over_a_large_b_give_one_result_in_either_order() {
        if !fast_f32_available() {
            return;
        }
        for (m, k, n) in [
            (1, 600, 500),
            (2, 260, 1100),
            (1, 1027, 257),
            (1, 9, 30000),
            (1, 1024, 1100),
        ] {
            let (a, b) = (wave(m * k, 1), wave(k * n, 2));
            let (av, bv) = (View::row_major(&a, m, k), View::row_major(&b, k, n));
            let run = || accumulated(av, bv, true);
            let (first, second, third) = (run(), run(), run());
            let slow = accumulated(av, bv, false);
            assert_near(&first, &slow, k, &std::format!("{m}x{k}x{n}"));
            // The first column whose bits differ from the first call's, if any.
            let differs = |c: &[f32]| {
                first
                    .iter()
                    .zip(c)
                    .position(|(f, c)| f.to_bits() != c.to_bits())
            };
            assert_eq!(differs(&second), None, "{m}x{k}x{n}");
            assert_eq!(differs(&third), None, "{m}x{k}x{n}");
        }
    }

    /// Batch-1 and batch-2 products whose `b` starts on a cache line (so AVX-512 takes it in
    /// column blocks of 256 and 128, then the last columns by the AVX2 loops) and one float
    /// past it (AVX2 only): every kernel of this machine gives the reference's result, and
    /// the kernels give each other's bits. Widths 400 = 256 + 128 + 16 and 528 = 2 x 256 + 16
    /// take every part; rows of 127 and 1 floats are not whole cache lines (AVX2 only);
    /// 700 x 400 is large enough to be summed in runs of rows.
    #[test]
    fn batch_one_column_blocks_match_the_reference_and_the_avx2_bits() {
        if !fast_f32_available() {
            return;
        }
        for (m, k, n) in [
            (1, 1, 400),
            (1, 3, 528),
            (2, 17, 400),
            (1, 127, 256),
            (1, 64, 128),
            (1, 127, 127),
            (1, 700, 400),
            (2, 3, 1),
        ] {
            for shift in [0, 1] {
                // `b` from the first cache-line boundary of its buffer on, plus `shift`.
                let buffer = wave(k * n + 16 + shift, 2);
                let skip = buffer.as_ptr().align_offset(64) + shift;
                let b = &buffer[skip..skip + k * n];
                let a = wave(m * k, 1);
                let (av, bv) = (View::row_major(&a, m, k), View::row_major(b, k, n));
                let slow = accumulated(av, bv, false);
                let mut results = std::vec::Vec::new();
                with_each_kernel(|kernel| {
                    let c = accumulated(av, bv, true);
                    let what = std::format!("{kernel} {m}x{k}x{n} (shift {shift})");
                    assert_near(&c, &slow, k, &what);
                    results.push(c);
                });
                let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
                for c in &results[1..] {
                    assert_eq!(bits(c), bits(&results[0]), "{m}x{k}x{n} (shift {shift})");
                }
            }
        }
    }

    /// The direction table behind `few_rows`: each `b` alternates on its own, however the
    /// passes over different `b`s interleave, and a `b` it has forgotten starts over in
    /// memory order.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn each_large_b_alternates_its_order_on_its_own() {
        let matrices = [[0.0f32; 4]; 20];
        let key = |i: usize| matrices[i].as_ptr();
        let table = x86::Passes::new();
        let pass = |key| table.reverse(key);
        assert_eq!(
            [pass(key(0)), pass(key(1)), pass(key(0))],
            [false, false, true]
        );
        assert_eq!(
            [pass(key(1)), pass(key(1)), pass(key(0))],
            [true, false, false]
        );
        // Twenty other matrices push the first two out of the table.
        for i in 2..20 {
            pass(key(i));
        }
        assert!(!pass(key(0)) && pass(key(0)));
    }

    /// Every layout a dense layer uses: plain, `a` transposed, `b` transposed.
    #[test]
    fn fast_kernel_matches_reference_on_awkward_shapes() {
        if !fast_f32_available() {
            let a = [1.0f32];
            let mut c = [0.0f32];
            assert!(!f32::try_fast_gemm(
                View::row_major(&a, 1, 1),
                View::row_major(&a, 1, 1),
                &mut ViewMut::row_major(&mut c, 1, 1),
                false
            ));
            return;
        }
        let a = values(127 * 127, 1);
        let b = values(127 * 127, 2);
        let mut checked = 0;
        // Every kernel's result on each case, to be compared bit for bit.
        let mut results = std::vec::Vec::new();
        let kernels = with_each_kernel(|kernel| {
            let mut case = 0;
            for &m in &DIMS {
                for &k in &DIMS {
                    for &n in &DIMS {
                        for (ta, tb) in [(false, false), (true, false), (false, true)] {
                            let av = if ta {
                                View::row_major(&a[..k * m], k, m).t()
                            } else {
                                View::row_major(&a[..m * k], m, k)
                            };
                            let bv = if tb {
                                View::row_major(&b[..n * k], n, k).t()
                            } else {
                                View::row_major(&b[..k * n], k, n)
                            };
                            for accumulate in [false, true] {
                                let (fast, slow) = fast_and_reference(av, bv, accumulate, 3);
                                for (i, (f, s)) in
                                    fast[..m * n].iter().zip(&slow[..m * n]).enumerate()
                                {
                                    // Both sum k products of values below 1 in magnitude.
                                    let tol = 1e-6 * (k as f32 + 1.0);
                                    assert!(
                                    (f - s).abs() <= tol,
                                    "{kernel}: m={m} k={k} n={n} ta={ta} tb={tb} acc={accumulate} at {i}: {f} vs {s}"
                                );
                                }
                                let bits: std::vec::Vec<u32> =
                                    fast[..m * n].iter().map(|v| v.to_bits()).collect();
                                if results.len() <= case {
                                    results.push(bits);
                                } else {
                                    assert_eq!(
                                    results[case], bits,
                                    "{kernel} differs from avx512: m={m} k={k} n={n} ta={ta} tb={tb} acc={accumulate}"
                                );
                                }
                                case += 1;
                                checked += 1;
                            }
                        }
                    }
                }
            }
        });
        assert_eq!(checked, kernels * 5 * 5 * 5 * 3 * 2);
    }

    /// Products above the threshold on pools of 2 and 3 threads: those with many rows are cut
    /// by rows, short ones by columns (3 threads nest a second cut inside the first), with edges that
    /// are not whole micro-tiles and a transposed `b`. Every block must match the reference
    /// as the single kernel does, and the rows and columns outside `c`'s view stay untouched.
    #[cfg(feature = "parallel")]
    #[test]
    fn split_product_matches_reference() {
        extern crate std;
        use std::vec::Vec;
        let data = |len: usize, mul: usize| -> Vec<f32> {
            (0..len)
                .map(|i| ((i * mul) % 1000) as f32 / 1000.0 - 0.5)
                .collect()
        };
        // Cut by rows on 2 threads (at least `ROWS_PER_THREAD` each), also when `c` is wider
        // than tall (the third: a weight gradient); by columns when a thread's share would be
        // fewer rows (the last two on 2 threads; the third too on 3).
        let shapes = [
            (131, 97, 127),
            (131, 64, 300),
            (67, 130, 257),
            (64, 784, 512),
        ];
        for (m, k, n) in shapes {
            assert!(m * k * n >= PARALLEL_MIN_MACS);
            let a = data(m * k, 7919);
            let b = data(k * n, 104729);
            // `c` is the left `n` columns of an `m x (n + 5)` buffer.
            let stride = n + 5;
            let mut slow = std::vec![0.25f32; m * stride];
            gemm_reference(
                View::row_major(&a, m, k),
                View::row_major(&b, k, n),
                &mut ViewMut::new(&mut slow, m, n, stride),
                true,
            );
            for threads in [2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for transposed_b in [false, true] {
                    let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
                    let b_view = if transposed_b {
                        View::row_major(&bt, n, k).t()
                    } else {
                        View::row_major(&b, k, n)
                    };
                    let mut fast = std::vec![0.25f32; m * stride];
                    pool.install(|| {
                        gemm(
                            View::row_major(&a, m, k).t().t(),
                            b_view,
                            &mut ViewMut::new(&mut fast, m, n, stride),
                            true,
                        )
                    });
                    for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
                        let what = (m, k, n, threads, transposed_b, i / stride, i % stride);
                        assert!((f - s).abs() < 1e-3, "{f} vs {s} at {what:?}");
                    }
                }
            }
        }
    }

    /// Every number of rows from 1 to 26, so that every remainder of the 6-row tiling (and
    /// the 4 + 3 and 4 + 4 splits of the last 7 or 8 rows) and of the 12-row AVX-512 tiling
    /// (and its two tiles for the last 13 to 24 rows) is covered, with a partial last
    /// panel (35 columns): each row against the reference. In the packed kernel (3 rows or
    /// more; 1 and 2 rows stream) one row's sums do not depend on which tile it falls in, so
    /// they must also equal the same row in a product of its own.
    #[test]
    fn every_row_remainder_matches_reference() {
        if !fast_f32_available() {
            return;
        }
        with_each_kernel(|_| {
            for (k, n) in [(33, 35), (300, 16), (70, 48), (300, 40)] {
                rows_against_reference(k, n);
            }
        });
    }

    /// [`every_row_remainder_matches_reference`] for one shared dimension and width; (300, 16)
    /// reaches the path with no panel buffer and a shared dimension of two blocks; (70, 48)
    /// and (300, 40) end in a lone panel after a pair, read in place and packed.
    fn rows_against_reference(k: usize, n: usize) {
        let a = values(26 * k, 8);
        let b = values(k * n, 9);
        let bv = View::row_major(&b[..k * n], k, n);
        for m in 1..=26 {
            let av = View::row_major(&a[..m * k], m, k);
            let (fast, slow) = fast_and_reference(av, bv, true, 10);
            for (i, (f, s)) in fast[..m * n].iter().zip(&slow[..m * n]).enumerate() {
                assert!(
                    (f - s).abs() <= 1e-6 * (k as f32 + 1.0),
                    "m={m} at {i}: {f} vs {s}"
                );
            }
            for r in [0, m / 2, m - 1].into_iter().filter(|_| m >= 3) {
                // Row r three times over: a 3-row product, so the packed kernel runs too.
                let three = [&a[r * k..(r + 1) * k]; 3].concat();
                let start = &values(m * n, 10)[r * n..(r + 1) * n];
                let mut three_out = [start, start, start].concat();
                assert!(f32::try_fast_gemm(
                    View::row_major(&three, 3, k),
                    bv,
                    &mut ViewMut::row_major(&mut three_out, 3, n),
                    true
                ));
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
                assert_eq!(
                    bits(&three_out[n..2 * n]),
                    bits(&fast[r * n..(r + 1) * n]),
                    "m={m} row {r}"
                );
            }
        }
    }

    /// A product started from a bias is exactly the bias written into `c` followed by an
    /// accumulating product (the order `linear` used before): on awkward shapes, a shared
    /// dimension of more than one block (300), a strided output, and with `parallel` on pools
    /// of 2 and 3 threads, where the bias is cut with the columns.
    #[test]
    fn bias_start_equals_bias_then_accumulate() {
        extern crate std;
        use std::vec::Vec;
        if !fast_f32_available() {
            return;
        }
        let data = |len: usize, mul: usize| -> Vec<f32> {
            (0..len)
                .map(|i| ((i * mul) % 1000) as f32 / 1000.0 - 0.5)
                .collect()
        };
        let check = |m: usize, k: usize, n: usize| {
            let (a, b, bias) = (data(m * k, 7919), data(k * n, 104729), data(n, 31));
            let stride = n + 3;
            let mut fast = std::vec![9.0f32; m * stride];
            let mut slow = fast.clone();
            for row in slow.chunks_mut(stride) {
                row[..n].copy_from_slice(&bias);
            }
            let (av, bv) = (View::row_major(&a, m, k), View::row_major(&b, k, n));
            assert!(f32::try_fast_linear(
                av,
                bv,
                &bias,
                &mut ViewMut::new(&mut fast, m, n, stride)
            ));
            assert!(f32::try_fast_gemm(
                av,
                bv,
                &mut ViewMut::new(&mut slow, m, n, stride),
                true
            ));
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "{m}x{k}x{n}");
        };
        for &m in &DIMS {
            for &k in &[1, 17, 64, 300] {
                for &n in &DIMS {
                    with_each_kernel(|_| check(m, k, n));
                }
            }
        }
        #[cfg(feature = "parallel")]
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            // Wide (cut by columns) and tall (cut by rows).
            pool.install(|| {
                check(64, 130, 257);
                check(257, 130, 64);
            });
        }
    }

    #[test]
    fn rows_of_a_strided_output_outside_the_view_are_untouched() {
        let a = values(6, 4);
        let b = values(6, 5);
        // A 3x2 product into columns 0..2 of a 3x4 buffer.
        let mut out = [7.0f32; 12];
        gemm(
            View::row_major(&a[..6], 3, 2),
            View::row_major(&b[..4], 2, 2),
            &mut ViewMut::new(&mut out, 3, 2, 4),
            false,
        );
        for r in 0..3 {
            assert_eq!(&out[r * 4 + 2..r * 4 + 4], &[7.0, 7.0]);
            for j in 0..2 {
                let expected = a[r * 2] * b[j] + a[r * 2 + 1] * b[2 + j];
                assert!((out[r * 4 + j] - expected).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn empty_shared_dimension_zeroes_or_keeps() {
        let a: [f32; 0] = [];
        let mut c = [3.0f32; 4];
        gemm(
            View::row_major(&a, 2, 0),
            View::row_major(&a, 0, 2),
            &mut ViewMut::row_major(&mut c, 2, 2),
            true,
        );
        assert_eq!(c, [3.0; 4]);
        gemm(
            View::row_major(&a, 2, 0),
            View::row_major(&a, 0, 2),
            &mut ViewMut::row_major(&mut c, 2, 2),
            false,
        );
        assert_eq!(c, [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_view_past_its_data_is_rejected() {
        let data = [0.0f32; 5];
        let _ = View::row_major(&data, 2, 3);
    }

    #[test]
    #[should_panic(expected = "gemm of 2x3 by 2x2")]
    fn shapes_that_do_not_chain_are_rejected() {
        let data = [0.0f32; 6];
        let mut c = [0.0f32; 4];
        gemm(
            View::row_major(&data, 2, 3),
            View::row_major(&data[..4], 2, 2),
            &mut ViewMut::row_major(&mut c, 2, 2),
            false,
        );
    }
}
