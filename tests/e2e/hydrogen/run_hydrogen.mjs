// Hydrogen in headless Chromium against a running Flotilla node.
//
// Bob (plain HTTP from Node.js) registers, creates a room, invites Alice and fills the room with
// history. Alice uses Hydrogen in the browser, served from another loopback origin so that
// every request is cross-origin: password login (which also uploads Olm device keys), first
// sync, the invite accepted, the room opened and rendered by Hydrogen's timeline view, the gap
// filled through /messages back to the room's creation, a message sent (and seen by Bob), a
// reply from Bob received by sync and shown on the page, and logout.
//
// Usage: node run_hydrogen.mjs HOMESERVER_URL
// Exits 0 when every step behaved as the Matrix spec says, 1 with a message otherwise.

import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const PASSWORD = "seven seas";
/** Messages Bob sends before Alice joins: more than one sync timeline or one page holds. */
const HISTORY = 25;
const CHROMIUM = process.env.FLOTILLA_CHROMIUM ?? "/usr/bin/chromium";

function check(condition, message) {
    if (!condition) {
        throw new Error(message);
    }
}

/** One Client-Server API call as Bob (or anonymously); returns the JSON body. */
async function api(homeserver, method, path, { token, body, expect = 200 } = {}) {
    const response = await fetch(`${homeserver}/_matrix/client/v3${path}`, {
        method,
        headers: {
            "Content-Type": "application/json",
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    check(
        response.status === expect,
        `${method} ${path}: ${response.status} ${JSON.stringify(json)} (expected ${expect})`,
    );
    return json;
}

/** Registration through interactive auth with the dummy stage. */
async function register(homeserver, username) {
    const challenge = await api(homeserver, "POST", "/register", {
        body: { username, password: PASSWORD },
        expect: 401,
    });
    const registered = await api(homeserver, "POST", "/register", {
        body: {
            username,
            password: PASSWORD,
            auth: { type: "m.login.dummy", session: challenge.session },
        },
    });
    return registered;
}

/** Bob's room, with Alice invited and `HISTORY` messages in it. */
async function bobsRoom(homeserver, bob, alice) {
    const { room_id: roomId } = await api(homeserver, "POST", "/createRoom", {
        token: bob.access_token,
        body: { name: "Chart room", preset: "private_chat", invite: [alice.user_id] },
    });
    for (let n = 1; n <= HISTORY; n += 1) {
        await say(homeserver, bob, roomId, `history ${n}`);
    }
    return roomId;
}

async function say(homeserver, user, roomId, body) {
    const txn = `${Date.now()}-${Math.random()}`;
    return api(
        homeserver,
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`,
        { token: user.access_token, body: { msgtype: "m.text", body } },
    );
}

/** The page, its bundle and the assets Hydrogen loads, on a loopback port of their own. */
async function servePage() {
    const sdk = join(HERE, "node_modules/hydrogen-view-sdk");
    const assets = join(sdk, "asset-build/assets");
    const olm = join(HERE, "node_modules/@matrix-org/olm");
    const bundle = await build({
        entryPoints: [join(HERE, "page.mjs")],
        bundle: true,
        format: "esm",
        platform: "browser",
        // Olm's Emscripten build asks for these only when it runs under Node.js.
        external: ["crypto", "fs", "path"],
        write: false,
        logLevel: "error",
    });
    const files = new Map([
        ["/", { type: "text/html", body: await readFile(join(HERE, "index.html")) }],
        ["/page.js", { type: "text/javascript", body: bundle.outputFiles[0].contents }],
        ["/olm.js", { type: "text/javascript", body: await readFile(join(olm, "olm.js")) }],
        ["/olm.wasm", { type: "application/wasm", body: await readFile(join(olm, "olm.wasm")) }],
        [
            "/olm_legacy.js",
            { type: "text/javascript", body: await readFile(join(olm, "olm_legacy.js")) },
        ],
        // Hydrogen's service worker: it hands the access token to authenticated media requests.
        [
            "/sw.js",
            { type: "text/javascript", body: await readFile(join(sdk, "lib-build/sw.js")) },
        ],
    ]);
    // The theme's stylesheet, fonts and icons, by their file names.
    for (const name of await readdir(assets)) {
        const type = name.endsWith(".css")
            ? "text/css"
            : name.endsWith(".svg")
              ? "image/svg+xml"
              : "application/octet-stream";
        files.set(`/${name}`, { type, body: await readFile(join(assets, name)) });
    }
    const server = createServer((request, response) => {
        const file = files.get(new URL(request.url, "http://page").pathname);
        if (!file) {
            response.writeHead(404).end();
            return;
        }
        response.writeHead(200, { "Content-Type": file.type }).end(file.body);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    return server;
}

/** Headless Chromium with a fresh profile (so IndexedDB starts empty). */
async function launchBrowser(profile) {
    return chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    });
}

/** Runs one step of page.mjs in the browser and returns its result. */
function step(page, name, ...args) {
    return page.evaluate(([name, args]) => window.hydrogenSteps[name](...args), [name, args]);
}

async function hydrogenSession(page, homeserver, bob, alice) {
    const roomId = await bobsRoom(homeserver, bob, alice);

    const session = await step(page, "login", homeserver, "alice", PASSWORD);
    check(session.userId === alice.user_id, `Hydrogen logged in as ${session.userId}`);
    const { device_keys: deviceKeys } = await api(homeserver, "POST", "/keys/query", {
        token: bob.access_token,
        body: { device_keys: { [alice.user_id]: [] } },
    });
    check(
        deviceKeys[alice.user_id]?.[session.deviceId],
        `Hydrogen's device ${session.deviceId} uploaded no Olm keys: ${JSON.stringify(deviceKeys)}`,
    );

    const invite = await step(page, "acceptInvite", roomId);
    check(invite.inviter === bob.user_id, `the invite came from ${invite.inviter}`);
    check(invite.name === "Chart room", `the joined room is called ${invite.name}`);

    const opened = await step(page, "openTimeline", roomId);
    check(
        opened.some((line) => line === `m.room.message ${bob.user_id} history ${HISTORY}`),
        `the opened timeline ends without the latest history: ${opened.join(" | ")}`,
    );
    const { pages, timeline } = await step(page, "scrollBackToCreation", roomId);
    const history = timeline.filter((line) => line.startsWith("m.room.message "));
    const expected = Array.from(
        { length: HISTORY },
        (_, n) => `m.room.message ${bob.user_id} history ${n + 1}`,
    );
    check(
        JSON.stringify(history) === JSON.stringify(expected),
        `after ${pages} pages the history reads ${history.join(" | ")}`,
    );
    check(timeline[0].startsWith("m.room.create "), `the timeline starts with ${timeline[0]}`);
    check(pages > 0, "the whole history came with the first sync: nothing was paged back");
    console.log(`Hydrogen paged back to the room's creation in ${pages} /messages requests`);

    const sentId = await step(page, "send", roomId, "hello from Hydrogen");
    const { chunk } = await api(
        homeserver,
        "GET",
        `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=5`,
        { token: bob.access_token },
    );
    check(
        chunk.some((event) => event.event_id === sentId && event.sender === alice.user_id),
        `Bob's /messages lacks Hydrogen's message ${sentId}: ${JSON.stringify(chunk)}`,
    );

    await say(homeserver, bob, roomId, "reply from Bob");
    const sender = await step(page, "waitForMessage", roomId, "reply from Bob");
    check(sender === bob.user_id, `the reply arrived from ${sender}`);

    if (process.env.FLOTILLA_HYDROGEN_SCREENSHOT) {
        await page.screenshot({ path: process.env.FLOTILLA_HYDROGEN_SCREENSHOT, fullPage: true });
    }

    await step(page, "logout");
    await api(homeserver, "GET", "/account/whoami", { token: session.accessToken, expect: 401 });
}

async function main() {
    if (process.argv.length !== 3) {
        console.error("usage: node run_hydrogen.mjs HOMESERVER_URL");
        process.exit(2);
    }
    const homeserver = process.argv[2];
    const profile = await mkdtemp(join(tmpdir(), "flotilla-hydrogen-"));
    let server;
    let browser;
    try {
        const alice = await register(homeserver, "alice");
        const bob = await register(homeserver, "bob");
        server = await servePage();
        browser = await launchBrowser(profile);
        const page = await browser.newPage();
        page.on("pageerror", (error) => console.error(`page error: ${error.stack ?? error}`));
        page.on("response", (response) => {
            if (response.status() >= 400) {
                console.error(`page request: ${response.status()} ${response.url()}`);
            }
        });
        page.on("console", (message) => {
            if (message.type() === "error") {
                console.error(`page console: ${message.text()}`);
            }
        });
        await page.goto(`http://127.0.0.1:${server.address().port}/`);
        await page.waitForFunction(() => window.hydrogenReady === true);
        await hydrogenSession(page, homeserver, bob, alice);
        console.log("ok");
    } catch (failure) {
        console.error(`FAILED: ${failure.stack ?? failure}`);
        process.exitCode = 1;
    } finally {
        await browser?.close();
        server?.close();
        await rm(profile, { recursive: true, force: true });
    }
}

await main();
