//! A user's push ruleset and the edits the push rules API makes to it.
//!
//! What is stored is the whole ruleset as the user last saw it. Reading it back rebuilds it
//! from the server-default rules of this version of the node, keeping only what the user
//! chose: their own rules and the `enabled` and `actions` of each default rule. A node that
//! gains a predefined rule thus offers it to users who saved their rules before.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::defaults;

/// The kinds of rule, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Override,
    Content,
    Room,
    Sender,
    Underride,
}

impl RuleKind {
    pub const ALL: [RuleKind; 5] = [
        RuleKind::Override,
        RuleKind::Content,
        RuleKind::Room,
        RuleKind::Sender,
        RuleKind::Underride,
    ];

    pub fn parse(name: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            RuleKind::Override => "override",
            RuleKind::Content => "content",
            RuleKind::Room => "room",
            RuleKind::Sender => "sender",
            RuleKind::Underride => "underride",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRule {
    pub rule_id: String,
    #[serde(default)]
    pub default: bool,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub actions: Vec<Value>,
    /// Conditions are kept as JSON: one this node does not know must survive a save (and
    /// never matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ruleset {
    #[serde(rename = "override", default)]
    pub override_rules: Vec<PushRule>,
    #[serde(default)]
    pub content: Vec<PushRule>,
    #[serde(default)]
    pub room: Vec<PushRule>,
    #[serde(default)]
    pub sender: Vec<PushRule>,
    #[serde(default)]
    pub underride: Vec<PushRule>,
}

/// A rule as a client defines it with `PUT /pushrules/global/{kind}/{ruleId}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewRule {
    pub actions: Vec<Value>,
    #[serde(default)]
    pub conditions: Option<Vec<Value>>,
    #[serde(default)]
    pub pattern: Option<String>,
}

/// Where a new or moved rule goes, relative to another user-defined rule of its kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement<'a> {
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RuleEditError {
    #[error("the push rule was not found")]
    NotFound,
    #[error("before/after rule not found: {0}")]
    AnchorNotFound(String),
    #[error("server-default push rules cannot be deleted")]
    ServerDefault,
    #[error("{0}")]
    Invalid(String),
    #[error("missing field {0:?}")]
    Missing(&'static str),
}

impl Ruleset {
    /// The user's ruleset: the server defaults with the changes saved in `saved`, the content
    /// of the user's `m.push_rules` account data.
    pub fn for_user(user_id: &str, saved: Option<&Value>) -> Ruleset {
        let mut ruleset = defaults::ruleset(user_id);
        let Some(saved) = saved
            .and_then(|content| content.get("global"))
            .and_then(|global| Ruleset::deserialize(global).ok())
        else {
            return ruleset;
        };
        for kind in RuleKind::ALL {
            let (defaults, own): (Vec<PushRule>, Vec<PushRule>) = saved
                .rules(kind)
                .iter()
                .cloned()
                .partition(|rule| is_server_default(&rule.rule_id));
            for choice in defaults {
                if let Some(rule) = ruleset.find_mut(kind, &choice.rule_id) {
                    rule.enabled = choice.enabled;
                    rule.actions = choice.actions;
                }
            }
            let at = ruleset.first_user_rule_index(kind);
            ruleset.rules_mut(kind).splice(at..at, own);
        }
        ruleset
    }

    pub fn rules(&self, kind: RuleKind) -> &Vec<PushRule> {
        match kind {
            RuleKind::Override => &self.override_rules,
            RuleKind::Content => &self.content,
            RuleKind::Room => &self.room,
            RuleKind::Sender => &self.sender,
            RuleKind::Underride => &self.underride,
        }
    }

    fn rules_mut(&mut self, kind: RuleKind) -> &mut Vec<PushRule> {
        match kind {
            RuleKind::Override => &mut self.override_rules,
            RuleKind::Content => &mut self.content,
            RuleKind::Room => &mut self.room,
            RuleKind::Sender => &mut self.sender,
            RuleKind::Underride => &mut self.underride,
        }
    }

    pub fn find(&self, kind: RuleKind, rule_id: &str) -> Option<&PushRule> {
        self.rules(kind).iter().find(|rule| rule.rule_id == rule_id)
    }

    fn find_mut(&mut self, kind: RuleKind, rule_id: &str) -> Option<&mut PushRule> {
        self.rules_mut(kind)
            .iter_mut()
            .find(|rule| rule.rule_id == rule_id)
    }

    /// User rules rank above the defaults of their kind, except `.m.rule.master`, which
    /// always comes first.
    fn first_user_rule_index(&self, kind: RuleKind) -> usize {
        self.rules(kind)
            .iter()
            .take_while(|rule| rule.rule_id == ".m.rule.master")
            .count()
    }

    pub fn set_enabled(
        &mut self,
        kind: RuleKind,
        rule_id: &str,
        enabled: bool,
    ) -> Result<(), RuleEditError> {
        let rule = self
            .find_mut(kind, rule_id)
            .ok_or(RuleEditError::NotFound)?;
        rule.enabled = enabled;
        Ok(())
    }

    pub fn set_actions(
        &mut self,
        kind: RuleKind,
        rule_id: &str,
        actions: Vec<Value>,
    ) -> Result<(), RuleEditError> {
        let actions = checked_actions(actions)?;
        let rule = self
            .find_mut(kind, rule_id)
            .ok_or(RuleEditError::NotFound)?;
        rule.actions = actions;
        Ok(())
    }

    pub fn delete(&mut self, kind: RuleKind, rule_id: &str) -> Result<(), RuleEditError> {
        if is_server_default(rule_id) {
            return match self.find(kind, rule_id) {
                Some(_) => Err(RuleEditError::ServerDefault),
                None => Err(RuleEditError::NotFound),
            };
        }
        let rules = self.rules_mut(kind);
        let index = rules
            .iter()
            .position(|rule| rule.rule_id == rule_id)
            .ok_or(RuleEditError::NotFound)?;
        rules.remove(index);
        Ok(())
    }

    /// Adds a user-defined rule, or changes the one with that ID. A changed rule keeps its
    /// place unless `placement` names one; a new rule without a placement becomes the most
    /// important user-defined rule of its kind.
    pub fn put(
        &mut self,
        kind: RuleKind,
        rule_id: &str,
        new: NewRule,
        placement: Placement<'_>,
    ) -> Result<(), RuleEditError> {
        let rule = checked_rule(kind, rule_id, new)?;
        let existing = self
            .rules(kind)
            .iter()
            .position(|rule| rule.rule_id == rule_id);
        let anchor = match (placement.before, placement.after) {
            (Some(before), _) => Some((before, 0)),
            (None, Some(after)) => Some((after, 1)),
            (None, None) => None,
        };
        if let Some((anchor_id, _)) = anchor {
            let is_user_rule = |rule: &PushRule| rule.rule_id == anchor_id && !rule.default;
            if anchor_id == rule_id || !self.rules(kind).iter().any(is_user_rule) {
                return Err(RuleEditError::AnchorNotFound(anchor_id.to_owned()));
            }
        }
        if let Some(index) = existing {
            if anchor.is_none() {
                self.rules_mut(kind)[index] = rule;
                return Ok(());
            }
            self.rules_mut(kind).remove(index);
        }
        let at = match anchor {
            Some((anchor_id, offset)) => {
                let rules = self.rules(kind);
                offset
                    + rules
                        .iter()
                        .position(|rule| rule.rule_id == anchor_id)
                        .unwrap_or(rules.len())
            }
            None => self.first_user_rule_index(kind),
        };
        self.rules_mut(kind).insert(at, rule);
        Ok(())
    }
}

/// Server-default rule IDs start with a dot, and clients may not use such IDs.
pub fn is_server_default(rule_id: &str) -> bool {
    rule_id.starts_with('.')
}

fn checked_rule(kind: RuleKind, rule_id: &str, new: NewRule) -> Result<PushRule, RuleEditError> {
    if rule_id.is_empty() || is_server_default(rule_id) || rule_id.contains(['/', '\\']) {
        return Err(RuleEditError::Invalid(format!(
            "{rule_id:?} is not a valid ID for a user-defined rule"
        )));
    }
    let invalid_target = match kind {
        RuleKind::Room => !rule_id.starts_with('!'),
        RuleKind::Sender => !rule_id.starts_with('@'),
        _ => false,
    };
    if invalid_target {
        return Err(RuleEditError::Invalid(format!(
            "the ID of a {} rule is the {} it applies to",
            kind.name(),
            if kind == RuleKind::Room {
                "room ID"
            } else {
                "user ID"
            }
        )));
    }
    let conditions = match kind {
        RuleKind::Override | RuleKind::Underride => {
            Some(checked_conditions(new.conditions.unwrap_or_default())?)
        }
        _ => None,
    };
    let pattern = match kind {
        RuleKind::Content => Some(new.pattern.ok_or(RuleEditError::Missing("pattern"))?),
        _ => None,
    };
    Ok(PushRule {
        rule_id: rule_id.to_owned(),
        default: false,
        enabled: true,
        actions: checked_actions(new.actions)?,
        conditions,
        pattern,
    })
}

/// Conditions must be objects naming their kind; kinds this node does not know are kept.
fn checked_conditions(conditions: Vec<Value>) -> Result<Vec<Value>, RuleEditError> {
    for condition in &conditions {
        if !condition.get("kind").is_some_and(Value::is_string) {
            return Err(RuleEditError::Invalid(
                "every condition needs a \"kind\"".to_owned(),
            ));
        }
    }
    Ok(conditions)
}

/// The actions without the historical `dont_notify` and `coalesce`, which the spec says to
/// strip; anything but `notify` and tweaks is refused.
fn checked_actions(actions: Vec<Value>) -> Result<Vec<Value>, RuleEditError> {
    let mut kept = Vec::with_capacity(actions.len());
    for action in actions {
        match &action {
            Value::String(name) if name == "dont_notify" || name == "coalesce" => {}
            Value::String(name) if name == "notify" => kept.push(action),
            Value::Object(tweak) if tweak.get("set_tweak").is_some_and(Value::is_string) => {
                kept.push(action)
            }
            other => {
                return Err(RuleEditError::Invalid(format!(
                    "unrecognised push rule action {other}"
                )));
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &str = "@bob:ship";

    fn ids(ruleset: &Ruleset, kind: RuleKind) -> Vec<&str> {
        ruleset
            .rules(kind)
            .iter()
            .map(|rule| rule.rule_id.as_str())
            .collect()
    }

    fn new_rule(actions: Value) -> NewRule {
        serde_json::from_value(json!({ "actions": actions })).unwrap()
    }

    fn saved(ruleset: &Ruleset) -> Value {
        json!({ "global": ruleset })
    }

    #[test]
    fn new_rules_rank_above_the_defaults_and_below_master() {
        let mut ruleset = Ruleset::for_user(USER, None);
        let rule = new_rule(json!(["notify"]));
        ruleset
            .put(
                RuleKind::Override,
                "first",
                rule.clone(),
                Placement::default(),
            )
            .unwrap();
        ruleset
            .put(RuleKind::Override, "second", rule, Placement::default())
            .unwrap();
        assert_eq!(
            ids(&ruleset, RuleKind::Override)[..4],
            [
                ".m.rule.master",
                "second",
                "first",
                ".m.rule.suppress_notices"
            ]
        );
    }

    #[test]
    fn before_and_after_place_relative_to_user_rules_only() {
        let mut ruleset = Ruleset::for_user(USER, None);
        let rule = new_rule(json!([]));
        for id in ["!a:ship", "!b:ship"] {
            ruleset
                .put(RuleKind::Room, id, rule.clone(), Placement::default())
                .unwrap();
        }
        let after_b = Placement {
            after: Some("!b:ship"),
            ..Placement::default()
        };
        ruleset
            .put(RuleKind::Room, "!c:ship", rule.clone(), after_b)
            .unwrap();
        assert_eq!(
            ids(&ruleset, RuleKind::Room),
            ["!b:ship", "!c:ship", "!a:ship"]
        );
        let before_b = Placement {
            before: Some("!b:ship"),
            after: Some("!a:ship"),
        };
        ruleset
            .put(RuleKind::Room, "!a:ship", rule.clone(), before_b)
            .unwrap();
        assert_eq!(
            ids(&ruleset, RuleKind::Room),
            ["!a:ship", "!b:ship", "!c:ship"]
        );
        let before_default = Placement {
            before: Some(".m.rule.message"),
            after: None,
        };
        assert_eq!(
            ruleset.put(RuleKind::Underride, "x", rule.clone(), before_default),
            Err(RuleEditError::AnchorNotFound(".m.rule.message".to_owned()))
        );
        let before_missing = Placement {
            before: Some("!zz:ship"),
            after: None,
        };
        assert!(
            ruleset
                .put(RuleKind::Room, "!d:ship", rule, before_missing)
                .is_err()
        );
        assert_eq!(
            ids(&ruleset, RuleKind::Room).len(),
            3,
            "nothing added on error"
        );
    }

    #[test]
    fn rule_ids_and_bodies_are_checked() {
        let mut ruleset = Ruleset::for_user(USER, None);
        let put = |ruleset: &mut Ruleset, kind, id: &str, body: Value| {
            let rule: NewRule = serde_json::from_value(body).unwrap();
            ruleset.put(kind, id, rule, Placement::default())
        };
        for (kind, id) in [
            (RuleKind::Override, ".mine"),
            (RuleKind::Override, "a/b"),
            (RuleKind::Override, ""),
            (RuleKind::Room, "@not-a-room:ship"),
            (RuleKind::Sender, "!not-a-user:ship"),
        ] {
            let result = put(&mut ruleset, kind, id, json!({"actions": []}));
            assert!(matches!(result, Err(RuleEditError::Invalid(_))), "{id}");
        }
        assert_eq!(
            put(
                &mut ruleset,
                RuleKind::Content,
                "cake",
                json!({"actions": []})
            ),
            Err(RuleEditError::Missing("pattern"))
        );
        assert!(matches!(
            put(
                &mut ruleset,
                RuleKind::Override,
                "x",
                json!({"actions": ["explode"]})
            ),
            Err(RuleEditError::Invalid(_))
        ));
        assert!(matches!(
            put(
                &mut ruleset,
                RuleKind::Override,
                "x",
                json!({"actions": [], "conditions": [{"key": "type"}]})
            ),
            Err(RuleEditError::Invalid(_))
        ));
        put(
            &mut ruleset,
            RuleKind::Content,
            "cake",
            json!({"actions": ["notify", "dont_notify", "coalesce"], "pattern": "cake*lie"}),
        )
        .unwrap();
        let cake = ruleset.find(RuleKind::Content, "cake").unwrap();
        assert_eq!(cake.actions, vec![json!("notify")]);
        assert_eq!(cake.pattern.as_deref(), Some("cake*lie"));
        assert!(cake.enabled && !cake.default);
    }

    #[test]
    fn defaults_can_be_changed_but_not_deleted() {
        let mut ruleset = Ruleset::for_user(USER, None);
        ruleset
            .set_enabled(RuleKind::Override, ".m.rule.master", true)
            .unwrap();
        ruleset
            .set_actions(RuleKind::Underride, ".m.rule.message", vec![])
            .unwrap();
        assert_eq!(
            ruleset.delete(RuleKind::Underride, ".m.rule.message"),
            Err(RuleEditError::ServerDefault)
        );
        assert_eq!(
            ruleset.delete(RuleKind::Underride, "nothing"),
            Err(RuleEditError::NotFound)
        );
        assert_eq!(
            ruleset.set_enabled(RuleKind::Room, ".m.rule.master", false),
            Err(RuleEditError::NotFound),
            "kinds are separate"
        );
    }

    #[test]
    fn saved_choices_survive_a_round_trip_and_new_defaults_appear() {
        let mut ruleset = Ruleset::for_user(USER, None);
        ruleset
            .set_enabled(RuleKind::Override, ".m.rule.master", true)
            .unwrap();
        ruleset
            .put(
                RuleKind::Sender,
                "@spambot:ship",
                new_rule(json!([])),
                Placement::default(),
            )
            .unwrap();
        let mut stored = saved(&ruleset);
        assert_eq!(Ruleset::for_user(USER, Some(&stored)), ruleset);

        // A ruleset saved by an older node, which lacked `.m.rule.suppress_edits`.
        let overrides = stored["global"]["override"].as_array_mut().unwrap();
        overrides.retain(|rule| rule["rule_id"] != ".m.rule.suppress_edits");
        let reloaded = Ruleset::for_user(USER, Some(&stored));
        assert!(
            reloaded
                .find(RuleKind::Override, ".m.rule.suppress_edits")
                .is_some()
        );
        assert!(
            reloaded
                .find(RuleKind::Override, ".m.rule.master")
                .unwrap()
                .enabled
        );
    }

    #[test]
    fn unreadable_saved_rules_give_the_defaults() {
        let defaults = Ruleset::for_user(USER, None);
        for stored in [
            json!({}),
            json!({"global": 7}),
            json!({"global": {"room": "x"}}),
        ] {
            assert_eq!(Ruleset::for_user(USER, Some(&stored)), defaults);
        }
    }
}
