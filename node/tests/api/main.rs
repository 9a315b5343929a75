//! Client-Server API tests: the router is driven in-process against a store in a temporary
//! directory, one fresh node per test.

mod account;
mod aliases;
mod cross_signing;
mod discovery;
mod e2ee;
mod key_backup;
mod lazy_members;
mod media;
mod presence;
mod prev_content;
mod push_rules;
mod register;
mod rooms;
mod session;
mod support;
mod sync;
