//! Baseline vs follow-up: registration, matched hairs and capillaries,
//! changes with confidence intervals, change maps.

mod fft;
pub mod registration;

pub use registration::{register, Registration, RegistrationParams, Similarity};
