"""Rooms with matrix-nio against a running Flotilla node.

Two users register; the first creates a room and invites the second, who joins; three
messages arrive in order through incremental long-poll sync; /messages pages backwards and
forwards across several pages; an uploaded image downloads byte for byte; logout invalidates
the token.

Usage: python rooms_and_sync.py HOMESERVER_URL
Exits 0 when every step behaved as the Matrix spec says, 1 with a message otherwise.
"""

import asyncio
import io
import sys
import time

from nio import (
    AsyncClient,
    InviteInfo,
    JoinResponse,
    LogoutResponse,
    MemoryDownloadResponse,
    MessageDirection,
    RegisterResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
    WhoamiError,
)

PASSWORD = "seven seas"
PAGE = 4
HISTORY = 11


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


async def registered(homeserver: str, name: str) -> AsyncClient:
    client = AsyncClient(homeserver, name)
    response = await client.register(name, PASSWORD, f"{name} e2e")
    check(isinstance(response, RegisterResponse), f"register {name}: {response}")
    return client


async def send_text(client: AsyncClient, room_id: str, body: str) -> str:
    response = await client.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": body}
    )
    check(isinstance(response, RoomSendResponse), f"send {body}: {response}")
    return response.event_id


def texts(events) -> list:
    return [event.body for event in events if isinstance(event, RoomMessageText)]


async def invite_and_join(alice: AsyncClient, bob: AsyncClient) -> str:
    created = await alice.room_create(name="Chart room")
    check(isinstance(created, RoomCreateResponse), f"createRoom: {created}")
    room_id = created.room_id
    first = await bob.sync(timeout=0)
    check(isinstance(first, SyncResponse), f"bob's initial sync: {first}")
    invited = await alice.room_invite(room_id, bob.user_id)
    check(isinstance(invited, RoomInviteResponse), f"invite: {invited}")
    invite_sync = await bob.sync(timeout=5000)
    check(isinstance(invite_sync, SyncResponse), f"bob's invite sync: {invite_sync}")
    check(room_id in invite_sync.rooms.invite, f"no invite in {invite_sync.rooms}")
    own = [
        event
        for event in invite_sync.rooms.invite[room_id].invite_state
        if isinstance(event, InviteInfo) or getattr(event, "state_key", None) == bob.user_id
    ]
    check(own, "the invite state holds bob's member event")
    joined = await bob.join(room_id)
    check(isinstance(joined, JoinResponse), f"join: {joined}")
    check(joined.room_id == room_id, f"joined {joined.room_id}, not {room_id}")
    print(f"bob joined {room_id}")
    return room_id


async def messages_arrive_in_order(alice: AsyncClient, bob: AsyncClient, room_id: str) -> None:
    caught_up = await bob.sync(timeout=0)
    check(isinstance(caught_up, SyncResponse), f"sync: {caught_up}")
    bodies = ["one", "two", "three"]

    async def send_later() -> None:
        await asyncio.sleep(0.3)
        for body in bodies:
            await send_text(alice, room_id, body)

    sender = asyncio.create_task(send_later())
    received = []
    deadline = time.monotonic() + 30
    while len(received) < len(bodies) and time.monotonic() < deadline:
        started = time.monotonic()
        response = await bob.sync(timeout=10000)
        check(isinstance(response, SyncResponse), f"long-poll sync: {response}")
        room = response.rooms.join.get(room_id)
        if room is None:
            check(time.monotonic() - started > 0.2 or received, "an empty sync returned early")
            continue
        received.extend(texts(room.timeline.events))
    await sender
    check(received == bodies, f"received {received}, expected {bodies}")
    print("three messages arrived in order through long-poll sync")


async def pages(client: AsyncClient, room_id: str, start: str, direction) -> list:
    collected = []
    token = start
    page_count = 0
    while True:
        response = await client.room_messages(room_id, token, direction=direction, limit=PAGE)
        check(isinstance(response, RoomMessagesResponse), f"messages: {response}")
        page_count += 1
        collected.extend(texts(response.chunk))
        if not response.end or not response.chunk or page_count > 50:
            break
        token = response.end
    check(page_count >= 3, f"only {page_count} pages")
    return collected


async def history_pages(alice: AsyncClient, room_id: str) -> None:
    history = [f"h{i}" for i in range(HISTORY)]
    for body in history:
        await send_text(alice, room_id, body)
    latest = await alice.sync(timeout=0)
    check(isinstance(latest, SyncResponse), f"sync: {latest}")
    backwards = await pages(alice, room_id, latest.next_batch, MessageDirection.back)
    check(
        backwards[: len(history)] == list(reversed(history)),
        f"backwards: {backwards}",
    )
    forwards = await pages(alice, room_id, "t0", MessageDirection.front)
    check(forwards[-len(history):] == history, f"forwards: {forwards}")
    print(f"/messages paged {len(backwards)} messages backwards and {len(forwards)} forwards")


async def image_round_trip(alice: AsyncClient, bob: AsyncClient) -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    uploaded, _ = await alice.upload(
        io.BytesIO(image), content_type="image/png", filename="chart.png", filesize=len(image)
    )
    check(isinstance(uploaded, UploadResponse), f"upload: {uploaded}")
    downloaded = await bob.download(uploaded.content_uri)
    check(isinstance(downloaded, MemoryDownloadResponse), f"download: {downloaded}")
    check(downloaded.body == image, f"downloaded {len(downloaded.body)} bytes")
    check(downloaded.content_type == "image/png", f"type {downloaded.content_type}")
    print(f"{len(image)} bytes uploaded and downloaded as {uploaded.content_uri}")


async def logout_invalidates(client: AsyncClient) -> None:
    token = client.access_token
    response = await client.logout()
    check(isinstance(response, LogoutResponse), f"logout: {response}")
    client.access_token = token
    whoami = await client.whoami()
    check(isinstance(whoami, WhoamiError), f"whoami after logout: {whoami}")
    check(whoami.status_code == "M_UNKNOWN_TOKEN", f"whoami error {whoami.status_code}")
    print("logout invalidated the token")


async def run(homeserver: str) -> None:
    alice = await registered(homeserver, "nio-alice")
    bob = await registered(homeserver, "nio-bob")
    try:
        room_id = await invite_and_join(alice, bob)
        await messages_arrive_in_order(alice, bob, room_id)
        await history_pages(alice, room_id)
        await image_round_trip(alice, bob)
        await logout_invalidates(bob)
    finally:
        await alice.close()
        await bob.close()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(run(sys.argv[1]))
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
