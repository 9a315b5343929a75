//! Tests of the authorization rules, one module per rule group, on a small in-memory room.

mod create;
mod join;
mod membership;
mod power_levels;
mod room;
mod selection;
mod sending;
mod support;
mod third_party;
