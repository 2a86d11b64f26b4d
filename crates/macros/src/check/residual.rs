//! Residual blocks: the body is walked as ordinary items, then the add checks that the
//! block's input fits its body's output, directly or through a learned projection.

use super::{is_flat, Checker, Prev};
use crate::ast::{Item, Residual};
use crate::attr::{self, Activation};
use crate::ctxt::Ctxt;
use crate::model::{Layer, LayerKind, Shape, Source};
use quote::format_ident;

impl Checker {
    /// The body, then the add (`residual_k`, with the next index), then the activation.
    pub(super) fn residual(
        &mut self,
        item: &Item,
        block: &Residual,
        first_visit: bool,
        real_cx: &mut Ctxt,
    ) {
        let mut scratch = Ctxt::new();
        let cx = if first_visit {
            &mut *real_cx
        } else {
            &mut scratch
        };
        let options = attr::residual_options(&block.options, cx);
        if block.items.is_empty() {
            cx.error(
                block.keyword.span(),
                "a residual block needs at least one layer inside its braces, \
                 like `residual { dense 64 [relu], dense 64 }`",
            );
        }
        let (input, source) = (self.prev.as_ref().map(|p| p.shape), self.cursor);
        let first = self.layers.len();
        self.items(&block.items, real_cx);
        let index = self.take_index();
        self.last_span = block.keyword.span();
        if self.layers.len() == first {
            return; // An empty body, reported above.
        }
        let output = self.prev.as_ref().map(|p| p.shape);
        // A body that ends in a block whose mismatch was reported: the same mistake, which
        // this block would report again (the body's output is the inner block's).
        let body_reported = self.prev.as_ref().is_some_and(|p| p.reported);
        let identity = !options.project && !options.unknown;
        let mismatched = identity && input.is_some() && output.is_some() && input != output;
        let mut stride = 1;
        if let (Some(input), Some(output)) = (input, output) {
            let unit = if is_flat(input) { "width" } else { "shape" };
            if mismatched && !body_reported {
                let message = format!(
                    "the residual block at item {index} adds its input ({input}) to its body's output \
                     ({output}); use `residual(project) {{ .. }}` for a learned projection, \
                     or make the body end at {unit} {input}"
                );
                self.shape_error(item, real_cx, block.keyword.span(), message);
            }
            if options.project {
                match projection_stride(input, output) {
                    Ok(s) => stride = s,
                    Err(why) => {
                        let message = format!(
                            "the residual block at item {index} cannot project its input ({input}) onto \
                             its body's output ({output}): {why}"
                        );
                        self.shape_error(item, real_cx, block.keyword.span(), message);
                    }
                }
            }
        }
        let body = self.layers.len() - 1;
        self.spans.push(self.last_span);
        self.layers.push(Layer {
            field: format_ident!("residual_{}", index),
            index,
            inputs: input.unwrap_or(Shape::Flat(0)),
            outputs: output.unwrap_or(Shape::Flat(0)),
            frozen: false,
            kind: LayerKind::Residual {
                project: options.project,
                stride,
                first,
                body,
            },
            source,
        });
        self.cursor = Source::Layer(body + 1);
        let description = format!("residual block {index}");
        self.prev = output.map(|shape| Prev {
            shape,
            description: description.clone(),
            flattened: None,
            reported: mismatched,
        });
        // The parser only accepts a known activation name here.
        let activation = block.activation.as_ref();
        if let Some(activation) = activation.and_then(|a| Activation::from_name(&a.to_string())) {
            let description = format!("{description} {}", activation.name());
            self.activation(activation, index, description);
            // The activation keeps the shape, and with it the reported mistake.
            if let Some(prev) = self.prev.as_mut() {
                prev.reported = mismatched;
            }
        }
    }
}

/// The stride of the 1x1 convolution that maps `input` onto `output` (1 for a dense
/// projection), or why there is none.
fn projection_stride(input: Shape, output: Shape) -> Result<usize, String> {
    // A 1x1 convolution of stride `s` over `n` positions gives `(n - 1) / s + 1`, that is
    // `ceil(n / s)`: the positions a strided `same` convolution of the body is centred on.
    let stride = |sides: &[(usize, usize)]| {
        let longest = sides.iter().map(|&(n, _)| n).max().unwrap_or(1);
        (1..=longest.max(1)).find(|&s| sides.iter().all(|&(n, o)| n > 0 && (n - 1) / s + 1 == o))
    };
    match (input, output) {
        (Shape::Flat(_), Shape::Flat(_)) => Ok(1),
        (Shape::Image { h, w, .. }, Shape::Image { h: oh, w: ow, .. }) => {
            stride(&[(h, oh), (w, ow)]).ok_or_else(|| {
                format!(
                    "a 1x1 convolution of stride s gives ceil(n / s) positions, and no stride \
                     takes {h}x{w} to {oh}x{ow}"
                )
            })
        }
        (Shape::Seq { l, .. }, Shape::Seq { l: ol, .. }) => stride(&[(l, ol)]).ok_or_else(|| {
            format!(
                "a 1x1 convolution of stride s gives ceil(n / s) positions, and no stride \
                 takes length {l} to {ol}"
            )
        }),
        _ => Err(
            "a projection maps a feature map to a feature map of the same kind, or a \
                  vector to a vector"
                .to_string(),
        ),
    }
}
