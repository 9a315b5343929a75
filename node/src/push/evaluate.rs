//! Deciding what a user's push rules say about an event: the first enabled rule that
//! matches wins, and its actions say whether the event notifies and highlights.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::ruleset::{PushRule, RuleKind, Ruleset};

/// What the rules decided for one event.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub notify: bool,
    pub highlight: bool,
}

/// What conditions read beyond the event: the user and the room as it is now.
pub struct RoomFacts<'a> {
    pub user_id: &'a str,
    pub joined_members: u64,
    /// The user's display name in the room, as a body pattern.
    display_name: Option<Pattern>,
    /// Whether a sender has the power for a notification key such as `room`.
    sender_may_notify: &'a dyn Fn(&str, &str) -> bool,
}

impl<'a> RoomFacts<'a> {
    pub fn new(
        user_id: &'a str,
        display_name: Option<&str>,
        joined_members: u64,
        sender_may_notify: &'a dyn Fn(&str, &str) -> bool,
    ) -> RoomFacts<'a> {
        RoomFacts {
            user_id,
            joined_members,
            display_name: display_name.filter(|name| !name.is_empty()).map(|name| {
                Pattern::Literal {
                    text: name.to_lowercase(),
                    within_words: true,
                }
            }),
            sender_may_notify,
        }
    }
}

/// A ruleset ready to evaluate: enabled rules only, in priority order, patterns compiled.
pub struct CompiledRuleset {
    rules: Vec<CompiledRule>,
}

struct CompiledRule {
    /// The pre-`m.mentions` rules, which apply only to events without `m.mentions`.
    legacy_mention: bool,
    test: Test,
    outcome: Outcome,
}

enum Test {
    Conditions(Vec<Condition>),
    Body(Option<Pattern>),
    Room(String),
    Sender(String),
}

enum Condition {
    EventMatch {
        path: Vec<String>,
        pattern: Pattern,
    },
    PropertyIs {
        path: Vec<String>,
        value: Value,
    },
    PropertyContains {
        path: Vec<String>,
        value: Value,
    },
    ContainsDisplayName,
    MemberCount {
        comparison: Comparison,
        count: u64,
    },
    SenderNotificationPermission {
        key: String,
    },
    /// Unrecognised or malformed: the spec says it never matches.
    Never,
}

#[derive(Clone, Copy)]
enum Comparison {
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

impl CompiledRuleset {
    pub fn new(ruleset: &Ruleset) -> CompiledRuleset {
        let rules = RuleKind::ALL
            .into_iter()
            .flat_map(|kind| ruleset.rules(kind).iter().map(move |rule| (kind, rule)))
            .filter(|(_, rule)| rule.enabled)
            .map(|(kind, rule)| CompiledRule::new(kind, rule))
            .collect();
        CompiledRuleset { rules }
    }

    /// The outcome of the first rule that matches; no rule, no notification.
    pub fn outcome(&self, event: &Value, facts: &RoomFacts<'_>) -> Outcome {
        let has_mentions = event
            .get("content")
            .is_some_and(|content| content.get("m.mentions").is_some());
        self.rules
            .iter()
            .filter(|rule| !(rule.legacy_mention && has_mentions))
            .find(|rule| rule.test.matches(event, facts))
            .map_or(Outcome::default(), |rule| rule.outcome)
    }
}

impl CompiledRule {
    fn new(kind: RuleKind, rule: &PushRule) -> CompiledRule {
        let test = match kind {
            RuleKind::Override | RuleKind::Underride => Test::Conditions(
                rule.conditions
                    .iter()
                    .flatten()
                    .map(Condition::new)
                    .collect(),
            ),
            RuleKind::Content => Test::Body(
                rule.pattern
                    .as_deref()
                    .and_then(|pattern| Pattern::new(pattern, true)),
            ),
            RuleKind::Room => Test::Room(rule.rule_id.clone()),
            RuleKind::Sender => Test::Sender(rule.rule_id.clone()),
        };
        CompiledRule {
            legacy_mention: matches!(
                rule.rule_id.as_str(),
                ".m.rule.contains_display_name"
                    | ".m.rule.roomnotif"
                    | ".m.rule.contains_user_name"
            ),
            test,
            outcome: outcome_of(&rule.actions),
        }
    }
}

fn outcome_of(actions: &[Value]) -> Outcome {
    let mut outcome = Outcome::default();
    for action in actions {
        match action {
            Value::String(name) if name == "notify" => outcome.notify = true,
            Value::Object(tweak) if tweak.get("set_tweak") == Some(&"highlight".into()) => {
                outcome.highlight = tweak.get("value").is_none_or(|value| value == true);
            }
            _ => {}
        }
    }
    outcome
}

impl Test {
    fn matches(&self, event: &Value, facts: &RoomFacts<'_>) -> bool {
        match self {
            Test::Conditions(conditions) => conditions
                .iter()
                .all(|condition| condition.matches(event, facts)),
            Test::Body(pattern) => pattern.as_ref().is_some_and(|pattern| {
                event["content"]["body"]
                    .as_str()
                    .is_some_and(|body| pattern.is_match(body))
            }),
            Test::Room(room_id) => event["room_id"] == room_id.as_str(),
            Test::Sender(sender) => event["sender"] == sender.as_str(),
        }
    }
}

impl Condition {
    fn new(condition: &Value) -> Condition {
        let path = || condition["key"].as_str().map(property_path);
        let compiled = match condition["kind"].as_str() {
            Some("event_match") => {
                path()
                    .zip(condition["pattern"].as_str())
                    .and_then(|(path, pattern)| {
                        let within_words = path == ["content", "body"];
                        let pattern = Pattern::new(pattern, within_words)?;
                        Some(Condition::EventMatch { path, pattern })
                    })
            }
            Some("event_property_is") => path()
                .zip(scalar(&condition["value"]))
                .map(|(path, value)| Condition::PropertyIs { path, value }),
            Some("event_property_contains") => path()
                .zip(scalar(&condition["value"]))
                .map(|(path, value)| Condition::PropertyContains { path, value }),
            Some("contains_display_name") => Some(Condition::ContainsDisplayName),
            Some("room_member_count") => condition["is"].as_str().and_then(member_count),
            Some("sender_notification_permission") => {
                condition["key"]
                    .as_str()
                    .map(|key| Condition::SenderNotificationPermission {
                        key: key.to_owned(),
                    })
            }
            _ => None,
        };
        compiled.unwrap_or(Condition::Never)
    }

    fn matches(&self, event: &Value, facts: &RoomFacts<'_>) -> bool {
        match self {
            Condition::EventMatch { path, pattern } => property(event, path)
                .and_then(Value::as_str)
                .is_some_and(|value| pattern.is_match(value)),
            Condition::PropertyIs { path, value } => {
                property(event, path).is_some_and(|found| found == value)
            }
            Condition::PropertyContains { path, value } => property(event, path)
                .and_then(Value::as_array)
                .is_some_and(|items| items.contains(value)),
            Condition::ContainsDisplayName => facts.display_name.as_ref().is_some_and(|name| {
                event["content"]["body"]
                    .as_str()
                    .is_some_and(|body| name.is_match(body))
            }),
            Condition::MemberCount { comparison, count } => {
                comparison.holds(facts.joined_members, *count)
            }
            Condition::SenderNotificationPermission { key } => event["sender"]
                .as_str()
                .is_some_and(|sender| (facts.sender_may_notify)(sender, key)),
            Condition::Never => false,
        }
    }
}

impl Comparison {
    fn holds(self, actual: u64, wanted: u64) -> bool {
        match self {
            Comparison::Equal => actual == wanted,
            Comparison::Less => actual < wanted,
            Comparison::Greater => actual > wanted,
            Comparison::LessOrEqual => actual <= wanted,
            Comparison::GreaterOrEqual => actual >= wanted,
        }
    }
}

/// `is` of `room_member_count`: a decimal count after an optional `==`, `<`, `>`, `<=`, `>=`.
fn member_count(is: &str) -> Option<Condition> {
    let (comparison, digits) = [
        ("==", Comparison::Equal),
        ("<=", Comparison::LessOrEqual),
        (">=", Comparison::GreaterOrEqual),
        ("<", Comparison::Less),
        (">", Comparison::Greater),
    ]
    .into_iter()
    .find_map(|(prefix, comparison)| is.strip_prefix(prefix).map(|rest| (comparison, rest)))
    .unwrap_or((Comparison::Equal, is));
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let count = digits.parse().ok()?;
    Some(Condition::MemberCount { comparison, count })
}

/// The values `event_property_is` and `_contains` compare: strings, integers, booleans, null.
fn scalar(value: &Value) -> Option<Value> {
    match value {
        Value::String(_) | Value::Bool(_) | Value::Null => Some(value.clone()),
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(value.clone()),
        _ => None,
    }
}

/// A dot-separated property path, where `\.` is a literal dot and `\\` a backslash.
fn property_path(key: &str) -> Vec<String> {
    let mut path = vec![String::new()];
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('.' | '\\')) => path.last_mut().into_iter().for_each(|part| {
                    part.push(escaped);
                }),
                Some(other) => path.last_mut().into_iter().for_each(|part| {
                    part.push('\\');
                    part.push(other);
                }),
                None => path.last_mut().into_iter().for_each(|part| part.push('\\')),
            },
            '.' => path.push(String::new()),
            other => path
                .last_mut()
                .into_iter()
                .for_each(|part| part.push(other)),
        }
    }
    path
}

fn property<'e>(event: &'e Value, path: &[String]) -> Option<&'e Value> {
    path.iter().try_fold(event, |value, part| value.get(part))
}

/// An `event_match` or content-rule pattern, matched case-insensitively against a whole value
/// or, for bodies, against any run of it that starts and ends at a word boundary: the ends of
/// the text or any character outside `[A-Za-z0-9_]`.
enum Pattern {
    /// Text without wildcards, as in every predefined rule: compared directly, which spares
    /// compiling a regular expression per rule on every sync.
    Literal { text: String, within_words: bool },
    /// A glob as a regular expression, which matches in linear time whatever the body.
    Glob(Regex),
}

impl Pattern {
    fn new(glob: &str, within_words: bool) -> Option<Pattern> {
        if !glob.is_empty() && !glob.contains(['*', '?']) {
            return Some(Pattern::Literal {
                text: glob.to_lowercase(),
                within_words,
            });
        }
        let regex = glob_regex(glob);
        let regex = match within_words {
            true => format!("(?:^|[^A-Za-z0-9_])(?:{regex})(?:[^A-Za-z0-9_]|$)"),
            false => format!("^(?:{regex})$"),
        };
        // A pattern too large to compile never matches.
        RegexBuilder::new(&regex)
            .case_insensitive(true)
            .dot_matches_new_line(true)
            .size_limit(1 << 20)
            .build()
            .ok()
            .map(Pattern::Glob)
    }

    fn is_match(&self, value: &str) -> bool {
        match self {
            Pattern::Literal {
                text,
                within_words: false,
            } => match value.is_ascii() {
                true => value.eq_ignore_ascii_case(text),
                false => value.to_lowercase() == *text,
            },
            Pattern::Literal {
                text,
                within_words: true,
            } => contains_word(&value.to_lowercase(), text),
            Pattern::Glob(regex) => regex.is_match(value),
        }
    }
}

/// Whether `word` occurs in `text` between word boundaries; both are lowercase.
fn contains_word(text: &str, word: &str) -> bool {
    let is_word_byte = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'_';
    text.match_indices(word).any(|(start, found)| {
        let before = text.as_bytes()[..start].last();
        let after = text.as_bytes().get(start + found.len());
        !before.is_some_and(is_word_byte) && !after.is_some_and(is_word_byte)
    })
}

/// A glob (`*` any run of characters, `?` exactly one) as a regular expression.
fn glob_regex(glob: &str) -> String {
    let mut regex = String::with_capacity(glob.len() + 8);
    for c in glob.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            other => regex.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    regex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::ruleset::{NewRule, Placement};
    use serde_json::json;

    const USER: &str = "@bob:ship";

    fn outcome_in(ruleset: &Ruleset, event: Value, members: u64) -> Outcome {
        let powerful = |sender: &str, key: &str| sender == "@captain:ship" && key == "room";
        let facts = RoomFacts::new(USER, Some("Old Salt"), members, &powerful);
        CompiledRuleset::new(ruleset).outcome(&event, &facts)
    }

    fn outcome(event: Value) -> Outcome {
        outcome_in(&Ruleset::for_user(USER, None), event, 5)
    }

    fn message(body: &str) -> Value {
        json!({
            "type": "m.room.message",
            "sender": "@alice:ship",
            "room_id": "!deck:ship",
            "content": {"msgtype": "m.text", "body": body},
        })
    }

    const QUIET: Outcome = Outcome {
        notify: true,
        highlight: false,
    };
    const LOUD: Outcome = Outcome {
        notify: true,
        highlight: true,
    };
    const NOTHING: Outcome = Outcome {
        notify: false,
        highlight: false,
    };

    #[test]
    fn the_defaults_notify_messages_and_highlight_mentions() {
        assert_eq!(outcome(message("all hands")), QUIET);
        assert_eq!(outcome(message("Bob, to the bridge")), LOUD);
        assert_eq!(outcome(message("where is the old salt?")), LOUD);
        assert_eq!(outcome(message("kabob and bobby")), QUIET);
        let mut notice = message("bob");
        notice["content"]["msgtype"] = json!("m.notice");
        assert_eq!(outcome(notice), NOTHING);
        let member = json!({"type": "m.room.member", "state_key": "@x:ship",
            "sender": "@x:ship", "content": {"membership": "join"}});
        assert_eq!(outcome(member), NOTHING);
        let topic = json!({"type": "m.room.topic", "state_key": "", "sender": "@x:ship",
            "content": {"topic": "bob"}});
        assert_eq!(outcome(topic), NOTHING, "no rule matches a topic change");
        let tombstone = json!({"type": "m.room.tombstone", "state_key": "", "sender": "@x:ship",
            "content": {}});
        assert_eq!(outcome(tombstone), LOUD);
    }

    #[test]
    fn m_mentions_turns_off_the_legacy_body_rules() {
        let mut with_mentions = message("bob");
        with_mentions["content"]["m.mentions"] = json!({});
        assert_eq!(outcome(with_mentions.clone()), QUIET);
        with_mentions["content"]["m.mentions"] = json!({"user_ids": [USER]});
        assert_eq!(outcome(with_mentions), LOUD);
    }

    #[test]
    fn room_mentions_need_the_senders_power() {
        let mut mention = message("@room look out");
        assert_eq!(outcome(mention.clone()), QUIET);
        mention["sender"] = json!("@captain:ship");
        assert_eq!(outcome(mention.clone()), LOUD);
        mention["content"]["m.mentions"] = json!({"room": true});
        mention["content"]["body"] = json!("look out");
        assert_eq!(outcome(mention), LOUD);
    }

    #[test]
    fn one_to_one_rooms_and_encrypted_events() {
        let encrypted = json!({"type": "m.room.encrypted", "sender": "@a:ship",
            "content": {"ciphertext": "x"}});
        assert_eq!(
            outcome_in(&Ruleset::for_user(USER, None), encrypted, 2),
            QUIET
        );
        let call = json!({"type": "m.call.invite", "sender": "@a:ship", "content": {}});
        assert_eq!(outcome(call), QUIET);
        let reaction = json!({"type": "m.reaction", "sender": "@a:ship", "content": {}});
        assert_eq!(outcome(reaction), NOTHING);
    }

    #[test]
    fn user_rules_mute_rooms_and_senders_and_master_mutes_all() {
        let mut ruleset = Ruleset::for_user(USER, None);
        let mute: NewRule = serde_json::from_value(json!({"actions": []})).unwrap();
        ruleset
            .put(
                RuleKind::Room,
                "!deck:ship",
                mute.clone(),
                Placement::default(),
            )
            .unwrap();
        assert_eq!(
            outcome_in(&ruleset, message("bob"), 5),
            LOUD,
            "override wins"
        );
        assert_eq!(outcome_in(&ruleset, message("hi"), 5), NOTHING);
        let mut elsewhere = message("hi");
        elsewhere["room_id"] = json!("!galley:ship");
        assert_eq!(outcome_in(&ruleset, elsewhere.clone(), 5), QUIET);
        ruleset
            .put(RuleKind::Sender, "@alice:ship", mute, Placement::default())
            .unwrap();
        assert_eq!(outcome_in(&ruleset, elsewhere, 5), NOTHING);
        ruleset
            .set_enabled(RuleKind::Override, ".m.rule.master", true)
            .unwrap();
        assert_eq!(outcome_in(&ruleset, message("bob"), 5), NOTHING);
    }

    #[test]
    fn content_rules_match_globs_at_word_boundaries() {
        let mut ruleset = Ruleset::for_user(USER, None);
        let cake: NewRule = serde_json::from_value(json!({
            "pattern": "ex*ple", "actions": ["notify", {"set_tweak": "highlight"}]
        }))
        .unwrap();
        ruleset
            .put(RuleKind::Content, "cake", cake, Placement::default())
            .unwrap();
        for body in [
            "An example event.",
            "exple",
            "An exciting triple-whammy",
            "EXAMPLE",
        ] {
            assert_eq!(outcome_in(&ruleset, message(body), 5), LOUD, "{body}");
        }
        for body in ["examples", "anexample", "ex ple."] {
            let expected = if body == "ex ple." { LOUD } else { QUIET };
            assert_eq!(outcome_in(&ruleset, message(body), 5), expected, "{body}");
        }
    }

    #[test]
    fn event_match_takes_the_whole_value_and_only_strings() {
        let condition = |pattern: &str| {
            Condition::new(&json!({"kind": "event_match", "key": "content.topic",
                "pattern": pattern}))
        };
        let facts_fn = |_: &str, _: &str| false;
        let facts = RoomFacts::new(USER, None, 1, &facts_fn);
        let topic = |value: Value| json!({"content": {"topic": value}});
        assert!(condition("lunc?*").matches(&topic(json!("Lunch plans")), &facts));
        assert!(condition("lunc?*").matches(&topic(json!("LUNCH")), &facts));
        assert!(!condition("lunc?*").matches(&topic(json!(" lunch")), &facts));
        assert!(!condition("lunc?*").matches(&topic(json!("lunc")), &facts));
        assert!(!condition("*").matches(&topic(Value::Null), &facts));
        assert!(!condition("*").matches(&json!({"content": {}}), &facts));
        assert!(condition("a.b(c)+").matches(&topic(json!("A.B(C)+")), &facts));
        assert!(!condition("a.b").matches(&topic(json!("axb")), &facts));
    }

    #[test]
    fn property_paths_unescape_dots_and_backslashes() {
        assert_eq!(
            property_path("content.m\\.mentions.room"),
            ["content", "m.mentions", "room"]
        );
        assert_eq!(property_path("a\\\\.b"), ["a\\", "b"]);
        assert_eq!(property_path("a\\xb"), ["a\\xb"]);
    }

    #[test]
    fn property_conditions_compare_exactly() {
        let facts_fn = |_: &str, _: &str| false;
        let facts = RoomFacts::new(USER, None, 1, &facts_fn);
        let is = Condition::new(&json!({"kind": "event_property_is",
            "key": "content.m\\.federate", "value": true}));
        assert!(is.matches(&json!({"content": {"m.federate": true}}), &facts));
        assert!(!is.matches(&json!({"content": {"m.federate": "true"}}), &facts));
        assert!(!is.matches(&json!({"content": {"m.federate": 1}}), &facts));
        let contains = Condition::new(&json!({"kind": "event_property_contains",
            "key": "content.alt_aliases", "value": "#a:ship"}));
        assert!(contains.matches(
            &json!({"content": {"alt_aliases": ["#b:ship", "#a:ship"]}}),
            &facts
        ));
        assert!(!contains.matches(&json!({"content": {"alt_aliases": ":ship"}}), &facts));
        let compound = Condition::new(&json!({"kind": "event_property_is", "key": "x",
            "value": {"a": 1}}));
        assert!(
            !compound.matches(&json!({"x": {"a": 1}}), &facts),
            "compound values never match"
        );
    }

    #[test]
    fn member_counts_and_unknown_conditions() {
        let facts_fn = |_: &str, _: &str| false;
        let event = json!({});
        for (is, members, expected) in [
            ("2", 2, true),
            ("==2", 3, false),
            ("<10", 9, true),
            ("<10", 10, false),
            ("<=10", 10, true),
            (">=3", 2, false),
            (">3", 4, true),
            ("x", 1, false),
            ("", 0, false),
            ("<", 0, false),
        ] {
            let facts = RoomFacts::new(USER, None, members, &facts_fn);
            let condition = Condition::new(&json!({"kind": "room_member_count", "is": is}));
            assert_eq!(
                condition.matches(&event, &facts),
                expected,
                "{is} with {members}"
            );
        }
        let facts = RoomFacts::new(USER, None, 1, &facts_fn);
        let unknown = Condition::new(&json!({"kind": "org.example.weather"}));
        assert!(!unknown.matches(&event, &facts));
    }
}
