// Rooms with matrix-js-sdk against a running Flotilla node.
//
// Two users register through interactive auth (m.login.dummy); the first creates a room with
// an alias and invites the second, who looks the alias up and joins by it; both run the SDK's
// sync loop and the second sees three messages arrive in order; a client that starts with a
// short initial timeline scrolls back through /messages to the room's creation; logout
// invalidates the token.
//
// Usage: node rooms_and_sync.mjs HOMESERVER_URL
// Exits 0 when every step behaved as the Matrix spec says, 1 with a message otherwise.

import * as sdk from "matrix-js-sdk";
import { PASSWORD, afterSync, check, main, startSyncing, until } from "./support.mjs";

/** Messages sent before a reader scrolls back through them. */
const HISTORY = 11;

async function register(homeserver, name) {
    const anonymous = sdk.createClient({ baseUrl: homeserver });
    const auth = new sdk.InteractiveAuth({
        matrixClient: anonymous,
        doRequest: (authDict) =>
            anonymous.registerRequest({
                username: name,
                password: PASSWORD,
                initial_device_display_name: `${name} e2e`,
                auth: authDict ?? undefined,
            }),
        stateUpdated: (stage) => {
            throw new Error(`registration asked for the stage ${stage}`);
        },
        requestEmailToken: () => {
            throw new Error("registration asked for an email token");
        },
    });
    const registered = await auth.attemptAuth();
    check(registered.user_id.startsWith(`@${name}:`), `registered as ${registered.user_id}`);
    check(registered.access_token && registered.device_id, "registration gave a token and device");
    return sdk.createClient({
        baseUrl: homeserver,
        userId: registered.user_id,
        accessToken: registered.access_token,
        deviceId: registered.device_id,
    });
}

function messageBodies(room) {
    return room
        .getLiveTimeline()
        .getEvents()
        .filter((event) => event.getType() === "m.room.message")
        .map((event) => event.getContent().body);
}

async function inviteAndJoin(alice, bob) {
    const { room_id: roomId } = await alice.createRoom({
        name: "Chart room",
        preset: sdk.Preset.PrivateChat,
        room_alias_name: "chart-room",
    });
    const alias = `#chart-room:${alice.getDomain()}`;
    const resolved = await bob.getRoomIdForAlias(alias);
    check(resolved.room_id === roomId, `${alias} resolves to ${resolved.room_id}`);
    await alice.invite(roomId, bob.getUserId());
    await afterSync(
        bob,
        () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite,
        "bob's invite",
    );
    await bob.joinRoom(alias);
    await afterSync(
        bob,
        () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Join,
        "bob's join coming back through sync",
    );
    const room = bob.getRoom(roomId);
    await room.loadMembersIfNeeded();
    check(room.getJoinedMemberCount() === 2, `bob counts ${room.getJoinedMemberCount()} members`);
    check(room.name === "Chart room", `bob sees the room named ${room.name}`);
    check(room.getCanonicalAlias() === alias, `the canonical alias is ${room.getCanonicalAlias()}`);
    const bobsJoin = room.currentState.getStateEvents("m.room.member", bob.getUserId());
    check(
        bobsJoin.getPrevContent().membership === sdk.KnownMembership.Invite,
        `bob's join replaced ${JSON.stringify(bobsJoin.getPrevContent())}`,
    );
    check(
        room.getMember(alice.getUserId())?.membership === sdk.KnownMembership.Join,
        "bob sees alice as a member",
    );
    console.log(`bob joined ${roomId}`);
    return roomId;
}

async function messagesArriveInOrder(alice, bob, roomId) {
    const bodies = ["one", "two", "three"];
    const received = [];
    const collect = (event, room, toStartOfTimeline) => {
        if (room?.roomId === roomId && !toStartOfTimeline && event.getType() === "m.room.message") {
            received.push(event.getContent().body);
        }
    };
    bob.on(sdk.RoomEvent.Timeline, collect);
    for (const body of bodies) {
        await alice.sendTextMessage(roomId, body);
    }
    await until(bob, sdk.RoomEvent.Timeline, () => received.length >= bodies.length, "three messages");
    bob.off(sdk.RoomEvent.Timeline, collect);
    check(
        JSON.stringify(received) === JSON.stringify(bodies),
        `bob received ${JSON.stringify(received)}`,
    );
    console.log("three messages arrived in order through the sync loop");
    return bodies;
}

async function scrollbackToCreation(homeserver, alice, roomId, earlier) {
    const history = Array.from({ length: HISTORY }, (_, i) => `h${i}`);
    for (const body of history) {
        await alice.sendTextMessage(roomId, body);
    }
    const reader = sdk.createClient({
        baseUrl: homeserver,
        userId: alice.getUserId(),
        accessToken: alice.getAccessToken(),
        deviceId: alice.getDeviceId(),
    });
    await startSyncing(reader, { initialSyncLimit: 3 });
    const room = reader.getRoom(roomId);
    check(messageBodies(room).length <= 3, "the initial timeline is limited");
    let pages = 0;
    while (room.oldState.paginationToken !== null && pages < 50) {
        await reader.scrollback(room, 4);
        pages += 1;
    }
    const expected = [...earlier, ...history];
    const seen = messageBodies(room);
    check(JSON.stringify(seen) === JSON.stringify(expected), `scrolled back to ${JSON.stringify(seen)}`);
    const first = room.getLiveTimeline().getEvents()[0];
    check(first.getType() === "m.room.create", `the timeline starts with ${first.getType()}`);
    reader.stopClient();
    console.log(`scrolled back ${seen.length} messages in ${pages} pages to the room's creation`);
}

async function logoutInvalidates(homeserver, bob) {
    const token = bob.getAccessToken();
    await bob.logout(true);
    const stale = sdk.createClient({ baseUrl: homeserver, accessToken: token });
    try {
        await stale.whoami();
    } catch (error) {
        check(error.errcode === "M_UNKNOWN_TOKEN", `whoami after logout: ${error.errcode}`);
        console.log("logout invalidated the token");
        return;
    }
    throw new Error("whoami succeeded after logout");
}

async function run(homeserver) {
    const alice = await register(homeserver, "js-alice");
    const bob = await register(homeserver, "js-bob");
    try {
        await startSyncing(alice, { initialSyncLimit: 10 });
        // Bob's client lazy-loads members, as Element does.
        await startSyncing(bob, { initialSyncLimit: 10, lazyLoadMembers: true });
        const roomId = await inviteAndJoin(alice, bob);
        const earlier = await messagesArriveInOrder(alice, bob, roomId);
        await scrollbackToCreation(homeserver, alice, roomId, earlier);
        await logoutInvalidates(homeserver, bob);
    } finally {
        alice.stopClient();
        bob.stopClient();
    }
}

await main("rooms_and_sync.mjs", run);
