//! Why an event failed authorization. Each message names the rule that rejected the event by its
//! number in the room version 12 rules. Versions 10 and 11 have no rule 2 (room ID is the create
//! event's hash) and no rule 10.4 (creators absent from `users`), so their rules from 3 on, and
//! their power-level sub-rules from 10.5 on, carry numbers one lower in their own text.

use super::power::Power;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    // Rule 1: m.room.create.
    #[error("rule 1.1: an m.room.create event must not have prev_events")]
    CreateHasPrevEvents,
    #[error("rule 1.2: an m.room.create event must not have a room_id in room version 12")]
    CreateHasRoomId,
    #[error("an m.room.create event must have a room_id before room version 12")]
    CreateMissingRoomId,
    #[error(
        "rule 1.2: the domain of room_id {room_id} does not match the domain of sender {sender}"
    )]
    CreateRoomIdDomainMismatch { room_id: String, sender: String },
    #[error("rule 1.3: content.room_version {0} is not a recognised room version")]
    UnrecognisedRoomVersion(String),
    #[error(
        "content.room_version {found} of the m.room.create event contradicts room version {expected}"
    )]
    RoomVersionMismatch { found: String, expected: String },
    #[error("rule 1.4: an m.room.create event must have content.creator in room version 10")]
    CreateMissingCreator,
    #[error("rule 1.4: content.additional_creators must be an array of valid user IDs")]
    InvalidAdditionalCreators,

    // Rule 2 and the room the event claims to be in.
    #[error("the event has no room_id")]
    MissingRoomId,
    #[error(
        "rule 2: room_id {room_id} is not the ID of the room's m.room.create event {create_event_id}"
    )]
    RoomIdNotCreateEvent {
        room_id: String,
        create_event_id: String,
    },
    #[error(
        "room_id {room_id} does not match the room_id {create_room_id} of the m.room.create event"
    )]
    RoomIdMismatch {
        room_id: String,
        create_room_id: String,
    },
    #[error("there is no m.room.create event in the state the event is checked against")]
    NoCreateEvent,

    // Rule 3: the event's auth_events.
    #[error("rule 3.1: auth_events has more than one ({event_type}, {state_key}) entry")]
    DuplicateAuthEvent {
        event_type: String,
        state_key: String,
    },
    #[error("rule 3.1: auth_events lists {event_id} more than once")]
    RepeatedAuthEventId { event_id: String },
    #[error(
        "rule 3.2: auth event {event_id} ({event_type}, {state_key}) is not selected for this event"
    )]
    UnexpectedAuthEvent {
        event_id: String,
        event_type: String,
        state_key: String,
    },
    #[error("rule 3.2: auth event {event_id} is not a state event")]
    AuthEventNotState { event_id: String },
    #[error("rule 3.3: auth event {event_id} was itself rejected")]
    RejectedAuthEvent { event_id: String },
    #[error("rule 3.4: there is no m.room.create event among the auth_events")]
    MissingCreateAuthEvent,
    #[error("rule 3.5: auth event {event_id} belongs to a different room")]
    AuthEventInOtherRoom { event_id: String },
    #[error("auth event {event_id} was supplied but is not listed in the event's auth_events")]
    AuthEventNotListed { event_id: String },
    #[error("auth event {event_id} is listed in the event's auth_events but was not supplied")]
    MissingAuthEvent { event_id: String },

    // Rule 4: m.federate.
    #[error("rule 4: the room is not federated and sender {sender} is not on the creator's server")]
    NotFederated { sender: String },

    // Rule 5: m.room.member.
    #[error("rule 5.1: an m.room.member event must have a state_key")]
    MemberMissingStateKey,
    #[error("rule 5.1: an m.room.member event must have a string content.membership")]
    MemberMissingMembership,
    #[error("rule 5.2: content.join_authorised_via_users_server is not a valid user ID")]
    InvalidJoinAuthoriser,
    #[error("rule 5.3.2: {sender} cannot join on behalf of {target}")]
    JoinForOtherUser { sender: String, target: String },
    #[error("rule 5.3.3: {0} is banned and cannot join")]
    JoinWhileBanned(String),
    #[error("rule 5.3.5.2: a restricted join needs content.join_authorised_via_users_server")]
    RestrictedJoinWithoutAuthoriser,
    #[error(
        "rule 5.3.5.2: {0} is not a joined member allowed to invite, so cannot authorise a join"
    )]
    RestrictedJoinAuthoriserCannotInvite(String),
    #[error("rule 5.3.7: join rule {join_rule:?} does not let {user} join without an invite")]
    JoinNotAllowed { join_rule: String, user: String },
    #[error("rule 5.4.1.1: {0} is banned and cannot be invited")]
    ThirdPartyInviteTargetBanned(String),
    #[error("rule 5.4.1.2: content.third_party_invite has no signed object")]
    ThirdPartyInviteMissingSigned,
    #[error("rule 5.4.1.3: content.third_party_invite.signed needs string mxid and token")]
    ThirdPartyInviteMissingMxidOrToken,
    #[error("rule 5.4.1.4: signed mxid {mxid} does not match state_key {state_key}")]
    ThirdPartyInviteMxidMismatch { mxid: String, state_key: String },
    #[error(
        "rule 5.4.1.5: no m.room.third_party_invite event with state_key {0} in the room state"
    )]
    ThirdPartyInviteNotFound(String),
    #[error("rule 5.4.1.6: {sender} did not send the m.room.third_party_invite it redeems")]
    ThirdPartyInviteSenderMismatch { sender: String },
    #[error(
        "rule 5.4.1.8: no signature in signed matches a public key of the m.room.third_party_invite"
    )]
    ThirdPartyInviteBadSignature,
    #[error("rule 5.4.2: {0} is not joined, so cannot invite")]
    InviterNotJoined(String),
    #[error("rule 5.4.3: {target} is already {membership}, so cannot be invited")]
    InviteTargetJoinedOrBanned { target: String, membership: String },
    #[error("rule 5.4.4: inviting needs the invite level {required}, sender has {actual}")]
    InviteNeedsInviteLevel { required: Power, actual: Power },
    #[error("rule 5.5.1: {user} cannot leave from membership {membership:?}")]
    LeaveFromInvalidMembership { user: String, membership: String },
    #[error("rule 5.5.2 / 5.6.1: {0} is not joined, so cannot change another user's membership")]
    SenderNotJoinedForMembershipChange(String),
    #[error("rule 5.5.3: unbanning needs the ban level {required}, sender has {actual}")]
    UnbanNeedsBanLevel { required: Power, actual: Power },
    #[error(
        "rule 5.5.4: kicking needs the kick level {required} and more power than the target ({target}), sender has {actual}"
    )]
    KickNotAllowed {
        required: Power,
        target: Power,
        actual: Power,
    },
    #[error(
        "rule 5.6.2: banning needs the ban level {required} and more power than the target ({target}), sender has {actual}"
    )]
    BanNotAllowed {
        required: Power,
        target: Power,
        actual: Power,
    },
    #[error("rule 5.7.1: join rule {0:?} does not allow knocking")]
    KnockNotAllowed(String),
    #[error("rule 5.7.2: {sender} cannot knock on behalf of {target}")]
    KnockForOtherUser { sender: String, target: String },
    #[error("rule 5.7.4: {user} cannot knock while {membership}")]
    KnockFromInvalidMembership { user: String, membership: String },
    #[error("rule 5.8: unknown membership {0:?}")]
    UnknownMembership(String),

    // Rules 6 to 9.
    #[error("rule 6: sender {0} is not joined to the room")]
    SenderNotJoined(String),
    #[error(
        "rule 7.1: sending m.room.third_party_invite needs the invite level {required}, sender has {actual}"
    )]
    ThirdPartyInviteEventNeedsInviteLevel { required: Power, actual: Power },
    #[error("rule 8: sending {event_type} needs power level {required}, sender has {actual}")]
    InsufficientPower {
        event_type: String,
        required: Power,
        actual: Power,
    },
    #[error("rule 9: state_key {state_key} belongs to another user than sender {sender}")]
    StateKeyOfOtherUser { state_key: String, sender: String },

    // Rule 10: m.room.power_levels.
    #[error("rule 10.1: power levels property {0} is not an integer")]
    PowerLevelNotInteger(String),
    #[error("rule 10.2: power levels property {0} is not an object of integers")]
    PowerLevelMapNotIntegers(String),
    #[error("rule 10.3: power levels users key {0:?} is not a valid user ID")]
    PowerLevelUserIdInvalid(String),
    #[error("rule 10.4: room creator {0} must not appear in power levels users")]
    PowerLevelUsersContainsCreator(String),
    #[error("rule 10.6: changing {field} from {current} to {new} exceeds sender power {actual}")]
    PowerLevelChangeTooHigh {
        field: String,
        current: String,
        new: String,
        actual: Power,
    },
    #[error(
        "rule 10.9: cannot change the power level of {user}, which is at least the sender's {actual}"
    )]
    PowerLevelOfPeerOrSuperior { user: String, actual: Power },

    // Inputs that are not well-formed enough to evaluate a rule.
    #[error("sender {0:?} is not a valid user ID")]
    InvalidSender(String),
    #[error("{0} of the room state is malformed")]
    MalformedState(&'static str),
}
