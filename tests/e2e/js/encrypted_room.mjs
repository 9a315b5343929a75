// An end-to-end encrypted room with matrix-js-sdk's Rust crypto against a running Flotilla node.
//
// Two users register, each with the SDK's crypto (device keys and one-time keys uploaded);
// the first creates an encrypted room and invites the second, who joins; a message sent
// encrypted (keys queried and claimed, the room key shared by to-device messages) arrives and
// decrypts on the other side.
//
// Usage: node encrypted_room.mjs HOMESERVER_URL
// Exits 0 when the message decrypted, 1 with a message otherwise.

import * as sdk from "matrix-js-sdk";
import { PASSWORD, STEP_LIMIT_MS, afterSync, check, main, startSyncing } from "./support.mjs";

async function registeredWithCrypto(homeserver, name) {
    const anonymous = sdk.createClient({ baseUrl: homeserver });
    const registered = await anonymous.registerRequest({
        username: name,
        password: PASSWORD,
        auth: { type: "m.login.dummy" },
    });
    const client = sdk.createClient({
        baseUrl: homeserver,
        userId: registered.user_id,
        accessToken: registered.access_token,
        deviceId: registered.device_id,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    await startSyncing(client, { initialSyncLimit: 10 });
    return client;
}

/** Waits until bob's client has uploaded its device keys, which it does after its first sync. */
async function bobsKeysPublished(alice, bob) {
    const deadline = Date.now() + STEP_LIMIT_MS;
    while (Date.now() < deadline) {
        const keys = await alice.downloadKeysForUsers([bob.getUserId()]);
        if (keys.device_keys?.[bob.getUserId()]?.[bob.getDeviceId()]) {
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("bob's device keys never appeared in /keys/query");
}

async function run(homeserver) {
    const alice = await registeredWithCrypto(homeserver, "crypto-alice");
    const bob = await registeredWithCrypto(homeserver, "crypto-bob");
    try {
        await bobsKeysPublished(alice, bob);
        const { room_id: roomId } = await alice.createRoom({
            preset: sdk.Preset.PrivateChat,
            invite: [bob.getUserId()],
            initial_state: [
                {
                    type: "m.room.encryption",
                    state_key: "",
                    content: { algorithm: "m.megolm.v1.aes-sha2" },
                },
            ],
        });
        await afterSync(
            bob,
            () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite,
            "bob's invite",
        );
        await bob.joinRoom(roomId);
        await afterSync(
            alice,
            () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join",
            "alice seeing bob join",
        );
        check(await alice.getCrypto().isEncryptionEnabledInRoom(roomId), "the room is encrypted");

        const decrypted = [];
        bob.on(sdk.MatrixEventEvent.Decrypted, (event) => {
            if (event.getRoomId() === roomId && event.getType() === "m.room.message") {
                decrypted.push(event.getContent().body);
            }
        });
        const sent = await alice.sendTextMessage(roomId, "the eagle flies at dawn");
        const raw = await alice.fetchRoomEvent(roomId, sent.event_id);
        check(raw.type === "m.room.encrypted", `the server holds a ${raw.type}`);
        await afterSync(bob, () => decrypted.length > 0, "bob decrypting");
        check(decrypted[0] === "the eagle flies at dawn", `bob decrypted ${decrypted[0]}`);
        console.log("an encrypted message arrived and decrypted");
    } finally {
        alice.stopClient();
        bob.stopClient();
    }
}

await main("encrypted_room.mjs", run);
