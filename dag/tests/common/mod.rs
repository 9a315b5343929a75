//! Helpers shared by the state resolution test binaries and the benchmark; each uses a part, so
//! the rest would be reported unused in that binary.
#![allow(dead_code)]

pub mod fixtures;
pub mod generate;
pub mod ruma_oracle;
