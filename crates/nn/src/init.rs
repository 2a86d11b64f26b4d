//! Weight initializers: the good ones (He, Xavier/Glorot, LeCun) and the poor ones the
//! literature uses to show vanishing gradients (`SmallNormal`, `UnitNormal`, `StandardUniform`).
//!
//! Each scales the spread of a layer's weights by its fan-in (inputs) and fan-out (outputs):
//! - He (He et al. 2015): variance `2 / fan_in`, which keeps the forward signal's variance
//!   constant through ReLU layers (ReLU zeroes half of it).
//! - Xavier/Glorot (Glorot and Bengio 2010): variance `2 / (fan_in + fan_out)`, a compromise
//!   that keeps both forward and backward variance level for symmetric activations (tanh).
//! - LeCun: variance `1 / fan_in`, the SELU/tanh classic.
//! - `StandardUniform`: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, the "standard" initialization
//!   Glorot and Bengio measured against (variance `1 / (3 fan_in)`).

use gradflow_tensor::Scalar;
use rand::{Rng, RngCore};
use rand_distr::{Distribution, Normal, StandardNormal, Uniform};

/// How a layer's weights are drawn. Biases always start at zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// `N(0, 2 / fan_in)`: the cure for ReLU networks (`he_init` in `network!`).
    HeNormal,
    /// `U(-sqrt(6 / fan_in), sqrt(6 / fan_in))`: He's variance, uniform.
    HeUniform,
    /// `N(0, 2 / (fan_in + fan_out))`.
    XavierNormal,
    /// `U(-sqrt(6 / (fan_in + fan_out)), ..)`: the default, as in Keras (`xavier_init`).
    XavierUniform,
    /// `N(0, 1 / fan_in)`.
    LecunNormal,
    /// `U(-1 / sqrt(fan_in), 1 / sqrt(fan_in))`: the "standard" initialization of Glorot and
    /// Bengio 2010, under which sigmoid networks saturate.
    StandardUniform,
    /// All zeros: every unit computes the same function (symmetry is never broken).
    Zeros,
    /// `N(0, 0.01^2)`: too small for depth; signals and gradients shrink layer by layer.
    SmallNormal,
    /// `N(0, 1)`: too large for wide layers; sigmoid and tanh units saturate.
    UnitNormal,
}

impl Init {
    /// The standard deviation of the weights this initializer draws.
    pub fn std(self, fan_in: usize, fan_out: usize) -> f64 {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        match self {
            Init::HeNormal | Init::HeUniform => libm::sqrt(2.0 / fi),
            Init::XavierNormal | Init::XavierUniform => libm::sqrt(2.0 / (fi + fo)),
            Init::LecunNormal => libm::sqrt(1.0 / fi),
            Init::StandardUniform => libm::sqrt(1.0 / (3.0 * fi)),
            Init::Zeros => 0.0,
            Init::SmallNormal => 0.01,
            Init::UnitNormal => 1.0,
        }
    }

    /// Fills `weights` (a layer with `fan_in` inputs and `fan_out` outputs) from `rng`.
    pub fn fill<T: Scalar>(
        self,
        weights: &mut [T],
        fan_in: usize,
        fan_out: usize,
        rng: &mut dyn RngCore,
    ) {
        let std = self.std(fan_in, fan_out);
        match self {
            Init::Zeros => weights.fill(T::ZERO),
            Init::HeUniform | Init::XavierUniform | Init::StandardUniform => {
                // A uniform on [-a, a] has standard deviation a / sqrt(3).
                let a = std * libm::sqrt(3.0);
                match Uniform::new_inclusive(-a, a) {
                    Ok(dist) => fill_from(weights, &dist, rng),
                    Err(_) => weights.fill(T::ZERO),
                }
            }
            _ => match Normal::new(0.0, std) {
                Ok(dist) => fill_from(weights, &dist, rng),
                Err(_) => fill_from(weights, &StandardNormal, rng),
            },
        }
    }
}

fn fill_from<T: Scalar>(weights: &mut [T], dist: &impl Distribution<f64>, rng: &mut dyn RngCore) {
    for w in weights {
        *w = T::from_f64(rng.sample(dist));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn moments(init: Init, fan_in: usize, fan_out: usize) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut w = [0.0f64; 20_000];
        init.fill(&mut w, fan_in, fan_out, &mut rng);
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        let var = w.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / w.len() as f64;
        (mean, libm::sqrt(var))
    }

    #[test]
    fn every_initializer_draws_its_documented_spread() {
        for init in [
            Init::HeNormal,
            Init::HeUniform,
            Init::XavierNormal,
            Init::XavierUniform,
            Init::LecunNormal,
            Init::StandardUniform,
            Init::SmallNormal,
            Init::UnitNormal,
        ] {
            let (mean, std) = moments(init, 100, 50);
            let expected = init.std(100, 50);
            assert!(mean.abs() < 0.05 * expected + 1e-3, "{init:?} mean {mean}");
            assert!(
                (std / expected - 1.0).abs() < 0.03,
                "{init:?} std {std} vs {expected}"
            );
        }
        assert_eq!(moments(Init::Zeros, 10, 10), (0.0, 0.0));
    }

    #[test]
    fn he_is_sqrt_two_over_fan_in() {
        assert!((Init::HeNormal.std(50, 7) - 0.2).abs() < 1e-12);
        assert!((Init::XavierNormal.std(30, 70) - 0.1414213562373095).abs() < 1e-12);
    }

    #[test]
    fn same_seed_same_weights() {
        let draw = || {
            let mut rng = ChaCha8Rng::seed_from_u64(42);
            let mut w = [0.0f32; 16];
            Init::HeNormal.fill(&mut w, 4, 4, &mut rng);
            w
        };
        assert_eq!(draw(), draw());
    }
}
