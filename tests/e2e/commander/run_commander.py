"""matrix-commander, the Matrix command-line client, against a running Flotilla node.

Two users register over plain HTTP; from then on every step is a matrix-commander command run
as a user would type it, with its credentials and its matrix-nio store (Olm and Megolm keys
included) in a temporary directory: password login, an encrypted room created with an alias,
an invite listed and accepted, a message each way read with --listen once (decrypted with the
room keys the clients exchanged through the node), history read back with --tail, room and
profile queries, and logout. After each step the node's own view is checked through the
Client-Server API: the room, its members, that what it stored is ciphertext, and the sessions.

Usage: python run_commander.py HOMESERVER_URL (with the venv's python, beside matrix-commander)
Exits 0 when every step behaved as the Matrix spec says, 1 with a message otherwise.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PASSWORD = "seven seas"
COMMANDER = Path(sys.executable).with_name("matrix-commander")
# The longest one command may take; a sync with an empty since-token takes about a second.
STEP_LIMIT_SECONDS = 60


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def api(homeserver, method, path, token=None, body=None, expect=200):
    """One Client-Server API call; returns the JSON body, checking the status."""
    request = urllib.request.Request(
        f"{homeserver}/_matrix/client/v3{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=STEP_LIMIT_SECONDS) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    answer = json.loads(text)
    check(status == expect, f"{method} {path}: {status} {answer} (expected {expect})")
    return answer


def register(homeserver, name):
    """Registration through interactive auth with the dummy stage. The device it makes gets a
    name: matrix-commander's --devices fails on a device without one."""
    body = {
        "username": name,
        "password": PASSWORD,
        "initial_device_display_name": f"{name}'s registration",
    }
    challenge = api(homeserver, "POST", "/register", body=body, expect=401)
    body["auth"] = {"type": "m.login.dummy", "session": challenge["session"]}
    return api(homeserver, "POST", "/register", body=body)["user_id"]


def quoted(identifier):
    return urllib.parse.quote(identifier, safe="")


class Commander:
    """One user's matrix-commander: its credentials file and store in `home`."""

    def __init__(self, homeserver, home, user_id):
        self.homeserver = homeserver
        self.user_id = user_id
        home.mkdir()
        # matrix-commander keeps PID files and looks for config under $HOME: the temporary one.
        self.environment = {**os.environ, "HOME": str(home)}
        self.credentials = home / "credentials.json"
        self.store = home / "store"

    def run(self, *arguments):
        """Runs one command; returns its standard output, failing unless it exits with 0."""
        command = [
            str(COMMANDER),
            "--credentials",
            str(self.credentials),
            "--store",
            str(self.store),
            *arguments,
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=self.environment,
            timeout=STEP_LIMIT_SECONDS,
        )
        check(
            done.returncode == 0,
            f"{' '.join(arguments)} exited with {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}",
        )
        return done.stdout

    def login(self, device_name, default_room):
        self.run(
            "--login", "password",
            "--homeserver", self.homeserver,
            "--user-login", self.user_id,
            "--password", PASSWORD,
            "--device", device_name,
            "--room-default", default_room,
        )  # fmt: skip
        saved = json.loads(self.credentials.read_text())
        check(saved["user_id"] == self.user_id, f"logged in as {saved['user_id']}")
        self.token = saved["access_token"]
        self.device_id = saved["device_id"]
        whoami = api(self.homeserver, "GET", "/account/whoami", self.token)
        check(whoami["device_id"] == self.device_id, f"the token is of {whoami}")
        device = api(self.homeserver, "GET", f"/devices/{self.device_id}", self.token)
        check(device["display_name"] == device_name, f"the device is {device}")


def lines_with(output, text):
    return [line for line in output.splitlines() if text in line]


def scenario(homeserver, home):
    alice_id, bob_id = register(homeserver, "alice"), register(homeserver, "bob")
    server_name = alice_id.split(":", 1)[1]
    # Room version 12 IDs have no server part, which matrix-commander would add to a room ID it
    # is given; it resolves an alias instead, so the commands that take one name the room so.
    alias = f"#deck:{server_name}"
    alice = Commander(homeserver, home / "alice", alice_id)
    bob = Commander(homeserver, home / "bob", bob_id)
    alice.login("alice-cli", alias)
    bob.login("bob-cli", alias)

    created = alice.run("--room-create", "deck", "--name", "Deck", "--topic", "Watch bill")
    fields = created.split()
    room_id = fields[0]
    check(room_id.startswith("!") and alias in fields, f"--room-create printed {created}")
    resolved = api(homeserver, "GET", f"/directory/room/{quoted(alias)}")
    check(resolved["room_id"] == room_id, f"the alias names {resolved}")
    room = f"/rooms/{quoted(room_id)}"
    name = api(homeserver, "GET", f"{room}/state/m.room.name", alice.token)
    check(name == {"name": "Deck"}, f"the room is named {name}")
    encryption = api(homeserver, "GET", f"{room}/state/m.room.encryption", alice.token)
    check(encryption["algorithm"] == "m.megolm.v1.aes-sha2", f"encryption {encryption}")

    alice.run("--room-invite", alias, "--user", bob_id)
    invites = bob.run("--room-invites", "LIST")
    check(lines_with(invites, room_id) and "invite" in invites, f"bob's invites: {invites}")
    bob.run("--room-join", alias)
    members = api(homeserver, "GET", f"{room}/joined_members", alice.token)["joined"]
    check(set(members) == {alice_id, bob_id}, f"joined members {members}")
    # matrix-commander uploads a device's keys only when it sends or listens: until then
    # Alice's client finds no device of Bob's to share the room key with.
    bob.run("--listen", "once")
    keys = api(homeserver, "POST", "/keys/query", alice.token, {"device_keys": {bob_id: []}})
    check(bob.device_id in keys["device_keys"][bob_id], f"Bob's keys: {keys}")

    alice.run("-m", "hello from matrix-commander", "--room", alias)
    latest = api(homeserver, "GET", f"{room}/messages?dir=b&limit=1", bob.token)["chunk"][0]
    check(
        latest["type"] == "m.room.encrypted"
        and latest["sender"] == alice_id
        and "ciphertext" in latest["content"],
        f"the node stored {latest}",
    )
    heard = bob.run("--listen", "once")
    check(lines_with(heard, "hello from matrix-commander"), f"bob heard {heard!r}")

    bob.run("-m", "reply from bob", "--room", alias)
    heard = alice.run("--listen", "once")
    check(lines_with(heard, "reply from bob"), f"alice heard {heard!r}")

    # History through /messages, decrypted: newest first, own messages included with -y.
    history = alice.run("--tail", "10", "--listen-self", "--room", room_id)
    told = [
        line
        for line in history.splitlines()
        if line.endswith("| hello from matrix-commander") or line.endswith("| reply from bob")
    ]
    check(
        len(told) == 2 and told[0].endswith("reply from bob"),
        f"--tail 10 printed {history!r}",
    )

    check(alice.run("--joined-rooms").split() == [room_id], "alice's joined rooms")
    listed = alice.run("--joined-members", room_id)
    check(alice_id in listed and bob_id in listed, f"--joined-members printed {listed!r}")
    visibility = alice.run("--room-get-visibility", alias)
    check(lines_with(visibility, "private"), f"--room-get-visibility printed {visibility!r}")
    info = alice.run("--get-room-info", alias)
    check("Deck" in info and "Watch bill" in info, f"--get-room-info printed {info!r}")
    alice.run("--set-display-name", "Alice of the deck")
    check("Alice of the deck" in alice.run("--get-display-name"), "the display name")
    profile = api(homeserver, "GET", f"/profile/{quoted(alice_id)}/displayname")
    check(profile == {"displayname": "Alice of the deck"}, f"the node has {profile}")
    devices = alice.run("--devices")
    check(lines_with(devices, alice.device_id), f"--devices printed {devices!r}")

    bob.run("--room-leave", alias)
    members = api(homeserver, "GET", f"{room}/joined_members", alice.token)["joined"]
    check(set(members) == {alice_id}, f"after bob left: {members}")

    alice.run("--logout", "me")
    api(homeserver, "GET", "/account/whoami", alice.token, expect=401)


def main():
    if len(sys.argv) != 2:
        print("usage: python run_commander.py HOMESERVER_URL", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="flotilla-commander-") as home:
        try:
            scenario(sys.argv[1], Path(home))
        except (Failure, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as failure:
            print(f"FAILED: {failure}", file=sys.stderr)
            return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
