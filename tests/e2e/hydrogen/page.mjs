// The browser side of the Hydrogen end-to-end test: Hydrogen's own client, session, room and
// timeline classes (hydrogen-view-sdk), bundled by esbuild and loaded by index.html. The driver
// (run_hydrogen.mjs) calls the steps on `window.hydrogenSteps` one at a time with Playwright.

import {
    Client,
    FeatureSet,
    LoadStatus,
    Platform,
    RoomViewModel,
    TimelineView,
    createNavigation,
    createRouter,
    viewClassForTile,
} from "hydrogen-view-sdk";

/** The longest any one step may wait for the homeserver. */
const STEP_LIMIT_MS = 30000;

const app = document.getElementById("app");
const platform = new Platform({
    container: app,
    assetPaths: {
        // Olm (WebAssembly) as the Hydrogen app ships it, so the login also uploads device keys.
        olm: { wasm: "/olm.wasm", wasmBundle: "/olm.js", legacyBundle: "/olm_legacy.js" },
        // Hydrogen needs its service worker: it keeps the access token for media requests.
        serviceWorker: "/sw.js",
    },
    config: {},
    options: { development: false },
});
const navigation = createNavigation();
platform.setNavigation(navigation);
const urlRouter = createRouter({ navigation, history: platform.history });
const client = new Client(platform);

/** Resolves with `probe()`'s value once it is truthy; polls, since it spans several models. */
async function until(probe, what) {
    const deadline = Date.now() + STEP_LIMIT_MS;
    for (;;) {
        const value = probe();
        if (value) {
            return value;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

function room(roomId) {
    const found = client.session.rooms.get(roomId);
    if (!found) {
        throw new Error(`Hydrogen has no room ${roomId}`);
    }
    return found;
}

const timelines = new Map();

function entries(roomId) {
    return [...timelines.get(roomId).entries];
}

/** What a timeline shows, oldest first: one line per event, "type sender body". */
function describe(roomId) {
    return entries(roomId)
        .filter((entry) => entry.eventType)
        .map((entry) => `${entry.eventType} ${entry.sender} ${entry.content?.body ?? ""}`.trim());
}

window.hydrogenSteps = {
    /** Password login through Hydrogen's login flow, then its first sync. */
    async login(homeserver, username, password) {
        await platform.init();
        urlRouter.attach();
        const options = await client.queryLogin(homeserver).result;
        if (!options.password) {
            throw new Error("the homeserver offers no password login");
        }
        await client.startWithLogin(options.password(username, password));
        await client.loadStatus.waitFor(
            (status) =>
                status === LoadStatus.Ready ||
                status === LoadStatus.Error ||
                status === LoadStatus.LoginFailed,
        ).promise;
        if (client.loginFailure) {
            throw new Error(`login failed: ${client.loginFailure}`);
        }
        if (client.loadError) {
            throw client.loadError;
        }
        const stored = await platform.sessionInfoStorage.get(client.sessionId);
        return { userId: stored.userId, deviceId: stored.deviceId, accessToken: stored.accessToken };
    },

    /** Waits for the invite to come down /sync and accepts it; resolves once joined. */
    async acceptInvite(roomId) {
        const invite = await until(() => client.session.invites.get(roomId), `the invite to ${roomId}`);
        const inviter = invite.inviter?.userId;
        await invite.accept();
        await until(() => client.session.rooms.get(roomId), `joining ${roomId}`);
        return { inviter, name: room(roomId).name };
    },

    /** Opens the room as Hydrogen's room view model does and renders its timeline view. */
    async openTimeline(roomId) {
        const viewModel = new RoomViewModel({
            room: room(roomId),
            ownUserId: client.session.userId,
            platform,
            urlRouter,
            navigation,
            features: await FeatureSet.load(platform.settingsStorage),
        });
        await viewModel.load();
        app.appendChild(new TimelineView(viewModel.timelineViewModel, viewClassForTile).mount());
        // The view model's timeline, shared: a room has one open timeline at a time.
        timelines.set(roomId, await room(roomId).openTimeline());
        return describe(roomId);
    },

    /** Fills the gap at the top of the timeline through /messages until the room's creation
     * is reached; returns how many pages it took and the timeline then. */
    async scrollBackToCreation(roomId) {
        let pages = 0;
        while (!describe(roomId).some((line) => line.startsWith("m.room.create "))) {
            const gap = entries(roomId).find((entry) => entry.isGap);
            if (!gap) {
                throw new Error(`no gap to fill, and no creation event in ${describe(roomId)}`);
            }
            await room(roomId).fillGap(gap, 10);
            pages += 1;
            if (pages > 20) {
                throw new Error("still no creation event after 20 pages");
            }
        }
        return { pages, timeline: describe(roomId) };
    },

    /** Sends a text message and waits until the homeserver's echo replaces the local one. */
    async send(roomId, body) {
        await room(roomId).sendEvent("m.room.message", { msgtype: "m.text", body });
        const sent = await until(
            () =>
                entries(roomId).find(
                    (entry) => entry.content?.body === body && entry.id?.startsWith?.("$"),
                ),
            `the remote echo of "${body}"`,
        );
        return sent.id;
    },

    /** Waits for a message from someone else to arrive by /sync and be rendered. */
    async waitForMessage(roomId, body) {
        const received = await until(
            () => entries(roomId).find((entry) => entry.content?.body === body),
            `"${body}" in the timeline`,
        );
        await until(() => app.textContent.includes(body), `"${body}" on the page`);
        return received.sender;
    },

    /** Logs out through Hydrogen (deletes the device's access token on the node). */
    async logout() {
        await client.startLogout(client.sessionId);
    },
};
window.hydrogenReady = true;
