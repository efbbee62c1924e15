"""Credentials: a name and an endpoint in the config file, the write key in the OS keyring.

The key is stored under service `segment-gui` with the credential name as user name. When no
secure keyring backend is available, storing fails with KeyringUnavailableError; the key is
never written to a file instead. keyring is imported on first use because its backend discovery
costs start-up time.
"""

from __future__ import annotations

import logging
from typing import Any

from segment_gui.endpoints import check_endpoint
from segment_gui.logs import register_secret
from segment_gui.storage import AppPaths, Config, CredentialRecord

logger = logging.getLogger(__name__)

KEYRING_SERVICE = "segment-gui"
KEYRING_HINT = (
    "Install and unlock a Secret Service keyring (for example gnome-keyring, or KWallet with "
    "its Secret Service bridge) in your desktop session, then try again."
)
# Backends that would write the key to a file in plain or weakly protected form.
_INSECURE_BACKENDS = ("keyrings.alt", "PlaintextKeyring", "fail.Keyring", "null.Keyring")


class CredentialError(Exception):
    """A credential operation that failed; the message gives the reason and what to do."""


class KeyringUnavailableError(CredentialError):
    """No secure keyring backend: the key cannot be stored or read."""


def _keyring() -> Any:
    import keyring

    backend = keyring.get_keyring()
    backend_name = f"{type(backend).__module__}.{type(backend).__name__}"
    if any(part in backend_name for part in _INSECURE_BACKENDS):
        raise KeyringUnavailableError(
            f"No secure system keyring is available (keyring backend: {backend_name}). "
            + KEYRING_HINT
        )
    return keyring


def _translate(error: Exception, action: str, name: str) -> CredentialError:
    from keyring.errors import KeyringLocked, NoKeyringError

    if isinstance(error, NoKeyringError):
        return KeyringUnavailableError(
            f"Cannot {action} {name!r}: no system keyring. " + KEYRING_HINT
        )
    if isinstance(error, KeyringLocked):
        return CredentialError(
            f"Cannot {action} {name!r}: the keyring is locked. Unlock it and try again."
        )
    return CredentialError(f"Cannot {action} {name!r}: the keyring reported: {error}")


def store_key(name: str, write_key: str) -> None:
    from keyring.errors import KeyringError

    register_secret(write_key)
    keyring = _keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, name, write_key)
    except KeyringError as error:
        raise _translate(error, "store the write key of", name) from error


def read_key(name: str) -> str:
    from keyring.errors import KeyringError

    keyring = _keyring()
    try:
        key = keyring.get_password(KEYRING_SERVICE, name)
    except KeyringError as error:
        raise _translate(error, "read the write key of", name) from error
    if key is not None:
        register_secret(str(key))
    if key is None:
        raise CredentialError(
            f"The keyring has no write key for credential {name!r}; set it again with "
            f"`segment-gui credential set {name}` or in the Credentials dialog."
        )
    return str(key)


def delete_key(name: str) -> None:
    from keyring.errors import KeyringError, PasswordDeleteError

    keyring = _keyring()
    try:
        keyring.delete_password(KEYRING_SERVICE, name)
    except PasswordDeleteError:
        logger.info("No keyring entry to delete for credential %r", name)
    except KeyringError as error:
        raise _translate(error, "delete the write key of", name) from error


class CredentialStore:
    """Credential records in the config file, with their keys in the keyring."""

    def __init__(self, paths: AppPaths) -> None:
        self.config = Config(paths)

    def list(self) -> list[CredentialRecord]:
        return self.config.credentials()

    def get(self, name: str) -> CredentialRecord:
        for record in self.list():
            if record.name == name:
                return record
        names = ", ".join(record.name for record in self.list()) or "none saved yet"
        raise CredentialError(f"credential {name!r} not found (saved: {names})")

    def set(self, name: str, endpoint: str, write_key: str | None) -> CredentialRecord:
        """Save a credential; `write_key` None keeps the stored key (an endpoint-only edit)."""
        name = name.strip()
        if not name:
            raise CredentialError("a credential name must not be empty; type a name")
        check_endpoint(endpoint)
        if write_key is not None:
            write_key = write_key.strip()
            if not write_key:
                raise CredentialError(f"the write key for {name!r} is empty; paste the key")
            store_key(name, write_key)
        record = CredentialRecord(name, endpoint)
        self.config.put_credential(record)
        logger.info("Saved credential %r for endpoint %s", name, endpoint)
        return record

    def delete(self, name: str) -> None:
        self.get(name)
        delete_key(name)
        self.config.remove_credential(name)
        logger.info("Deleted credential %r", name)

    def key(self, name: str) -> str:
        self.get(name)
        return read_key(name)
