//! Channels-first against channels-last, for W6's convolutions (16 -> 16 channels, 3x3, same
//! padding, stride 1, 8x8 images, batch 32, f32).
//!
//! The library's `Conv2d` stores samples `[C][H][W]` and weights `[OC][C][K][K]`, and runs its
//! innermost loops along an image row. The reference below stores samples `[H][W][C]` and
//! weights `[K][K][C][OC]`, and runs its innermost loops along the channels. Start-up checks
//! that both compute the same forward output and gradients before anything is timed.
//! Run with `cargo bench --bench conv_layout`.

use criterion::{criterion_group, criterion_main, Criterion};
use gradflow::nn::conv::{Conv2d, Conv2dGrads};
use gradflow::nn::memory::zeroed_box;
use gradflow::nn::{Backward, Forward};
use std::hint::black_box;

const B: usize = 32;
const C: usize = 16;
const H: usize = 8;
const W: usize = 8;
const OC: usize = 16;
const K: usize = 3;
const P: usize = K / 2;

type FirstConv = Conv2d<f32, C, H, W, OC, K, 1, P, H, W>;
type FirstGrads = Conv2dGrads<f32, C, OC, K>;
/// A channels-first sample, `[C][H][W]`.
type First<const N: usize> = [[[f32; W]; H]; N];
/// A channels-last sample, `[H][W][C]`.
type Last<const N: usize> = [[[f32; N]; W]; H];

/// A 3x3 same-padding stride-1 convolution in channels-last layout.
#[derive(Clone)]
struct LastConv {
    /// `weight[u][v][c][o]`.
    weight: [[[[f32; OC]; C]; K]; K],
    bias: [f32; OC],
}

/// Gradients of a [`LastConv`].
#[derive(Clone)]
struct LastGrads {
    weight: [[[[f32; OC]; C]; K]; K],
    bias: [f32; OC],
}

/// Input index `o + k - P`, when it lies inside `0..n`.
fn tap(o: usize, k: usize, n: usize) -> Option<usize> {
    (o + k).checked_sub(P).filter(|&i| i < n)
}

/// Output index `i + P - k` that reads input `i` at kernel offset `k`, when inside `0..n`.
fn untap(i: usize, k: usize, n: usize) -> Option<usize> {
    (i + P).checked_sub(k).filter(|&o| o < n)
}

impl LastConv {
    fn forward(&self, x: &[Last<C>; B], y: &mut [Last<OC>; B]) {
        for (xs, ys) in x.iter().zip(y) {
            for (i, yrow) in ys.iter_mut().enumerate() {
                for (j, yp) in yrow.iter_mut().enumerate() {
                    let mut acc = self.bias;
                    for (u, wu) in self.weight.iter().enumerate() {
                        let Some(ii) = tap(i, u, H) else { continue };
                        for (v, wv) in wu.iter().enumerate() {
                            let Some(jj) = tap(j, v, W) else { continue };
                            for (&xv, wc) in xs[ii][jj].iter().zip(wv) {
                                for (a, &w) in acc.iter_mut().zip(wc) {
                                    *a += xv * w;
                                }
                            }
                        }
                    }
                    *yp = acc;
                }
            }
        }
    }

    /// Writes `dx` and adds the parameter gradients into `g`.
    fn backward(
        &self,
        x: &[Last<C>; B],
        dy: &[Last<OC>; B],
        dx: &mut [Last<C>; B],
        g: &mut LastGrads,
    ) {
        // The input gradient correlates `dy` with the weight transposed to `[K][K][OC][C]`, so
        // that its innermost loop, too, runs contiguously over the channels it writes.
        let mut wt = [[[[0.0f32; C]; OC]; K]; K];
        for (wtu, wu) in wt.iter_mut().zip(&self.weight) {
            for (wtv, wv) in wtu.iter_mut().zip(wu) {
                for (c, wc) in wv.iter().enumerate() {
                    for (wto, &w) in wtv.iter_mut().zip(wc) {
                        wto[c] = w;
                    }
                }
            }
        }
        for (dys, dxs) in dy.iter().zip(dx.iter_mut()) {
            for (ii, dxrow) in dxs.iter_mut().enumerate() {
                for (jj, dxp) in dxrow.iter_mut().enumerate() {
                    let mut acc = [0.0f32; C];
                    for (u, wu) in wt.iter().enumerate() {
                        let Some(i) = untap(ii, u, H) else { continue };
                        for (v, wv) in wu.iter().enumerate() {
                            let Some(j) = untap(jj, v, W) else { continue };
                            for (&d, wo) in dys[i][j].iter().zip(wv) {
                                for (a, &w) in acc.iter_mut().zip(wo) {
                                    *a += d * w;
                                }
                            }
                        }
                    }
                    *dxp = acc;
                }
            }
        }
        for (xs, dys) in x.iter().zip(dy) {
            for (i, dyrow) in dys.iter().enumerate() {
                for (j, d) in dyrow.iter().enumerate() {
                    for (gb, &d) in g.bias.iter_mut().zip(d) {
                        *gb += d;
                    }
                    for (u, gu) in g.weight.iter_mut().enumerate() {
                        let Some(ii) = tap(i, u, H) else { continue };
                        for (v, gv) in gu.iter_mut().enumerate() {
                            let Some(jj) = tap(j, v, W) else { continue };
                            for (&xv, gc) in xs[ii][jj].iter().zip(gv.iter_mut()) {
                                for (gw, &d) in gc.iter_mut().zip(d) {
                                    *gw += xv * d;
                                }
                            }
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

fn to_last<const N: usize>(x: &[First<N>; B], out: &mut [Last<N>; B]) {
    for (xs, ls) in x.iter().zip(out) {
        for (c, xc) in xs.iter().enumerate() {
            for (i, row) in xc.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    ls[i][j][c] = v;
                }
            }
        }
    }
}

/// `[OC][C][K][K]` to `[K][K][C][OC]`.
fn weight_to_last(w: &[[[[f32; K]; K]; C]; OC]) -> [[[[f32; OC]; C]; K]; K] {
    core::array::from_fn(|u| {
        core::array::from_fn(|v| core::array::from_fn(|c| core::array::from_fn(|o| w[o][c][u][v])))
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
    first: Box<FirstConv>,
    last: Box<LastConv>,
    x_first: Box<[First<C>; B]>,
    dy_first: Box<[First<OC>; B]>,
    x_last: Box<[Last<C>; B]>,
    dy_last: Box<[Last<OC>; B]>,
}

fn setup() -> Setup {
    let mut values = Values(0x9E37_79B9_7F4A_7C15);
    let mut first = zeroed_box::<FirstConv>();
    let weight = first.weight.as_flattened_mut().as_flattened_mut();
    values.fill(weight.as_flattened_mut());
    values.fill(&mut first.bias);
    let mut x_first = zeroed_box::<[First<C>; B]>();
    values.fill(
        x_first
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut(),
    );
    let mut dy_first = zeroed_box::<[First<OC>; B]>();
    values.fill(
        dy_first
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut(),
    );
    let last = Box::new(LastConv {
        weight: weight_to_last(&first.weight),
        bias: first.bias,
    });
    let mut x_last = zeroed_box::<[Last<C>; B]>();
    to_last(&x_first, &mut x_last);
    let mut dy_last = zeroed_box::<[Last<OC>; B]>();
    to_last(&dy_first, &mut dy_last);
    Setup {
        first,
        last,
        x_first,
        dy_first,
        x_last,
        dy_last,
    }
}

fn flat<const N: usize>(x: &[Last<N>; B]) -> &[f32] {
    x.as_flattened().as_flattened().as_flattened()
}

/// Runs both layouts once and panics unless they agree.
fn check_agreement(s: &Setup) {
    let mut y_first = zeroed_box::<[First<OC>; B]>();
    s.first.forward(&s.x_first, &mut y_first);
    let mut dx_first = zeroed_box::<[First<C>; B]>();
    let mut g_first = zeroed_box::<FirstGrads>();
    s.first.backward(
        &s.x_first,
        &y_first,
        &(),
        &s.dy_first,
        Some(&mut dx_first),
        Some(&mut g_first),
    );

    let mut y_last = zeroed_box::<[Last<OC>; B]>();
    s.last.forward(&s.x_last, &mut y_last);
    let mut dx_last = zeroed_box::<[Last<C>; B]>();
    let mut g_last = Box::new(LastGrads {
        weight: [[[[0.0; OC]; C]; K]; K],
        bias: [0.0; OC],
    });
    s.last
        .backward(&s.x_last, &s.dy_last, &mut dx_last, &mut g_last);

    let mut y_want = zeroed_box::<[Last<OC>; B]>();
    to_last(&y_first, &mut y_want);
    assert_close("y", flat(&y_want), flat(&y_last));
    let mut dx_want = zeroed_box::<[Last<C>; B]>();
    to_last(&dx_first, &mut dx_want);
    assert_close("dx", flat(&dx_want), flat(&dx_last));
    let dw_want = weight_to_last(&g_first.weight);
    let flat_w =
        |w: &[[[[f32; OC]; C]; K]; K]| w.as_flattened().as_flattened().as_flattened().to_vec();
    assert_close("dw", &flat_w(&dw_want), &flat_w(&g_last.weight));
    assert_close("db", &g_first.bias, &g_last.bias);
}

fn conv_layout(c: &mut Criterion) {
    let s = setup();
    check_agreement(&s);
    let Setup {
        first,
        last,
        x_first,
        dy_first,
        x_last,
        dy_last,
    } = s;

    let mut y_first = zeroed_box::<[First<OC>; B]>();
    let mut dx_first = zeroed_box::<[First<C>; B]>();
    let mut g_first = zeroed_box::<FirstGrads>();
    let mut y_last = zeroed_box::<[Last<OC>; B]>();
    let mut dx_last = zeroed_box::<[Last<C>; B]>();
    let mut g_last = Box::new(LastGrads {
        weight: [[[[0.0; OC]; C]; K]; K],
        bias: [0.0; OC],
    });

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
            layer.backward(
                x,
                &y_first,
                &(),
                dy,
                Some(&mut dx_first),
                Some(&mut g_first),
            );
            black_box((&mut *y_first, &mut *dx_first, &mut *g_first));
        })
    });
    group.bench_function("channels-last forward+backward", |b| {
        b.iter(|| {
            let layer = black_box(&*last);
            let x = black_box(&*x_last);
            layer.forward(x, &mut y_last);
            g_last.weight = [[[[0.0; OC]; C]; K]; K];
            g_last.bias = [0.0; OC];
            let dy = black_box(&*dy_last);
            layer.backward(x, dy, &mut dx_last, &mut g_last);
            black_box((&mut *y_last, &mut *dx_last, &mut *g_last));
        })
    });
    group.finish();
}

criterion_group!(benches, conv_layout);
criterion_main!(benches);
