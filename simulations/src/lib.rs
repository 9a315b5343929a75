//! simulations crate
