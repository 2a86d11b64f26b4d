//! Channels-last against channels-first, for W6's convolutions (16 -> 16 channels, 3x3, same
//! padding, stride 1, 8x8 images, batch 32, f32): the evidence for the layout of
//! `gradflow::nn::conv`.
//!
//! The library's `Conv2d` stores samples `[H][W][C]` and weights `[K][K][C][OC]`; for `f32` on a
//! machine with AVX2 and FMA it runs as the matrix products of `gradflow::tensor::conv`, and
//! elsewhere as direct loops whose innermost loops run over the channels of one position (the
//! training-mode forward pass is timed, as it prepares the backward pass). The reference below is the
//! channels-first kernel the library had before: samples `[C][H][W]`, weights
//! `[OC][C][K][K]` (PyTorch's), innermost loops along an image row. Start-up checks that both
//! compute the same forward output and gradients before anything is timed.
//! Run with `cargo bench --bench conv_layout`.

use criterion::{criterion_group, criterion_main, Criterion};
use gradflow::nn::conv::{Conv2d, Conv2dCache, Conv2dGrads};
use gradflow::nn::memory::zeroed_box;
use gradflow::nn::{Backward, Forward};
use std::hint::black_box;
use std::ops::Range;

const B: usize = 32;
const C: usize = 16;
const H: usize = 8;
const W: usize = 8;
const OC: usize = 16;
const K: usize = 3;
const P: usize = K / 2;
/// The stride, 1; the reference keeps the library's former strided loops.
const S: usize = 1;

type LastConv = Conv2d<f32, C, H, W, OC, K, S, P, H, W>;
type LastGrads = Conv2dGrads<f32, C, OC, K>;
type LastCache = Conv2dCache<f32, C, OC, K>;
/// A channels-first sample, `[C][H][W]`.
type First<const N: usize> = [[[f32; W]; H]; N];
/// A channels-last sample, `[H][W][C]`.
type Last<const N: usize> = [[[f32; N]; W]; H];

/// A 3x3 same-padding stride-1 convolution in channels-first layout.
struct FirstConv {
    /// `weight[o][c][u][v]`.
    weight: [[[[f32; K]; K]; C]; OC],
    bias: [f32; OC],
}

/// Gradients of a [`FirstConv`].
struct FirstGrads {
    weight: [[[[f32; K]; K]; C]; OC],
    bias: [f32; OC],
}

/// For kernel offset `k`, the outputs `o` whose tap `o * S + k - P` lands inside `0..n`
/// (`n` inputs and outputs), and the input index of the first such tap.
fn taps(k: usize, n: usize) -> (Range<usize>, usize) {
    let lo = P.saturating_sub(k).div_ceil(S);
    let hi = (n + P).saturating_sub(k).div_ceil(S).min(n);
    if lo < hi {
        (lo..hi, lo * S + k - P)
    } else {
        (0..0, 0)
    }
}

impl FirstConv {
    fn forward(&self, x: &[First<C>; B], y: &mut [First<OC>; B]) {
        for (xs, ys) in x.iter().zip(y) {
            for ((yo, wo), &bias) in ys.iter_mut().zip(&self.weight).zip(&self.bias) {
                *yo = [[bias; W]; H];
                for (xc, wc) in xs.iter().zip(wo) {
                    for (u, wu) in wc.iter().enumerate() {
                        let (rows, i0) = taps(u, H);
                        for (v, &w) in wu.iter().enumerate() {
                            let (cols, j0) = taps(v, W);
                            for (yrow, xrow) in
                                yo[rows.clone()].iter_mut().zip(xc[i0..].iter().step_by(S))
                            {
                                let xs = xrow[j0..].iter().step_by(S);
                                for (y, &x) in yrow[cols.clone()].iter_mut().zip(xs) {
                                    *y += w * x;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Writes `dx` and adds the parameter gradients into `g`.
    fn backward(
        &self,
        x: &[First<C>; B],
        dy: &[First<OC>; B],
        dx: &mut [First<C>; B],
        g: &mut FirstGrads,
    ) {
        for (dys, dxs) in dy.iter().zip(dx.iter_mut()) {
            *dxs = [[[0.0; W]; H]; C];
            for (dyo, wo) in dys.iter().zip(&self.weight) {
                for (dxc, wc) in dxs.iter_mut().zip(wo) {
                    for (u, wu) in wc.iter().enumerate() {
                        let (rows, i0) = taps(u, H);
                        for (v, &w) in wu.iter().enumerate() {
                            let (cols, j0) = taps(v, W);
                            let dxrows = dxc[i0..].iter_mut().step_by(S);
                            for (dyrow, dxrow) in dyo[rows.clone()].iter().zip(dxrows) {
                                let dxs = dxrow[j0..].iter_mut().step_by(S);
                                for (&d, dx) in dyrow[cols.clone()].iter().zip(dxs) {
                                    *dx += w * d;
                                }
                            }
                        }
                    }
                }
            }
        }
        for (xs, dys) in x.iter().zip(dy) {
            for ((dyo, go), gb) in dys.iter().zip(&mut g.weight).zip(&mut g.bias) {
                for &d in dyo.as_flattened() {
                    *gb += d;
                }
                for (xc, gc) in xs.iter().zip(go) {
                    for (u, gu) in gc.iter_mut().enumerate() {
                        let (rows, i0) = taps(u, H);
                        for (v, gw) in gu.iter_mut().enumerate() {
                            let (cols, j0) = taps(v, W);
                            let mut acc = 0.0;
                            for (dyrow, xrow) in
                                dyo[rows.clone()].iter().zip(xc[i0..].iter().step_by(S))
                            {
                                let xs = xrow[j0..].iter().step_by(S);
                                for (&d, &x) in dyrow[cols.clone()].iter().zip(xs) {
                                    acc += d * x;
                                }
                            }
                            *gw += acc;
                        }
                    }
                }
            }
        }
    }
}

/// Deterministic values in `[-1, 1)` (xorshift64).
struct Values(u64);

impl Values {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn fill(&mut self, xs: &mut [f32]) {
        for x in xs {
            *x = self.next();
        }
    }
}

fn to_first<const N: usize>(x: &[Last<N>; B], out: &mut [First<N>; B]) {
    for (ls, fs) in x.iter().zip(out) {
        for (i, row) in ls.iter().enumerate() {
            for (j, pixel) in row.iter().enumerate() {
                for (c, &v) in pixel.iter().enumerate() {
                    fs[c][i][j] = v;
                }
            }
        }
    }
}

/// `[K][K][C][OC]` to `[OC][C][K][K]`.
fn weight_to_first(w: &[[[[f32; OC]; C]; K]; K]) -> [[[[f32; K]; K]; C]; OC] {
    core::array::from_fn(|o| {
        core::array::from_fn(|c| core::array::from_fn(|u| core::array::from_fn(|v| w[u][v][c][o])))
    })
}

/// Panics unless every `got` is within `1e-4` of `want`, relative to the largest `|want|`.
fn assert_close(what: &str, want: &[f32], got: &[f32]) {
    assert_eq!(want.len(), got.len(), "{what}: lengths differ");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{what}: reference is all zeros");
    for (k, (&a, &b)) in want.iter().zip(got).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{what}[{k}]: channels-first {a}, channels-last {b} (scale {scale})"
        );
    }
}

/// Both layers with the same random parameters, and a random batch and output gradient in
/// both layouts.
struct Setup {
    last: Box<LastConv>,
    first: Box<FirstConv>,
    x_last: Box<[Last<C>; B]>,
    dy_last: Box<[Last<OC>; B]>,
    x_first: Box<[First<C>; B]>,
    dy_first: Box<[First<OC>; B]>,
}

fn setup() -> Setup {
    let mut values = Values(0x9E37_79B9_7F4A_7C15);
    let mut last = zeroed_box::<LastConv>();
    let weight = last.weight.as_flattened_mut().as_flattened_mut();
    values.fill(weight.as_flattened_mut());
    values.fill(&mut last.bias);
    let mut x_last = zeroed_box::<[Last<C>; B]>();
    values.fill(flat_mut(&mut x_last));
    let mut dy_last = zeroed_box::<[Last<OC>; B]>();
    values.fill(flat_mut(&mut dy_last));
    let first = Box::new(FirstConv {
        weight: weight_to_first(&last.weight),
        bias: last.bias,
    });
    let mut x_first = zeroed_box::<[First<C>; B]>();
    to_first(&x_last, &mut x_first);
    let mut dy_first = zeroed_box::<[First<OC>; B]>();
    to_first(&dy_last, &mut dy_first);
    Setup {
        last,
        first,
        x_last,
        dy_last,
        x_first,
        dy_first,
    }
}

fn flat<const N: usize>(x: &[First<N>; B]) -> &[f32] {
    x.as_flattened().as_flattened().as_flattened()
}

fn flat_mut<const N: usize>(x: &mut [Last<N>; B]) -> &mut [f32] {
    x.as_flattened_mut().as_flattened_mut().as_flattened_mut()
}

fn first_grads() -> Box<FirstGrads> {
    Box::new(FirstGrads {
        weight: [[[[0.0; K]; K]; C]; OC],
        bias: [0.0; OC],
    })
}

/// Runs both layouts once and panics unless they agree.
fn check_agreement(s: &mut Setup) {
    let mut y_last = zeroed_box::<[Last<OC>; B]>();
    let mut cache = zeroed_box::<LastCache>();
    s.last.forward_train(&s.x_last, &mut y_last, &mut cache);
    let mut dx_last = zeroed_box::<[Last<C>; B]>();
    let mut g_last = zeroed_box::<LastGrads>();
    s.last.backward(
        &s.x_last,
        &y_last,
        &cache,
        &s.dy_last,
        Some(&mut dx_last),
        Some(&mut g_last),
    );

    let mut y_first = zeroed_box::<[First<OC>; B]>();
    s.first.forward(&s.x_first, &mut y_first);
    let mut dx_first = zeroed_box::<[First<C>; B]>();
    let mut g_first = first_grads();
    s.first
        .backward(&s.x_first, &s.dy_first, &mut dx_first, &mut g_first);

    let mut y_got = zeroed_box::<[First<OC>; B]>();
    to_first(&y_last, &mut y_got);
    assert_close("y", flat(&y_first), flat(&y_got));
    let mut dx_got = zeroed_box::<[First<C>; B]>();
    to_first(&dx_last, &mut dx_got);
    assert_close("dx", flat(&dx_first), flat(&dx_got));
    let dw_got = weight_to_first(&g_last.weight);
    let flat_w =
        |w: &[[[[f32; K]; K]; C]; OC]| w.as_flattened().as_flattened().as_flattened().to_vec();
    assert_close("dw", &flat_w(&g_first.weight), &flat_w(&dw_got));
    assert_close("db", &g_first.bias, &g_last.bias);
}

fn conv_layout(c: &mut Criterion) {
    let mut s = setup();
    check_agreement(&mut s);
    let Setup {
        mut last,
        first,
        x_last,
        dy_last,
        x_first,
        dy_first,
    } = s;

    let mut y_first = zeroed_box::<[First<OC>; B]>();
    let mut dx_first = zeroed_box::<[First<C>; B]>();
    let mut g_first = first_grads();
    let mut y_last = zeroed_box::<[Last<OC>; B]>();
    let mut dx_last = zeroed_box::<[Last<C>; B]>();
    let mut g_last = zeroed_box::<LastGrads>();
    let mut cache = zeroed_box::<LastCache>();

    let mut group = c.benchmark_group("conv layout");
    group.bench_function("channels-first forward", |b| {
        b.iter(|| {
            black_box(&*first).forward(black_box(&*x_first), &mut y_first);
            black_box(&mut *y_first);
        })
    });
    group.bench_function("channels-last forward", |b| {
        b.iter(|| {
            black_box(&*last).forward(black_box(&*x_last), &mut y_last);
            black_box(&mut *y_last);
        })
    });
    group.bench_function("channels-first forward+backward", |b| {
        b.iter(|| {
            let layer = black_box(&*first);
            let x = black_box(&*x_first);
            layer.forward(x, &mut y_first);
            g_first.weight = [[[[0.0; K]; K]; C]; OC];
            g_first.bias = [0.0; OC];
            let dy = black_box(&*dy_first);
            layer.backward(x, dy, &mut dx_first, &mut g_first);
            black_box((&mut *y_first, &mut *dx_first, &mut *g_first));
        })
    });
    group.bench_function("channels-last forward+backward", |b| {
        b.iter(|| {
            let layer = black_box(&mut *last);
            let x = black_box(&*x_last);
            layer.forward_train(x, &mut y_last, &mut cache);
            g_last.weight = [[[[0.0; OC]; C]; K]; K];
            g_last.bias = [0.0; OC];
            let dy = black_box(&*dy_last);
            layer.backward(
                x,
                &y_last,
                &cache,
                dy,
                Some(&mut dx_last),
                Some(&mut g_last),
            );
            black_box((&mut *y_last, &mut *dx_last, &mut *g_last));
        })
    });
    group.finish();
}

criterion_group!(benches, conv_layout);
criterion_main!(benches);
