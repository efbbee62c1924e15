"""Build a curl command that sends a message the way segment-gui sends it.

The command is for POSIX shells (sh, bash, zsh). Every argument is quoted with `shlex.quote`, so
the body reaches curl byte for byte, including single quotes, `$`, backslashes and non-ASCII
text. By default the write key is not written out: the command reads it from the environment
variable `SEGMENT_WRITE_KEY`, so it can be shared or logged without leaking the key.
"""

from __future__ import annotations

import shlex

from segment_gui.payload import Message
from segment_gui.transport import USER_AGENT

WRITE_KEY_VARIABLE = "SEGMENT_WRITE_KEY"
_CONTINUATION = " \\\n  "


def curl_command(
    base_url: str, message: Message, write_key: str | None, include_key: bool = False
) -> str:
    """Return a multi-line curl command that posts `message.to_bytes()` to `base_url`.

    Authentication is HTTP Basic with the write key as user name and an empty password, as
    Segment expects. With `include_key` False the key is taken from `$SEGMENT_WRITE_KEY` when
    the command runs (curl sends an empty key if the variable is unset). With `include_key` True
    the key is written into the command, and `write_key` must be given.
    """
    url = f"{base_url.rstrip('/')}/{message.path}"
    if include_key:
        if write_key is None:
            raise ValueError(
                "include_key=True needs a write key; pass write_key or include_key=False"
            )
        user = shlex.quote(f"{write_key}:")
    else:
        # Double quotes let the shell expand the variable while keeping the value one argument.
        user = f'"${WRITE_KEY_VARIABLE}:"'
    # Compact JSON from `serialize` has no raw newlines or control characters, so the body fits
    # on one line of the command.
    body = message.to_bytes().decode("utf-8")
    arguments = [
        f"curl -sS {shlex.quote(url)}",
        f"-H {shlex.quote('Content-Type: application/json')}",
        f"-A {shlex.quote(USER_AGENT)}",
        f"-u {user}",
        f"--data-binary {shlex.quote(body)}",
    ]
    return _CONTINUATION.join(arguments)
