// What the end-to-end scripts share: checks, waiting for client events, and running a
// script's steps against the homeserver URL given on the command line.

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

export const PASSWORD = "seven seas";
/** The longest any one step may take. */
export const STEP_LIMIT_MS = 30000;

// JSLOG=debug shows every request the SDK makes.
logger.setLevel(process.env.JSLOG ?? "warn");

export function check(condition, message) {
    if (!condition) {
        throw new Error(message);
    }
}

/** Resolves when `predicate` holds after one of `emitter`'s `event`s, or at once if it holds. */
export function until(emitter, event, predicate, what) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            emitter.off(event, listener);
            reject(new Error(`timed out waiting for ${what}`));
        }, STEP_LIMIT_MS);
        const listener = () => {
            if (predicate()) {
                clearTimeout(timer);
                emitter.off(event, listener);
                resolve();
            }
        };
        emitter.on(event, listener);
        listener();
    });
}

/** Resolves when `predicate` holds once the client has processed a sync response. Membership
 * events fire before a new room is stored, so rooms are looked at only after the whole sync. */
export function afterSync(client, predicate, what) {
    return until(client, sdk.ClientEvent.Sync, predicate, what);
}

/** Starts the client's sync loop and waits until its first sync is processed. */
export async function startSyncing(client, options) {
    const prepared = afterSync(
        client,
        () => client.getSyncState() === sdk.SyncState.Syncing,
        `${client.getUserId()}'s first sync`,
    );
    await client.startClient(options);
    await prepared;
}

/** Runs `steps(homeserverUrl)`; exits 0 when they succeed, 1 with the failure otherwise. */
export async function main(script, steps) {
    if (process.argv.length !== 3) {
        console.error(`usage: node ${script} HOMESERVER_URL`);
        process.exit(2);
    }
    try {
        await steps(process.argv[2]);
        console.log("ok");
        process.exit(0);
    } catch (failure) {
        console.error(`FAILED: ${failure.stack ?? failure}`);
        process.exit(1);
    }
}
