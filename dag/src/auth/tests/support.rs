//! A minimal event type and a room builder so each test states only what it is about.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::auth::{AuthError, check_auth};
use crate::{RoomEvent, RoomVersion};

pub const ALICE: &str = "@alice:a.example";
pub const BOB: &str = "@bob:b.example";
pub const CAROL: &str = "@carol:c.example";
pub const DAVE: &str = "@dave:a.example";

#[derive(Debug, Clone, PartialEq)]
pub struct TestEvent {
    pub event_id: String,
    pub room_id: Option<String>,
    pub sender: String,
    pub event_type: String,
    pub state_key: Option<String>,
    pub content: Value,
    pub prev_events: Vec<String>,
    pub auth_events: Vec<String>,
}

impl RoomEvent for TestEvent {
    fn event_id(&self) -> &str {
        &self.event_id
    }
    fn room_id(&self) -> Option<&str> {
        self.room_id.as_deref()
    }
    fn sender(&self) -> &str {
        &self.sender
    }
    fn event_type(&self) -> &str {
        &self.event_type
    }
    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }
    fn content(&self) -> &Value {
        &self.content
    }
    fn origin_server_ts(&self) -> u64 {
        0
    }
    fn prev_events(&self) -> impl ExactSizeIterator<Item = &str> {
        self.prev_events.iter().map(String::as_str)
    }
    fn auth_events(&self) -> impl ExactSizeIterator<Item = &str> {
        self.auth_events.iter().map(String::as_str)
    }
    fn redacts(&self) -> Option<&str> {
        None
    }
}

/// Builds one event; `Room::event` starts it with the room's ID and latest event as its parent.
pub struct EventBuilder(TestEvent);

impl EventBuilder {
    pub fn state_key(mut self, state_key: &str) -> Self {
        self.0.state_key = Some(state_key.to_owned());
        self
    }
    pub fn content(mut self, content: Value) -> Self {
        self.0.content = content;
        self
    }
    pub fn prev_events(mut self, prev_events: &[&str]) -> Self {
        self.0.prev_events = prev_events.iter().map(|id| (*id).to_owned()).collect();
        self
    }
    pub fn auth_events(mut self, auth_events: &[&str]) -> Self {
        self.0.auth_events = auth_events.iter().map(|id| (*id).to_owned()).collect();
        self
    }
    pub fn room_id(mut self, room_id: Option<&str>) -> Self {
        self.0.room_id = room_id.map(str::to_owned);
        self
    }
    pub fn build(self) -> TestEvent {
        self.0
    }
}

/// A room whose current state is a map, created by ALICE (on `a.example`) who has joined.
pub struct Room {
    pub version: RoomVersion,
    pub room_id: String,
    pub state: HashMap<(String, String), TestEvent>,
    pub latest: String,
    next_id: usize,
}

impl Room {
    pub fn new(version: RoomVersion) -> Self {
        Room::with_create_content(version, json!({}))
    }

    /// `extra` is merged into the create event's content next to `room_version` (and v10's
    /// `creator`).
    pub fn with_create_content(version: RoomVersion, extra: Value) -> Self {
        let create = create_event(version, ALICE, extra);
        let room_id = match &create.room_id {
            Some(room_id) => room_id.clone(),
            None => create.event_id.replacen('$', "!", 1),
        };
        let mut room = Room {
            version,
            room_id,
            state: HashMap::new(),
            latest: create.event_id.clone(),
            next_id: 0,
        };
        room.add(create);
        let join = room.member(ALICE, ALICE, "join").build();
        room.add(join);
        room
    }

    pub fn create(&self) -> &TestEvent {
        &self.state[&("m.room.create".to_owned(), String::new())]
    }

    pub fn event(&mut self, event_type: &str, sender: &str) -> EventBuilder {
        self.next_id += 1;
        EventBuilder(TestEvent {
            event_id: format!("$event{}", self.next_id),
            room_id: Some(self.room_id.clone()),
            sender: sender.to_owned(),
            event_type: event_type.to_owned(),
            state_key: None,
            content: json!({}),
            prev_events: vec![self.latest.clone()],
            auth_events: Vec::new(),
        })
    }

    pub fn member(&mut self, sender: &str, target: &str, membership: &str) -> EventBuilder {
        self.event("m.room.member", sender)
            .state_key(target)
            .content(json!({ "membership": membership }))
    }

    pub fn state_event(&mut self, event_type: &str, sender: &str, content: Value) -> EventBuilder {
        self.event(event_type, sender)
            .state_key("")
            .content(content)
    }

    /// Adds an event to the state without checking it: test set-up.
    pub fn add(&mut self, event: TestEvent) -> &mut Self {
        self.latest = event.event_id.clone();
        if let Some(state_key) = &event.state_key {
            self.state
                .insert((event.event_type.clone(), state_key.clone()), event);
        }
        self
    }

    pub fn set_membership(&mut self, user: &str, membership: &str) -> &mut Self {
        let event = self.member(user, user, membership).build();
        self.add(event)
    }

    pub fn set_power_levels(&mut self, content: Value) -> &mut Self {
        let event = self
            .state_event("m.room.power_levels", ALICE, content)
            .build();
        self.add(event)
    }

    pub fn set_join_rule(&mut self, join_rule: &str) -> &mut Self {
        let event = self
            .state_event(
                "m.room.join_rules",
                ALICE,
                json!({ "join_rule": join_rule }),
            )
            .build();
        self.add(event)
    }

    pub fn check(&self, event: &TestEvent) -> Result<(), AuthError> {
        check_auth(self.version, event, |event_type: &str, state_key: &str| {
            self.state
                .get(&(event_type.to_owned(), state_key.to_owned()))
        })
    }
}

/// The create event a room of `version` starts with, sent by `creator`.
pub fn create_event(version: RoomVersion, creator: &str, extra: Value) -> TestEvent {
    let mut content = json!({ "room_version": version.as_str() });
    if version.create_has_creator_field() {
        content["creator"] = json!(creator);
    }
    if let (Some(content), Some(extra)) = (content.as_object_mut(), extra.as_object()) {
        content.extend(extra.clone());
    }
    let server = creator.split_once(':').map_or("", |(_, server)| server);
    TestEvent {
        event_id: "$createhash".to_owned(),
        room_id: (!version.room_id_is_create_hash()).then(|| format!("!room:{server}")),
        sender: creator.to_owned(),
        event_type: "m.room.create".to_owned(),
        state_key: Some(String::new()),
        content,
        prev_events: Vec::new(),
        auth_events: Vec::new(),
    }
}
