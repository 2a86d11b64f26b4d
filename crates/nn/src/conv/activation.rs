//! `Activation2d` and `Activation1d`: an elementwise [`ActivationFn`] over a channels-last
//! feature map (`[[[T; C]; W]; H]` or `[[T; C]; L]`), so that `relu` and the others can follow a convolution without flattening.
//! The same function and derivative as the flat [`Activation`](crate::Activation).

use crate::activation::ActivationFn;
use crate::layer::{Backward, Forward, Param, Trainable};
use bytemuck::Zeroable;
use core::marker::PhantomData;
use gradflow_tensor::{elementwise, Scalar};

/// `F` applied to each element of `C` channels of `H x W`.
#[derive(Zeroable)]
#[zeroable(bound = "")]
pub struct Activation2d<T, F, const C: usize, const H: usize, const W: usize> {
    marker: PhantomData<(T, F)>,
}

/// `F` applied to each element of `C` channels of length `L`.
#[derive(Zeroable)]
#[zeroable(bound = "")]
pub struct Activation1d<T, F, const C: usize, const L: usize> {
    marker: PhantomData<(T, F)>,
}

/// `y = f(x)` over two equally long slices, by the same loops as the flat activation's (with
/// their AVX2 copy, which plain loops here did not get: 3.5% of a W6 step at SSE width).
fn apply<T: Scalar, F: ActivationFn>(x: &[T], y: &mut [T]) {
    elementwise::map_slice(x, y, F::apply);
}

/// `dx = dy * f'(x)` over equally long slices.
fn apply_backward<T: Scalar, F: ActivationFn>(x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
    elementwise::map_backward_slice(x, y, dy, dx, F::derivative);
}

/// `Default`, `Clone`, `PartialEq` (always equal: no values), `Debug` (no bounds on `T` or
/// `F`, so that a network deriving them has them for every layer), `Trainable` with no parameters,
/// and `Forward`/`Backward` over the flattened elements, for one of the two layers.
macro_rules! elementwise_layer {
    ($name:ident < $($c:ident),* >, $shape:ty, $flat:ident, $flat_mut:ident) => {
        impl<T, F, $(const $c: usize),*> Default for $name<T, F, $($c),*> {
            fn default() -> Self {
                Self { marker: PhantomData }
            }
        }

        impl<T, F, $(const $c: usize),*> Clone for $name<T, F, $($c),*> {
            fn clone(&self) -> Self {
                Self::default()
            }
        }

        impl<T, F, $(const $c: usize),*> PartialEq for $name<T, F, $($c),*> {
            fn eq(&self, _: &Self) -> bool {
                true
            }
        }

        impl<T, F: ActivationFn, $(const $c: usize),*> core::fmt::Debug for $name<T, F, $($c),*> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}<{:?}>", F::NAME, [$($c),*])
            }
        }

        impl<T: Scalar, F: ActivationFn, $(const $c: usize),*> Forward<T> for $name<T, F, $($c),*> {
            type Input = $shape;
            type Output = $shape;
            type Cache<const B: usize> = ();
            const KIND: &'static str = F::NAME;

            fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]) {
                apply::<T, F>($flat(x), $flat_mut(y));
            }

            fn forward_train<const B: usize>(
                &mut self,
                x: &[Self::Input; B],
                y: &mut [Self::Output; B],
                _: &mut (),
            ) {
                self.forward(x, y);
            }
        }

        impl<T: Scalar, F: ActivationFn, $(const $c: usize),*> Trainable<T> for $name<T, F, $($c),*> {
            type Grads = ();

            fn visit_params<const S: usize>(
                &mut self,
                _: &(),
                _: [&mut (); S],
                _: &mut dyn FnMut(Param<'_, T, S>),
            ) {
            }
        }

        impl<T: Scalar, F: ActivationFn, $(const $c: usize),*> Backward<T> for $name<T, F, $($c),*> {
            fn backward<const B: usize>(
                &self,
                x: &[Self::Input; B],
                y: &[Self::Output; B],
                _: &(),
                dy: &[Self::Output; B],
                dx: Option<&mut [Self::Input; B]>,
                _: Option<&mut ()>,
            ) {
                if let Some(dx) = dx {
                    apply_backward::<T, F>($flat(x), $flat(y), $flat(dy), $flat_mut(dx));
                }
            }
        }
    };
}

fn flat2<T, const C: usize, const H: usize, const W: usize, const B: usize>(
    x: &[[[[T; C]; W]; H]; B],
) -> &[T] {
    x.as_flattened().as_flattened().as_flattened()
}

fn flat2_mut<T, const C: usize, const H: usize, const W: usize, const B: usize>(
    x: &mut [[[[T; C]; W]; H]; B],
) -> &mut [T] {
    x.as_flattened_mut().as_flattened_mut().as_flattened_mut()
}

fn flat1<T, const C: usize, const L: usize, const B: usize>(x: &[[[T; C]; L]; B]) -> &[T] {
    x.as_flattened().as_flattened()
}

fn flat1_mut<T, const C: usize, const L: usize, const B: usize>(
    x: &mut [[[T; C]; L]; B],
) -> &mut [T] {
    x.as_flattened_mut().as_flattened_mut()
}

elementwise_layer!(Activation2d<C, H, W>, [[[T; C]; W]; H], flat2, flat2_mut);
elementwise_layer!(Activation1d<C, L>, [[T; C]; L], flat1, flat1_mut);

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::activation::{GeluFn, ReluFn, SigmoidFn, TanhFn};
    use crate::conv::tests::distinct;
    use crate::gradcheck::check_layer;

    #[test]
    fn applies_the_function_to_every_element() {
        let x = [[[[-1.0, 2.0], [3.0, -4.0]]]];
        let mut y = [[[[0.0; 2]; 2]; 1]; 1];
        Activation2d::<f64, ReluFn, 2, 1, 2>::default().forward(&x, &mut y);
        assert_eq!(y, [[[[0.0, 2.0], [3.0, 0.0]]]]);
        let mut y = [[[0.0; 2]; 1]; 1];
        Activation1d::<f64, ReluFn, 2, 1>::default().forward(&[[[-1.0, 5.0]]], &mut y);
        assert_eq!(y, [[[0.0, 5.0]]]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Shifted off 0, where ReLU has its kink.
        let mut x: [[[[f64; 2]; 4]; 3]; 2] = distinct();
        x.as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
            .iter_mut()
            .for_each(|v| *v += 0.01);
        let report = check_layer(&mut Activation2d::<f64, ReluFn, 2, 3, 4>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let report = check_layer(&mut Activation2d::<f64, TanhFn, 2, 3, 4>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let x: [[[f64; 3]; 5]; 2] = distinct();
        let report = check_layer(&mut Activation1d::<f64, SigmoidFn, 3, 5>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
        let report = check_layer(&mut Activation1d::<f64, GeluFn, 3, 5>::default(), &x);
        assert!(report.passes(1e-6), "{report:?}");
    }
}
