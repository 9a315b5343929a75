"""Register, log in, ask whoami and log out with matrix-nio against a running Flotilla node.

Usage: python session_basics.py HOMESERVER_URL
Exits 0 when every step behaved as the Matrix spec says, 1 with a message otherwise.
"""

import asyncio
import sys

from nio import (
    AsyncClient,
    LoginResponse,
    LogoutResponse,
    RegisterResponse,
    WhoamiError,
    WhoamiResponse,
)

PASSWORD = "seven seas"


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


async def run(homeserver: str) -> None:
    registrar = AsyncClient(homeserver, "nio-sailor")
    try:
        registered = await registrar.register("nio-sailor", PASSWORD, "nio registration")
        check(isinstance(registered, RegisterResponse), f"register: {registered}")
        user_id = registered.user_id
        print(f"registered {user_id} on device {registered.device_id}")
    finally:
        await registrar.close()

    client = AsyncClient(homeserver, "nio-sailor")
    try:
        login = await client.login(PASSWORD, device_name="nio e2e")
        check(isinstance(login, LoginResponse), f"login: {login}")
        check(login.user_id == user_id, f"login user {login.user_id} != {user_id}")
        old_token = client.access_token

        whoami = await client.whoami()
        check(isinstance(whoami, WhoamiResponse), f"whoami: {whoami}")
        check(whoami.user_id == user_id, f"whoami user {whoami.user_id} != {user_id}")
        check(whoami.device_id == login.device_id, "whoami names another device")

        logout = await client.logout()
        check(isinstance(logout, LogoutResponse), f"logout: {logout}")

        client.access_token = old_token
        after = await client.whoami()
        check(isinstance(after, WhoamiError), f"whoami after logout: {after}")
        check(after.status_code == "M_UNKNOWN_TOKEN", f"after logout: {after.status_code}")
        print("login, whoami and logout behave")
    finally:
        await client.close()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(run(sys.argv[1]))
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
