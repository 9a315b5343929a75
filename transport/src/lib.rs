//! transport crate
