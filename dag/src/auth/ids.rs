//! Identifier checks the rules need, over [`crate::ids`], which holds the grammar shared by every
//! place an event enters.

pub use crate::ids::server_name_of;
use crate::ids::validate_user_id;

/// Whether `user_id` passes the validation applied to event senders; v12 asks exactly that of
/// `additional_creators`, and the power levels `users` keys must be valid user IDs too.
pub fn is_valid_user_id(user_id: &str) -> bool {
    validate_user_id(user_id).is_ok()
}

/// The server of a valid user ID.
pub fn user_server_name(user_id: &str) -> Option<&str> {
    if is_valid_user_id(user_id) {
        server_name_of(user_id)
    } else {
        None
    }
}
