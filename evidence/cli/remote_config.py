"""Where the remote CLI finds its server and token: flags, environment, the stored login.

``evidence login URL`` stores the server's URL and the token in
``$XDG_CONFIG_HOME/evidence/remote.toml`` (else ``~/.config/evidence/remote.toml``;
``$EVIDENCE_REMOTE_CONFIG`` names another file). The token is a bearer credential: the
file is created with mode 0600 in a 0700 folder, written to a temporary file in the
same folder and renamed over the old one (a reader sees the old file or the new one,
never half of one), and an existing file that others may read, or that is a symbolic
link, is refused rather than written into: the token would already be exposed, and the
user must see it.

Which server a command talks to (docs/api.md, "The remote CLI"), first match wins:

1. ``--server URL`` on the command line;
2. ``--data-dir`` or ``--db`` on the command line: the local ledger;
3. ``$EVIDENCE_SERVER``;
4. ``$EVIDENCE_DATA_DIR`` or ``$EVIDENCE_DB_URL``: the local ledger;
5. the stored login's default server;
6. the local ledger in ``./evidence-data``.

The token: ``$EVIDENCE_TOKEN`` if set, else the token stored for that server's URL.
So flags beat the environment, which beats the stored login.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SERVER_ENV = "EVIDENCE_SERVER"
TOKEN_ENV = "EVIDENCE_TOKEN"
CONFIG_ENV = "EVIDENCE_REMOTE_CONFIG"


class RemoteConfigError(Exception):
    """The stored login cannot be read or written safely; the message says what to do."""


def config_path() -> Path:
    """The stored login's file (see the module doc)."""
    given = os.environ.get(CONFIG_ENV)
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "evidence" / "remote.toml"


def normalise_url(url: str) -> str:
    """``https://host[:port][/prefix]`` without a trailing slash, or ValueError: the key a
    login is stored under, so ``--server https://x/`` finds the login of ``https://x``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL of an evidence server")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{url!r}: give the server's address only (no query, fragment "
                         "or credentials; the token goes to `evidence login`)")
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _unsafe(st: os.stat_result) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_uid != os.getuid():
        return "belongs to another user"
    if stat.S_IMODE(st.st_mode) & 0o077:
        return f"is readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def load(path: Path | None = None) -> dict[str, Any]:
    """The stored logins, ``{"default": url, "servers": {url: {"token", ...}}}``; empty
    when there is none. A file others may read is refused: its token must be replaced."""
    path = path or config_path()
    try:
        st = path.lstat()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise RemoteConfigError(f"cannot read {path}: {e}") from None
    why = _unsafe(st)
    if why is not None:
        raise RemoteConfigError(
            f"{path} {why}: the token in it may have been read by others. Revoke that token "
            f"(the operator: evidence token revoke), remove the file, then log in again")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise RemoteConfigError(f"cannot read {path}: {e}") from None
    if not isinstance(data.get("servers", {}), dict):
        raise RemoteConfigError(f"{path}: 'servers' is not a table")
    return data


def _toml_str(s: str) -> str:
    """A TOML basic string: JSON's escapes (ASCII only) are TOML's."""
    return json.dumps(s, ensure_ascii=True)


def dump(data: dict[str, Any]) -> str:
    lines = ["# evidence login: the server and the API token (a password: keep this file",
             "# private, mode 0600). Written by `evidence login`, removed by `evidence logout`.",
             ""]
    if data.get("default"):
        lines.append(f"default = {_toml_str(data['default'])}")
    for url, entry in sorted((data.get("servers") or {}).items()):
        lines += ["", f"[servers.{_toml_str(url)}]"]
        for k, v in sorted(entry.items()):
            if isinstance(v, str):
                lines.append(f"{k} = {_toml_str(v)}")
    return "\n".join(lines) + "\n"


def save(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write the logins atomically with mode 0600 (see the module doc)."""
    path = path or config_path()
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        st = path.lstat()
    except FileNotFoundError:
        pass
    else:
        why = _unsafe(st)
        if why is not None:
            raise RemoteConfigError(
                f"{path} {why}: not writing a token into it. Remove it (and revoke any token "
                f"it held), then log in again")
    text = dump(data).encode("utf-8")
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o600)
    try:
        try:
            view = memoryview(text)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename is durable once the folder is
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


@dataclass(frozen=True)
class Remote:
    """The server a command talks to, its token and where each came from (for messages)."""

    url: str
    token: str | None
    source: str  # "--server", "EVIDENCE_SERVER" or the config file's path


def stored_token(url: str) -> str | None:
    entry = (load().get("servers") or {}).get(url) or {}
    tok = entry.get("token")
    return tok if isinstance(tok, str) and tok else None


def resolve(server: str | None, *, local_flag: bool, local_env: bool) -> Remote | None:
    """The remote to use, or None for the local ledger (precedence: the module doc).
    ``local_flag``: ``--data-dir``/``--db`` given on the command line; ``local_env``: by
    their environment variables."""
    source = "--server"
    if server is None:
        if local_flag:
            return None
        env = os.environ.get(SERVER_ENV) or None
        if env is not None:
            server, source = env, SERVER_ENV
        elif local_env:
            return None
        else:
            stored = load().get("default")
            if not stored:
                return None
            server, source = str(stored), str(config_path())
    url = normalise_url(server)
    token = os.environ.get(TOKEN_ENV) or None
    if token is None:
        token = stored_token(url)
    return Remote(url, token, source)
