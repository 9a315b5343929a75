//! node crate
