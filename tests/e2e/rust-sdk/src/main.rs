//! matrix-rust-sdk against a running Flotilla node, doing what a crew's clients do.
//!
//! Two users register through interactive authentication (m.login.dummy); the first also logs
//! in with its password on a second device. In a plain room the first invites the second, who
//! joins; three messages arrive in order through `/sync`, and the room's history pages back to
//! its creation. In an encrypted room (device and one-time keys uploaded, queried and claimed,
//! room keys shared to-device) a message from each side decrypts on the other, and each user's
//! cross-signing identity (bootstrapped at registration) signs their device. Logging the
//! second device out invalidates its access token and leaves the first device's working.
//!
//! Usage: flotilla-e2e-rust-sdk HOMESERVER_URL
//! Exits 0 when every step held, 1 with the failed step on stderr otherwise.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::{TimelineEvent, TimelineEventKind};
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::api::client::account::register::v3::Request as RegistrationRequest;
use matrix_sdk::ruma::api::client::room::create_room::v3::{
    Request as CreateRoomRequest, RoomPreset,
};
use matrix_sdk::ruma::api::client::uiaa::{AuthData, Dummy};
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{OwnedRoomId, RoomId, UInt, UserId};
use matrix_sdk::sync::SyncResponse;
use matrix_sdk::{Client, Room, RoomState};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

const PASSWORD: &str = "correct horse battery staple";

/// How long one step (an invite arriving, a message decrypting) may take before it has failed.
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// How long one `/sync` long-polls when nothing is new.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    // The SDK's own warnings (a request that failed, a key that did not decrypt) go to stderr,
    // which the test shows when a step fails; RUST_LOG asks for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Some(homeserver) = std::env::args().nth(1) else {
        eprintln!("usage: flotilla-e2e-rust-sdk HOMESERVER_URL");
        return ExitCode::FAILURE;
    };
    match run(&homeserver).await {
        Ok(()) => {
            println!("matrix-rust-sdk: every step passed");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("matrix-rust-sdk: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(homeserver: &str) -> Result<()> {
    let alice = registered(homeserver, "sdk-alice").await?;
    let bob = registered(homeserver, "sdk-bob").await?;
    let alice_elsewhere = logged_in(homeserver, "sdk-alice").await?;
    // An initial sync each: the rooms so far, and the token later syncs continue from.
    for client in [&alice, &bob] {
        client
            .sync_once(sync_settings())
            .await
            .context("first sync")?;
    }
    let room_id = plain_room_in_order(&alice, &bob).await?;
    history_back_to_creation(&bob, &room_id).await?;
    encrypted_room(&alice, &bob).await?;
    logout_invalidates_only_that_token(homeserver, alice_elsewhere, &alice).await?;
    Ok(())
}

fn sync_settings() -> SyncSettings {
    SyncSettings::default().timeout(SYNC_TIMEOUT)
}

async fn new_client(homeserver: &str) -> Result<Client> {
    Client::builder()
        .homeserver_url(homeserver)
        .build()
        .await
        .context("building a client")
}

/// Registers `name` the way a client without a registration UI does: the first request learns
/// the interactive-auth session and flows, the second completes the m.login.dummy stage.
async fn registered(homeserver: &str, name: &str) -> Result<Client> {
    let client = new_client(homeserver).await?;
    let mut request = RegistrationRequest::new();
    request.username = Some(name.to_owned());
    request.password = Some(PASSWORD.to_owned());
    let challenge = match client.matrix_auth().register(request.clone()).await {
        Ok(_) => bail!("registering {name} succeeded without interactive authentication"),
        Err(error) => error
            .as_uiaa_response()
            .cloned()
            .with_context(|| format!("registering {name}: {error}"))?,
    };
    let offers_dummy = challenge.flows.iter().any(|flow| {
        flow.stages
            .iter()
            .any(|stage| stage.as_str() == "m.login.dummy")
    });
    ensure!(
        offers_dummy,
        "registration offers no m.login.dummy flow: {challenge:?}"
    );
    let mut dummy = Dummy::new();
    dummy.session = challenge.session;
    request.auth = Some(AuthData::Dummy(dummy));
    let response = client
        .matrix_auth()
        .register(request)
        .await
        .with_context(|| format!("registering {name} with m.login.dummy"))?;
    ensure!(
        client.user_id() == Some(&*response.user_id),
        "the client is not logged in as the registered {}",
        response.user_id
    );
    client
        .encryption()
        .wait_for_e2ee_initialization_tasks()
        .await;
    // What Element X does on first login: master, self-signing and user-signing keys, and the
    // device signed with the self-signing key. A first upload needs no re-authentication.
    client
        .encryption()
        .bootstrap_cross_signing_if_needed(None)
        .await
        .with_context(|| format!("bootstrapping cross-signing for {name}"))?;
    Ok(client)
}

/// A second device of an existing user, by password login.
async fn logged_in(homeserver: &str, name: &str) -> Result<Client> {
    let client = new_client(homeserver).await?;
    client
        .matrix_auth()
        .login_username(name, PASSWORD)
        .initial_device_display_name("second device")
        .send()
        .await
        .with_context(|| format!("logging in as {name}"))?;
    let whoami = client.whoami().await.context("whoami after login")?;
    ensure!(
        whoami.user_id.localpart() == name,
        "whoami after logging in as {name} says {}",
        whoami.user_id
    );
    Ok(client)
}

/// Syncs `client` until `found` picks its answer out of a response, within [`STEP_LIMIT`].
async fn sync_until<T>(
    client: &Client,
    what: &str,
    mut found: impl FnMut(&Client, &SyncResponse) -> Option<T>,
) -> Result<T> {
    let waiting = async {
        loop {
            let response = client
                .sync_once(sync_settings())
                .await
                .with_context(|| format!("syncing while waiting for {what}"))?;
            if let Some(answer) = found(client, &response) {
                return Ok(answer);
            }
        }
    };
    tokio::time::timeout(STEP_LIMIT, waiting)
        .await
        .map_err(|_| anyhow!("{what} did not arrive within {STEP_LIMIT:?}"))?
}

/// Alice creates a room and invites Bob, who joins; three messages reach Bob in order.
async fn plain_room_in_order(alice: &Client, bob: &Client) -> Result<OwnedRoomId> {
    let mut request = CreateRoomRequest::new();
    request.name = Some("Bridge".to_owned());
    request.preset = Some(RoomPreset::PrivateChat);
    request.invite = vec![user_id(bob)?.to_owned()];
    let room = alice
        .create_room(request)
        .await
        .context("creating a room")?;
    let room_id = room.room_id().to_owned();
    joined_after_invite(alice, bob, &room_id).await?;

    let sent = ["first watch", "second watch", "third watch"];
    for body in sent {
        room.send(RoomMessageEventContent::text_plain(body))
            .await
            .with_context(|| format!("sending {body:?}"))?;
    }
    let mut received = Vec::new();
    sync_until(bob, "three messages", |_, response| {
        let timeline = &response.rooms.joined.get(&room_id)?.timeline;
        received.extend(timeline.events.iter().filter_map(message_body));
        (received.len() >= sent.len()).then_some(())
    })
    .await?;
    ensure!(
        received == sent,
        "messages arrived as {received:?}, sent as {sent:?}"
    );
    Ok(room_id)
}

/// Bob waits for the invite to `room_id`, joins, and Alice sees him join.
async fn joined_after_invite(alice: &Client, bob: &Client, room_id: &RoomId) -> Result<Room> {
    let invited = sync_until(bob, "the invite", |client, _| {
        client
            .get_room(room_id)
            .filter(|room| room.state() == RoomState::Invited)
    })
    .await?;
    invited.join().await.context("joining after the invite")?;
    let bob_id = user_id(bob)?.to_owned();
    sync_until(alice, "Bob's join", |_, response| {
        let timeline = &response.rooms.joined.get(room_id)?.timeline;
        timeline
            .events
            .iter()
            .any(|event| is_join_of(event, &bob_id))
            .then_some(())
    })
    .await?;
    bob.get_room(room_id)
        .filter(|room| room.state() == RoomState::Joined)
        .context("Bob's client does not count the room as joined")
}

/// Bob scrolls back through the room two events at a time until its creation.
async fn history_back_to_creation(bob: &Client, room_id: &RoomId) -> Result<()> {
    let room = bob
        .get_room(room_id)
        .context("Bob's client lost the room")?;
    let mut types = Vec::new();
    let mut bodies = Vec::new();
    let mut from = None;
    for _page in 0..50 {
        let mut options = MessagesOptions::backward();
        options.from = from;
        options.limit = UInt::from(2u32);
        let page = room
            .messages(options)
            .await
            .context("paginating backwards")?;
        for event in &page.chunk {
            types.push(field(event, "type").unwrap_or_default());
            bodies.extend(message_body(event));
        }
        match page.end {
            Some(end) if !page.chunk.is_empty() => from = Some(end),
            _ => break,
        }
    }
    ensure!(
        types.last().map(String::as_str) == Some("m.room.create"),
        "scrollback did not end at the room's creation: {types:?}"
    );
    ensure!(
        bodies == ["third watch", "second watch", "first watch"],
        "scrollback gave the messages as {bodies:?}"
    );
    Ok(())
}

/// In a room created encrypted, a message from each side decrypts on the other.
async fn encrypted_room(alice: &Client, bob: &Client) -> Result<()> {
    let mut request = CreateRoomRequest::new();
    request.preset = Some(RoomPreset::PrivateChat);
    request.invite = vec![user_id(bob)?.to_owned()];
    let encryption = RoomEncryptionEventContent::with_recommended_defaults();
    request.initial_state = vec![InitialStateEvent::with_empty_state_key(encryption).to_raw_any()];
    let alices_room = alice
        .create_room(request)
        .await
        .context("creating an encrypted room")?;
    let room_id = alices_room.room_id().to_owned();
    let bobs_room = joined_after_invite(alice, bob, &room_id).await?;
    for (who, room) in [("Alice", &alices_room), ("Bob", &bobs_room)] {
        let state = room.latest_encryption_state().await?;
        ensure!(
            state.is_encrypted(),
            "{who}'s client does not see the room encrypted"
        );
    }
    message_decrypts(&alices_room, bob, "the eagle flies at dawn").await?;
    message_decrypts(&bobs_room, alice, "the owl answers at dusk").await?;
    device_cross_signed_by_owner(bob, alice).await
}

/// `observer` sees `owner`'s cross-signing identity, and `owner`'s device signed by it.
async fn device_cross_signed_by_owner(observer: &Client, owner: &Client) -> Result<()> {
    let owner_id = user_id(owner)?;
    let identity = observer
        .encryption()
        .request_user_identity(owner_id)
        .await
        .context("querying a cross-signing identity")?;
    ensure!(
        identity.is_some(),
        "{owner_id} has no cross-signing identity"
    );
    let device_id = owner.device_id().context("the client has no device")?;
    let device = observer
        .encryption()
        .get_device(owner_id, device_id)
        .await
        .context("looking up a device")?
        .with_context(|| format!("{owner_id}'s device {device_id} is unknown"))?;
    ensure!(
        device.is_cross_signed_by_owner(),
        "{owner_id}'s device {device_id} is not signed by their self-signing key"
    );
    Ok(())
}

/// Sends `body` to `room` and waits until `recipient` decrypts it.
async fn message_decrypts(room: &Room, recipient: &Client, body: &str) -> Result<()> {
    let sent = room
        .send(RoomMessageEventContent::text_plain(body))
        .await
        .with_context(|| format!("sending {body:?} encrypted"))?;
    let room_id = room.room_id();
    let what = format!("{body:?} decrypted");
    let event = sync_until(recipient, &what, |_, response| {
        let timeline = &response.rooms.joined.get(room_id)?.timeline;
        timeline
            .events
            .iter()
            .find(|event| event.event_id().as_ref() == Some(&sent.response.event_id))
            .cloned()
    })
    .await?;
    match &event.kind {
        TimelineEventKind::Decrypted(_) => {}
        TimelineEventKind::UnableToDecrypt { utd_info, .. } => {
            bail!("{body:?} arrived but did not decrypt: {utd_info:?}")
        }
        TimelineEventKind::PlainText { .. } => bail!("{body:?} arrived unencrypted"),
    }
    ensure!(
        message_body(&event).as_deref() == Some(body),
        "the decrypted event is not the message sent: {:?}",
        event.raw()
    );
    Ok(())
}

/// Alice's second device logs out: its token is refused from then on, her first still works.
async fn logout_invalidates_only_that_token(
    homeserver: &str,
    device: Client,
    other_device: &Client,
) -> Result<()> {
    let session = device
        .matrix_auth()
        .session()
        .context("the second device has no session")?;
    device.matrix_auth().logout().await.context("logging out")?;
    let stale = new_client(homeserver).await?;
    stale
        .matrix_auth()
        .restore_session(session, Default::default())
        .await
        .context("restoring the logged-out session")?;
    match stale.whoami().await {
        Ok(response) => bail!("the logged-out token still works for {}", response.user_id),
        Err(error) => ensure!(
            matches!(
                error.client_api_error_kind(),
                Some(ErrorKind::UnknownToken(_))
            ),
            "the logged-out token was refused with {error}, not M_UNKNOWN_TOKEN"
        ),
    }
    other_device
        .whoami()
        .await
        .context("the first device's token stopped working")?;
    Ok(())
}

fn user_id(client: &Client) -> Result<&UserId> {
    client.user_id().context("the client is not logged in")
}

/// A top-level string field of the event as the client sees it (decrypted if it was).
fn field(event: &TimelineEvent, name: &str) -> Option<String> {
    event.raw().get_field::<String>(name).ok().flatten()
}

/// The body of an `m.room.message`.
fn message_body(event: &TimelineEvent) -> Option<String> {
    if field(event, "type")? != "m.room.message" {
        return None;
    }
    let content = event.raw().get_field::<Value>("content").ok()??;
    content.get("body")?.as_str().map(str::to_owned)
}

fn is_join_of(event: &TimelineEvent, user: &UserId) -> bool {
    let raw = event.raw();
    field(event, "type").as_deref() == Some("m.room.member")
        && field(event, "state_key").as_deref() == Some(user.as_str())
        && raw
            .get_field::<Value>("content")
            .ok()
            .flatten()
            .and_then(|content| content.get("membership").cloned())
            == Some(Value::from("join"))
}
