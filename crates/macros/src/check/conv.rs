//! Feature-map layers: convolution (`conv1d`, `conv2d`), pooling (`maxpool`, `avgpool`),
//! and the steps from a feature map back to a vector (`flatten`, `global_avg_pool`). Output
//! sizes follow PyTorch, and a pooling window that would drop rows or columns is an error.

use super::{is_flat, positive, Checker, Prev};
use crate::ast::{Conv, Item, Padding, Pool};
use crate::attr;
use crate::ctxt::Ctxt;
use crate::model::{LayerKind, Shape};
use quote::format_ident;
use syn::Ident;

impl Checker {
    /// `conv2d OC kK sS same [attrs]` or `conv1d ...`: the layer, then its batchnorm and
    /// activation.
    pub(super) fn conv(&mut self, item: &Item, conv: &Conv, first_visit: bool, real_cx: &mut Ctxt) {
        let mut scratch = Ctxt::new();
        let cx = if first_visit {
            &mut *real_cx
        } else {
            &mut scratch
        };
        let keyword = conv.keyword.to_string();
        self.last_span = conv.keyword.span();
        let attrs = attr::conv_attrs(&conv.attrs, &format!("a {keyword} layer"), cx);
        let channels = positive(cx, &conv.channels, "a convolution needs at least 1 channel");
        let kernel = positive(cx, &conv.kernel, "the kernel size must be at least 1");
        let stride = match &conv.stride {
            Some(stride) => positive(cx, stride, "the stride must be at least 1"),
            None => Some(1),
        };
        let padding = match (conv.padding, kernel) {
            (Some((Padding::Same, span)), Some(k)) => {
                if k % 2 == 0 {
                    cx.error(
                        span,
                        format!(
                            "`same` padding needs an odd kernel: a {k}x{k} kernel cannot be \
                             centred on its input; use k{} or k{}, or `valid`",
                            k - 1,
                            k + 1
                        ),
                    );
                }
                k / 2
            }
            _ => 0,
        };
        let input = self.prev.as_ref().map(|p| p.shape);
        let mut output = None;
        match input {
            None => {}
            Some(shape @ (Shape::Image { .. } | Shape::Seq { .. }))
                if shape.depth() == conv.dims + 1 =>
            {
                if let (Some(oc), Some(k), Some(s)) = (channels, kernel, stride) {
                    let fits = |n: usize| output_len(n, k, s, padding);
                    output = match shape {
                        Shape::Image { h, w, .. } => {
                            fits(h).zip(fits(w)).map(|(oh, ow)| Shape::Image {
                                c: oc,
                                h: oh,
                                w: ow,
                            })
                        }
                        Shape::Seq { l, .. } => fits(l).map(|ol| Shape::Seq { c: oc, l: ol }),
                        Shape::Flat(_) => None,
                    };
                    if output.is_none() {
                        let message = format!(
                            "{keyword} kernel {k} is larger than its input {} (padding {padding})",
                            spatial(shape)
                        );
                        self.shape_error(item, real_cx, conv.kernel.span, message);
                    }
                }
            }
            Some(shape) => {
                let (needs, hint) = if conv.dims == 2 {
                    ("an image input [H, W, C]", "; use `conv1d` on a sequence")
                } else {
                    ("a sequence input [L, C]", "; use `conv2d` on an image")
                };
                let hint = if is_flat(shape) { "" } else { hint };
                let before = self.prev.as_ref().map(Prev::before).unwrap_or_default();
                let message = format!("{keyword} needs {needs}; {before}{hint}");
                self.shape_error(item, real_cx, conv.keyword.span(), message);
            }
        }
        let index = self.take_index();
        let description = format!("{keyword} {}", conv.channels.value);
        self.push(
            format_ident!("{}_{}", keyword, index),
            index,
            output,
            attrs.frozen,
            LayerKind::Conv {
                init: attrs.init,
                kernel: kernel.unwrap_or(1),
                stride: stride.unwrap_or(1),
                padding,
            },
            description.clone(),
        );
        self.attached(&attrs, index, &description);
    }

    /// `maxpool K` / `avgpool kK sS` over an image or a sequence.
    pub(super) fn pool(&mut self, item: &Item, pool: &Pool, real_cx: &mut Ctxt) {
        self.last_span = pool.keyword.span();
        let keyword = pool.keyword.to_string();
        let kernel = pool.kernel.value;
        let stride = pool.stride.map_or(kernel, |s| s.value);
        let written = match pool.stride {
            Some(s) => format!("{keyword} k{kernel} s{}", s.value),
            None => format!("{keyword} {kernel}"),
        };
        let mut output = None;
        if kernel == 0 || stride == 0 {
            let span = if kernel == 0 {
                pool.kernel.span
            } else {
                pool.stride.map_or(pool.kernel.span, |s| s.span)
            };
            self.shape_error(
                item,
                real_cx,
                span,
                "a pooling window and its stride must be at least 1".to_string(),
            );
        } else if stride > kernel {
            let skipped = stride - kernel;
            let unit = if skipped == 1 { "element" } else { "elements" };
            let message = format!(
                "{written}: a stride of {stride} after a window of {kernel} skips {skipped} {unit} \
                 between windows, which no output would read; use a stride of at most {kernel}"
            );
            let span = pool.stride.map_or(pool.kernel.span, |s| s.span);
            self.shape_error(item, real_cx, span, message);
        } else if let Some(prev) = &self.prev {
            let shape = prev.shape;
            let lens = match shape {
                Shape::Image { h, w, .. } => vec![h, w],
                Shape::Seq { l, .. } => vec![l],
                Shape::Flat(_) => Vec::new(),
            };
            if lens.is_empty() {
                let message = format!(
                    "`{keyword}` needs an image or a sequence; {}",
                    prev.before()
                );
                self.shape_error(item, real_cx, pool.keyword.span(), message);
            } else if lens.iter().any(|&n| n < kernel) {
                let message = format!(
                    "{keyword} kernel {kernel} is larger than its input {}",
                    spatial(shape)
                );
                self.shape_error(item, real_cx, pool.kernel.span, message);
            } else {
                let dropped: Vec<usize> = lens.iter().map(|&n| (n - kernel) % stride).collect();
                if dropped.iter().any(|&d| d > 0) {
                    let what = dropped_description(&dropped);
                    let fix = if kernel == stride {
                        format!("use an input divisible by {kernel}")
                    } else {
                        format!("use an input whose size minus {kernel} is divisible by {stride}")
                    };
                    let on = match shape {
                        Shape::Image { h, w, .. } => {
                            let h = h.to_string();
                            let article = match h.as_str() {
                                "8" | "11" | "18" => "an",
                                _ if h.starts_with('8') => "an",
                                _ => "a",
                            };
                            format!("{article} {h}x{w} input")
                        }
                        _ => format!("an input {}", spatial(shape)),
                    };
                    let message = format!("{written} on {on} drops {what}; {fix}");
                    self.shape_error(item, real_cx, pool.kernel.span, message);
                }
                let out = |n: usize| (n - kernel) / stride + 1;
                output = Some(match shape {
                    Shape::Image { c, h, w } => Shape::Image {
                        c,
                        h: out(h),
                        w: out(w),
                    },
                    Shape::Seq { c, l } => Shape::Seq { c, l: out(l) },
                    Shape::Flat(n) => Shape::Flat(n),
                });
            }
        }
        let index = self.take_index();
        self.push(
            format_ident!("{}_{}", keyword, index),
            index,
            output,
            false,
            LayerKind::Pool {
                max: pool.max,
                kernel: kernel.max(1),
                stride: stride.max(1),
            },
            written,
        );
    }

    /// `flatten` or `global_avg_pool`: a feature map to a vector, all its elements or the
    /// mean of each channel.
    pub(super) fn flatten_or_global_avg_pool(
        &mut self,
        item: &Item,
        keyword: &Ident,
        real_cx: &mut Ctxt,
    ) {
        self.last_span = keyword.span();
        let flatten = matches!(item, Item::Flatten(_));
        let name = if flatten {
            "flatten"
        } else {
            "global_avg_pool"
        };
        let input = self.prev.as_ref().map(|p| p.shape);
        let output = match input {
            Some(Shape::Flat(_)) => {
                let message = format!(
                    "`{name}` needs an image or a sequence; {} (already flat)",
                    self.prev.as_ref().map(Prev::before).unwrap_or_default()
                );
                self.shape_error(item, real_cx, keyword.span(), message);
                None
            }
            Some(shape) if flatten => Some(Shape::Flat(shape.elements())),
            Some(shape) => Some(Shape::Flat(shape.channels())),
            None => None,
        };
        let index = self.take_index();
        let kind = if flatten {
            LayerKind::Flatten
        } else {
            LayerKind::GlobalAvgPool
        };
        self.push(
            format_ident!("{}_{}", name, index),
            index,
            output,
            false,
            kind,
            name.to_string(),
        );
        if let (true, Some(prev), Some(from)) = (flatten, self.prev.as_mut(), input) {
            prev.flattened = Some(from);
        }
    }
}

/// A feature map's spatial size in messages: `8x8`, or `of length 12`.
fn spatial(shape: Shape) -> String {
    match shape {
        Shape::Image { h, w, .. } => format!("{h}x{w}"),
        Shape::Seq { l, .. } => format!("of length {l}"),
        Shape::Flat(n) => format!("of width {n}"),
    }
}

/// `(in + 2p - k) / s + 1`, as PyTorch; `None` when the kernel does not fit.
fn output_len(input: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    // Checked: `same` padding of a kernel near usize::MAX would overflow the padded length.
    let padded = padding.checked_mul(2)?.checked_add(input)?;
    (kernel <= padded && stride > 0).then(|| (padded - kernel) / stride + 1)
}

/// "the last row", "the last 2 columns", "the last row and column", for the elements along
/// each axis (rows, columns; or positions of a sequence) that no window reads.
fn dropped_description(dropped: &[usize]) -> String {
    let names: &[(&str, &str)] = if dropped.len() == 2 {
        &[("row", "rows"), ("column", "columns")]
    } else {
        &[("position", "positions")]
    };
    let parts: Vec<String> = dropped
        .iter()
        .zip(names)
        .filter(|(&d, _)| d > 0)
        .map(|(&d, (one, many))| {
            if d == 1 {
                one.to_string()
            } else {
                format!("{d} {many}")
            }
        })
        .collect();
    format!("the last {}", parts.join(" and "))
}
