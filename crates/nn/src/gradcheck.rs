//! Finite-difference gradient checks for whole layers and whole networks, in f64.
//!
//! Both use the loss `L = sum(y * r)` with fixed pseudo-random `r`, so that `dL/dy = r`
//! exercises every output, and compare the backward pass with central differences of the
//! training-mode forward pass, for the input and for every trainable parameter.

use crate::layer::{Backward, Trainable};
use crate::network::TrainableNetwork;
use bytemuck::Pod;
use gradflow_tensor::gradcheck::{check_gradient, test_values, GradCheck};
use std::string::String;
use std::vec::Vec;

/// The outcome of checking a layer or network: its input gradient and each trainable tensor's
/// gradient, each checked on its own scale.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCheck {
    /// Check of `dL/dx`.
    pub input: GradCheck,
    /// `("layer.tensor", check)` for every trainable tensor, in visiting order.
    pub params: Vec<(String, GradCheck)>,
    /// Whether a second backward pass on the same cache gave the same gradients. A layer
    /// whose `backward` adds into `dx` (which holds the previous step's values) instead of
    /// overwriting it, or leaves part of it unwritten, fails this or the checks above.
    pub repeatable: bool,
    /// What [`check_params_layout`](crate::check_params_layout) found, if anything: a
    /// trainable tensor that `visit_params` leaves out is neither trained nor checked here,
    /// so its absence from `params` fails the check instead of passing unseen.
    pub layout: Option<crate::LayoutError>,
}

impl ModelCheck {
    /// Whether the input gradient and every tensor's gradient agree to within `tolerance`,
    /// and at least one of them is large enough to say more than "consistent with zero".
    pub fn passes(&self, tolerance: f64) -> bool {
        let all = core::iter::once(&self.input).chain(self.params.iter().map(|(_, p)| p));
        self.repeatable
            && self.layout.is_none()
            && self.input.passes(tolerance)
            && self.params.iter().all(|(_, p)| p.passes(tolerance))
            && all.clone().any(|c| c.is_informative())
    }

    /// The tensor with the largest relative error, if there are tensors.
    pub fn worst_param(&self) -> Option<&(String, GradCheck)> {
        self.params
            .iter()
            .max_by(|a, b| a.1.max_rel_error.total_cmp(&b.1.max_rel_error))
    }
}

fn weights<O: Pod, const B: usize>() -> Vec<f64> {
    let n = B * core::mem::size_of::<O>() / core::mem::size_of::<f64>();
    (0..n)
        .map(|i| test_values::<1>(1000 + i as u64)[0])
        .collect()
}

fn dot(y: &[f64], r: &[f64]) -> f64 {
    y.iter().zip(r).map(|(y, r)| y * r).sum()
}

/// Adds `delta` to element `index` of the model's trainable parameters, flattened in visiting
/// order.
fn nudge<M: Trainable<f64>>(model: &mut M, grads: &M::Grads, index: usize, delta: f64) {
    let mut offset = 0;
    model.visit_params::<0>(grads, [], &mut |p| {
        if (offset..offset + p.value.len()).contains(&index) {
            p.value[index - offset] += delta;
        }
        offset += p.value.len();
    });
}

/// `(name, offset, gradient)` of every trainable tensor, offsets counted in visiting order.
fn tensor_grads<M: Trainable<f64>>(
    model: &mut M,
    grads: &M::Grads,
) -> Vec<(String, usize, Vec<f64>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    model.visit_params::<0>(grads, [], &mut |p| {
        out.push((
            std::format!("{}.{}", p.layer, p.name),
            offset,
            p.grad.to_vec(),
        ));
        offset += p.grad.len();
    });
    out
}

/// The shared procedure: `loss(model, x)` runs the training-mode forward pass and returns
/// `sum(y * r)`; `dx` and `grads` are the analytic gradients for the unperturbed input.
fn check_model<M: Trainable<f64>>(
    model: &mut M,
    x: &[f64],
    dx: &[f64],
    grads: &M::Grads,
    mut loss: impl FnMut(&mut M, &[f64]) -> f64,
) -> ModelCheck {
    let mut xs = x.to_vec();
    let input = check_gradient(dx, |i, d| {
        xs[i] += d;
        let l = loss(model, &xs);
        xs[i] -= d;
        l
    });
    let params = tensor_grads(model, grads)
        .into_iter()
        .map(|(name, offset, analytic)| {
            let check = check_gradient(&analytic, |i, d| {
                nudge(model, grads, offset + i, d);
                let l = loss(model, x);
                nudge(model, grads, offset + i, -d);
                l
            });
            (name, check)
        })
        .collect();
    ModelCheck {
        input,
        params,
        repeatable: true,
        layout: None,
    }
}

/// Whether two runs of a backward pass agree (to 1e-12 of the largest magnitude, so that a
/// sum split differently cannot fail it, while a doubled or missing term does); a NaN, such
/// as the sentinel left in an unwritten `dx`, never agrees.
fn same(a: &[f64], b: &[f64]) -> bool {
    let scale = a.iter().chain(b).fold(0.0f64, |m, v| m.max(v.abs()));
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * scale)
}

/// The input gradient and every parameter gradient of one backward pass, flattened.
fn gradients<M: Trainable<f64>>(model: &mut M, dx: &[f64], grads: &M::Grads) -> Vec<f64> {
    let params = tensor_grads(model, grads)
        .into_iter()
        .flat_map(|(_, _, g)| g);
    dx.iter().copied().chain(params).collect()
}

/// Checks a layer's backward pass at input `x` against central differences.
///
/// `dx` is filled with NaN before each backward pass, which must overwrite every element
/// (a network hands a layer the buffer of the previous step); the pass runs twice, and must
/// give the same gradients both times. As for [`check_network`], `visit_params` must visit
/// the tensors `visit_tensors` marks trainable ([`ModelCheck::layout`]).
pub fn check_layer<L, const B: usize>(layer: &mut L, x: &[L::Input; B]) -> ModelCheck
where
    L: Backward<f64>,
    L::Input: Pod,
    L::Output: Pod,
{
    use crate::memory::zeroed_box;
    let r = weights::<L::Output, B>();
    // On the heap: a layer's cache can be far larger than a stack.
    let mut y = zeroed_box::<[L::Output; B]>();
    let mut cache = zeroed_box::<L::Cache<B>>();
    layer.forward_train(x, &mut y, &mut cache);
    let dy: &[L::Output; B] = bytemuck::from_bytes(bytemuck::cast_slice(&r));
    let mut dx = zeroed_box::<[L::Input; B]>();
    let mut grads = zeroed_box::<L::Grads>();
    let mut runs = Vec::new();
    for _ in 0..2 {
        bytemuck::cast_slice_mut::<L::Input, f64>(&mut dx[..]).fill(f64::NAN);
        crate::memory::zero_in_place(&mut *grads);
        layer.backward(x, &y, &cache, dy, Some(&mut dx), Some(&mut grads));
        runs.push(gradients(layer, bytemuck::cast_slice(&dx[..]), &grads));
    }
    let mut check = check_model(
        layer,
        bytemuck::cast_slice(x),
        bytemuck::cast_slice(&dx[..]),
        &grads,
        |l, xs| {
            let x: &[L::Input; B] = bytemuck::from_bytes(bytemuck::cast_slice(xs));
            let mut y = zeroed_box::<[L::Output; B]>();
            let mut cache = zeroed_box::<L::Cache<B>>();
            l.forward_train(x, &mut y, &mut cache);
            dot(bytemuck::cast_slice(&y[..]), &r)
        },
    );
    check.repeatable = same(&runs[0], &runs[1]);
    check.layout = crate::network::params_layout(layer, &grads, |l, f| l.visit_tensors(f)).err();
    check
}

/// Checks a whole network's backward pass at input `x` against central differences.
///
/// The backward pass runs twice on the same cache, with the gradients zeroed in between: the
/// first must match the differences, and the second must give the same gradients (a layer of
/// your own that adds into its `dx`, or leaves it, makes the second differ, or the first).
/// The parameters checked are those `visit_params` visits; the check fails
/// ([`ModelCheck::layout`]) unless they are the tensors `visit_tensors` marks trainable.
pub fn check_network<N, const B: usize>(net: &mut N, x: &[N::Input; B]) -> ModelCheck
where
    N: TrainableNetwork<f64>,
    N::Input: Pod,
    N::Output: Pod,
{
    use crate::memory::zeroed_box;
    let r = weights::<N::Output, B>();
    let mut cache = zeroed_box::<N::Cache<B>>();
    net.forward_train(x, &mut cache);
    let dy: &[N::Output; B] = bytemuck::from_bytes(bytemuck::cast_slice(&r));
    let mut dx = zeroed_box::<[N::Input; B]>();
    let mut grads = zeroed_box::<N::Grads>();
    let mut first = zeroed_box::<N::Grads>();
    let mut runs = Vec::new();
    for run in 0..2 {
        bytemuck::cast_slice_mut::<N::Input, f64>(&mut dx[..]).fill(f64::NAN);
        N::zero_grads(&mut grads);
        net.backward_into(&mut cache, dy, Some(&mut dx), &mut grads);
        runs.push(gradients(net, bytemuck::cast_slice(&dx[..]), &grads));
        if run == 0 {
            core::mem::swap(&mut first, &mut grads);
        }
    }
    // The first pass is the one checked: a fresh cache, as a training step's first.
    let first_dx: Vec<f64> =
        runs[0][..bytemuck::cast_slice::<N::Input, f64>(&dx[..]).len()].to_vec();
    let mut check = check_model(net, bytemuck::cast_slice(x), &first_dx, &first, |n, xs| {
        let x: &[N::Input; B] = bytemuck::from_bytes(bytemuck::cast_slice(xs));
        dot(bytemuck::cast_slice(n.forward_train(x, &mut cache)), &r)
    });
    check.repeatable = same(&runs[0], &runs[1]);
    check.layout = crate::network::check_params_layout(net, &grads).err();
    check
}
