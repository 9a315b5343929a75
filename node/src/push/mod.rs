//! Push rules (the Client-Server API's push notifications module): each user's ruleset and
//! the evaluation that decides whether an event notifies or highlights them. A node serves
//! crews without internet, so nothing is sent to push gateways; the rules drive the unread
//! counts of `/sync`.
//!
//! The ruleset is stored as the user's `m.push_rules` account data, so that `/sync` delivers
//! every change to the user's clients, as the spec asks.

mod defaults;
mod evaluate;
mod ruleset;

use rusqlite::Connection;
use serde_json::{Value, json};

pub use evaluate::{CompiledRuleset, Outcome, RoomFacts};
pub use ruleset::{NewRule, Placement, PushRule, RuleEditError, RuleKind, Ruleset};

use crate::store::StoreError;
use crate::store::client_data::{get_account_data, put_account_data};

/// The account data type that holds a user's ruleset.
pub const ACCOUNT_DATA_TYPE: &str = "m.push_rules";

/// The user's ruleset: the defaults with what the user changed.
pub fn load(connection: &Connection, user_id: &str) -> Result<Ruleset, StoreError> {
    let saved = get_account_data(connection, user_id, None, ACCOUNT_DATA_TYPE)?
        .and_then(|json| serde_json::from_str::<Value>(&json).ok());
    Ok(Ruleset::for_user(user_id, saved.as_ref()))
}

/// Saves the ruleset, which also puts it in the user's next `/sync`.
pub fn save(connection: &Connection, user_id: &str, ruleset: &Ruleset) -> Result<(), StoreError> {
    let content = account_data_content(ruleset).to_string();
    put_account_data(connection, user_id, None, ACCOUNT_DATA_TYPE, &content)?;
    Ok(())
}

/// The content of an `m.push_rules` event.
pub fn account_data_content(ruleset: &Ruleset) -> Value {
    json!({ "global": ruleset })
}
