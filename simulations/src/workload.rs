//! What users do: the events of the workload, built from the acting node's own view of the room.

use dag::RoomEvent;
use dag::room::{NewEvent, RoomStore};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use serde_json::{Value, json};

/// Words for message bodies, so bodies compress about as well as real text does.
const WORDS: &[&str] = &[
    "the",
    "ship",
    "course",
    "north",
    "south",
    "east",
    "west",
    "wind",
    "sea",
    "state",
    "fuel",
    "crew",
    "watch",
    "radio",
    "signal",
    "position",
    "speed",
    "knots",
    "heading",
    "arrive",
    "depart",
    "weather",
    "storm",
    "clear",
    "visibility",
    "contact",
    "report",
    "hold",
    "proceed",
    "confirm",
    "negative",
    "affirmative",
    "all",
    "stations",
    "over",
    "out",
    "at",
    "by",
    "with",
    "to",
    "from",
    "and",
    "hours",
    "minutes",
    "degrees",
    "miles",
    "port",
    "starboard",
    "ahead",
    "astern",
];

/// The kinds of state change the workload makes, with equal chances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    Topic,
    Name,
    PowerLevels,
    BanOrUnban,
    JoinOrLeave,
}

impl StateChange {
    pub fn pick(rng: &mut ChaCha8Rng) -> StateChange {
        match rng.random_range(0..5) {
            0 => StateChange::Topic,
            1 => StateChange::Name,
            2 => StateChange::PowerLevels,
            3 => StateChange::BanOrUnban,
            _ => StateChange::JoinOrLeave,
        }
    }

    /// Whether an admin makes it (else the target user does, on its own node).
    pub fn by_admin(self) -> bool {
        self != StateChange::JoinOrLeave
    }
}

pub fn message(sender: &str, chars: usize, rng: &mut ChaCha8Rng) -> NewEvent {
    let mut body = String::with_capacity(chars + 16);
    while body.len() < chars {
        if !body.is_empty() {
            body.push(' ');
        }
        body.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    NewEvent {
        event_type: "m.room.message".into(),
        state_key: None,
        sender: sender.to_owned(),
        content: json!({"msgtype": "m.text", "body": body}),
    }
}

/// The state change `kind` by `actor` on `target` (for power levels, bans and memberships), as
/// the actor's node sees the room. `variant` makes conflicting changes differ. `None` when the
/// change makes no sense in that view (a banned user cannot join).
pub fn state_change(
    store: &impl RoomStore,
    room_id: &str,
    kind: StateChange,
    actor: &str,
    target: &str,
    variant: u64,
) -> Option<NewEvent> {
    let state_content = |event_type: &str, state_key: &str| -> Option<Value> {
        let room = store.room(room_id)?;
        let id = room
            .current_state
            .get(&(event_type.to_owned(), state_key.to_owned()))?;
        Some(store.event(id)?.pdu.content().clone())
    };
    let membership = state_content("m.room.member", target)
        .and_then(|c| {
            c.get("membership")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "leave".to_owned());
    let state = |event_type: &str, state_key: &str, sender: &str, content: Value| NewEvent {
        event_type: event_type.to_owned(),
        state_key: Some(state_key.to_owned()),
        sender: sender.to_owned(),
        content,
    };
    Some(match kind {
        StateChange::Topic => state(
            "m.room.topic",
            "",
            actor,
            json!({"topic": format!("topic {variant} set by {actor}")}),
        ),
        StateChange::Name => state(
            "m.room.name",
            "",
            actor,
            json!({"name": format!("room name {variant}")}),
        ),
        StateChange::PowerLevels => {
            let mut content = state_content("m.room.power_levels", "")?;
            let users = content.get_mut("users")?.as_object_mut()?;
            match [0, 25, 50][(variant % 3) as usize] {
                0 => users.remove(target),
                level => users.insert(target.to_owned(), json!(level)),
            };
            state("m.room.power_levels", "", actor, content)
        }
        StateChange::BanOrUnban => {
            let content = if membership == "ban" {
                json!({"membership": "leave"})
            } else {
                json!({"membership": "ban", "reason": format!("ban {variant}")})
            };
            state("m.room.member", target, actor, content)
        }
        StateChange::JoinOrLeave => {
            let next = match membership.as_str() {
                "join" => "leave",
                "ban" => return None,
                _ => "join",
            };
            state("m.room.member", target, target, json!({"membership": next}))
        }
    })
}
