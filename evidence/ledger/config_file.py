"""The operator's configuration file (TOML) and its environment variables: one schema,
one resolution rule, for ``evidence serve``, ``evidence anchor``, ``evidence trust export``
and ``evidence config check`` (docs/operations.md, "Configuration").

Every key ``KEY`` of section ``[SECTION]`` has one environment variable,
``EVIDENCE_<SECTION>_<KEY>`` in capitals (``[limits] rate`` is ``EVIDENCE_LIMITS_RATE``,
``[verify_page] witness_keys`` is ``EVIDENCE_VERIFY_PAGE_WITNESS_KEYS``). A few keys also
read the older name they had before the file existed (``EVIDENCE_DATA_DIR``...); the
systematic name wins when both are set. An empty variable counts as unset.

Precedence, highest first: a command-line flag, the environment, the file, the default
(docs/decisions.md). The file is ``--config FILE``, else ``$EVIDENCE_CONFIG``, else none.

Kept in the ledger layer so that the API (which re-reads the file on SIGHUP,
:mod:`evidence.api.reload`) and the CLI share it. Reading is all or nothing: a file that
does not parse, has a key this schema does not know, or a value of the wrong type raises
:class:`ConfigError` listing every problem with its key path (and line, where the TOML
says it), and nothing of it is used.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evidence.ledger.errors import LedgerError

__all__ = ["ENV_CONFIG", "SCHEMA", "ConfigError", "Effective", "Key", "Value",
           "anchor_changes_of", "check_files", "config_path", "env_name", "read_file", "resolve"]

ENV_CONFIG = "EVIDENCE_CONFIG"
MAX_FILE = 1 << 20  # a configuration file is a few kilobytes; more is not one


class ConfigError(LedgerError):
    """The configuration (file, environment or flags) is not valid; ``problems`` lists
    each one as ``section.key: what is wrong`` (with its line in the file, if known)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Key:
    """One setting. ``kind``: str, int, float, bool, size (bytes: 4294967296 or "4GiB"),
    choice, vkey (a note verifier key), vkeys (a list of them), paths (a list of file
    paths), https (an https URL with a host and no query, fragment or user; or empty)."""

    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    alias: str | None = None  # an older environment variable, still read
    reload: bool = False  # a running server applies it on SIGHUP
    secret: bool = False  # a password may be in it: shown redacted


def _k(kind: str, default: Any, help: str, **kw: Any) -> Key:
    return Key(kind, default, help, **kw)


SCHEMA: dict[str, dict[str, Key]] = {
    "ledger": {
        "data_dir": _k("str", None, "the ledger's data directory (default ./evidence-data)",
                       alias="EVIDENCE_DATA_DIR"),
        "db_url": _k("str", None, "database URL (default: config.json's, else SQLite in "
                     "the data directory)", alias="EVIDENCE_DB_URL", secret=True),
        "blob_store": _k("str", None, "blob store path or s3:// URL (default DIR/blobs)",
                         alias="EVIDENCE_BLOB_STORE"),
    },
    "serve": {
        "host": _k("str", "127.0.0.1", "address to listen on"),
        "port": _k("int", 8080, "port", min=0, max=65535),
        "workers": _k("int", 1, "uvicorn worker processes", min=1),
        "proxy_headers": _k("bool", False, "trust X-Forwarded-For from forwarded_allow_ips"),
        "forwarded_allow_ips": _k("str", "127.0.0.1", "proxies trusted for X-Forwarded-*"),
        "log_level": _k("choice", "info", "log level",
                        choices=("critical", "error", "warning", "info", "debug")),
        "access_log": _k("bool", True, "one line per request"),
        "log_format": _k("choice", "text", "text or json log lines", choices=("text", "json"),
                         alias="EVIDENCE_LOG_FORMAT"),
        "metrics": _k("choice", "token", "GET /metrics: token, public or off",
                      choices=("token", "public", "off"), alias="EVIDENCE_METRICS",
                      reload=True),
        "pending_ttl": _k("float", 900.0, "seconds a sign=deferred submission waits", min=1),
        "idle_trim": _k("float", 30.0, "seconds without a request before a worker gives "
                        "its caches' memory back; 0 = never", min=0),
        "idempotency_ttl": _k("float", 86400.0, "seconds an Idempotency-Key is honoured "
                              "(a resend after a lost answer gets the first answer)", min=60),
        "bundle_cache": _k("size", 2 << 30, "bytes of built bundles kept under "
                           "<data_dir>/cache/bundles so that downloads resume (the newest "
                           "one is always kept)"),
        "public_lookup": _k("bool", True, "GET /v1/lookup answers anyone", reload=True),
        "publish_when_witnessed": _k("bool", False, "publish only checkpoints the witness "
                                     "quorum of anchors.json cosigned"),
        "fast_wire": _k("bool", True, "answer tiles, checkpoints and inclusion proofs in the "
                        "HTTP protocol, below ASGI (no access line for them)"),
        "public_url": _k("https", "", "the server's public https URL: the court report's QR "
                         "code opens <public_url>/verify/?id=<evidence id> (bundles built "
                         "by the server; default EVIDENCE_REPORT_VERIFY_URL, else none)",
                         reload=True),
    },
    "limits": {
        "max_file_size": _k("size", None, "largest file accepted (default 4 GiB)",
                            alias="EVIDENCE_MAX_FILE_SIZE", reload=True),
        "max_upload": _k("size", 4 << 30, "largest submission (whole multipart body)",
                         reload=True),
        "max_body": _k("size", 1 << 20, "largest other request body (JSON)", reload=True),
        "max_files": _k("int", 100, "most files in one submission", min=1, reload=True),
        "rate": _k("float", 50.0, "requests per second per API token; 0 = no limit", min=0,
                   reload=True),
        "burst": _k("int", 200, "token-bucket size", min=1, reload=True),
        "page_limit": _k("int", 1000, "most entries per /v1/log/entries page", min=1,
                         reload=True),
        "max_head_bytes": _k("int", 64 << 10, "largest request head", min=1024, reload=True),
        "max_headers": _k("int", 100, "most header fields in one request", min=1,
                          reload=True),
        "head_timeout": _k("float", 10.0, "seconds for a request head", min=0.1, reload=True),
        "body_timeout": _k("float", 30.0, "seconds a body may pause", min=0.1, reload=True),
        "max_connections": _k("int", 2048, "open connections per worker", min=1,
                              reload=True),
        "max_connections_per_ip": _k("int", 64, "open connections per address, per worker",
                                     min=1, reload=True),
    },
    "anchoring": {
        "in_server": _k("bool", True, "run the anchoring loop inside evidence serve",
                        reload=True),
        "interval": _k("float", None, "seconds between anchoring rounds (default: "
                       "anchors.json's)", min=0.01, reload=True),
    },
    "verify_page": {
        "log_key": _k("vkey", "", "the log key the page is pre-filled with (default: the "
                      "serving ledger's)", reload=True),
        "witness_keys": _k("vkeys", [], "witness keys the page is pre-filled with",
                           reload=True),
        "witness_quorum": _k("int", 0, "witness cosignatures the page requires", min=0,
                             reload=True),
        "api_base": _k("str", "", "the API's public URL, if not the page's origin",
                       reload=True),
        "configured_by": _k("str", "", "who configured the page (default: the host)",
                            reload=True),
    },
    "grants": {
        "require_legal_basis": _k("bool", False, "every grant must state its purpose, the "
                                  "recipient's jurisdiction and organisation, and the legal "
                                  "basis for the transfer", reload=True),
    },
    "eidas": {
        "trusted_lists": _k("paths", [], "EU trusted-list files (ETSI TS 119 612 XML, saved "
                            "offline) the report checks each TSA's qualified status "
                            "against (evidence export, and every bundle the server builds)",
                            reload=True),
    },
    "trust_export": {
        "log_url": _k("str", None, "the log's public URL on the trust file's log line"),
        "output": _k("str", None, "where `evidence trust export` writes (default stdout)"),
    },
}


def env_name(section: str, key: str) -> str:
    """``EVIDENCE_<SECTION>_<KEY>``: the one naming rule."""
    return f"EVIDENCE_{section.upper()}_{key.upper()}"


@dataclass(frozen=True)
class Value:
    value: Any
    source: str  # "flag", "env", "file" or "default"
    where: str = ""  # the variable's name, or FILE:LINE


@dataclass(frozen=True)
class Effective:
    """Every key's value and where it came from."""

    values: dict[str, Value]
    file: Path | None = None

    def __getitem__(self, dotted: str) -> Any:
        return self.values[dotted].value

    def section(self, name: str) -> dict[str, Any]:
        return {k: self.values[f"{name}.{k}"].value for k in SCHEMA[name]}

    def to_json(self) -> dict[str, Any]:
        """Per section, per key: value, source, where. Secrets redacted."""
        out: dict[str, Any] = {}
        for dotted, v in self.values.items():
            section, key = dotted.split(".", 1)
            shown = _redact(v.value) if SCHEMA[section][key].secret else v.value
            out.setdefault(section, {})[key] = {"value": shown, "source": v.source,
                                                "where": v.where}
        return out


def _redact(value: Any) -> Any:
    """A URL's password as ``***`` (``postgresql://u:***@host/db``)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", value)


def config_path(explicit: str | os.PathLike[str] | None,
                environ: Mapping[str, str] | None = None) -> Path | None:
    """``--config FILE``, else ``$EVIDENCE_CONFIG``, else None (no file)."""
    if explicit:
        return Path(explicit)
    env = (os.environ if environ is None else environ).get(ENV_CONFIG)
    return Path(env) if env else None


# --- reading the file ------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.]+)\s*=")


def _lines(text: str) -> dict[str, int]:
    """Where each ``section.key`` (and each ``section``) is written: 1-based lines, for the
    messages (tomllib keeps no positions). A plain scan of headers and assignments: a key
    it cannot place is reported without a line."""
    where: dict[str, int] = {}
    table = ""
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m and not line.lstrip().startswith("[["):
            table = m.group(1).replace(" ", "")
            where.setdefault(table, n)
            continue
        m = _ASSIGN.match(line)
        if m:
            dotted = f"{table}.{m.group(1)}" if table else m.group(1)
            where.setdefault(dotted, n)
            where.setdefault(dotted.split(".", 1)[0], n)
    return where


def read_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, int]]:
    """The file's tables (checked against :data:`SCHEMA`, values as written) and the
    line of each key. Raises :class:`ConfigError` for anything wrong with it."""
    doc, lines, problems = _read(path)
    if problems:
        raise ConfigError(problems)
    return doc, lines


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, int], list[str]]:
    """The file's known sections and keys, their lines, and the unknown ones as problems.
    Raises :class:`ConfigError` when the file cannot be read or parsed at all."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_FILE + 1)
    except OSError as e:
        raise ConfigError([f"{p}: cannot read it ({e.strerror})"]) from None
    if len(raw) > MAX_FILE:
        raise ConfigError([f"{p}: larger than {MAX_FILE} bytes: not a configuration file"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError([f"{p}:{line}: not UTF-8 text (TOML files are UTF-8)"]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{p}: not valid TOML: {e}"]) from None
    except RecursionError:
        raise ConfigError([f"{p}: not valid TOML: nested too deeply"]) from None
    lines = _lines(text)
    problems: list[str] = []
    known: dict[str, Any] = {}
    for section, table in doc.items():
        at = _at(p, lines, section)
        if section not in SCHEMA:
            problems.append(f"[{section}]{at}: unknown section{_hint(section, SCHEMA)}")
        elif not isinstance(table, dict):
            problems.append(f"{section}{at}: must be a table ([{section}])")
        else:
            known[section] = {}
            for key, value in table.items():
                if key in SCHEMA[section]:
                    known[section][key] = value
                else:
                    problems.append(f"{section}.{key}{_at(p, lines, f'{section}.{key}')}: "
                                    f"unknown key{_hint(key, SCHEMA[section], section)}")
    return known, lines, problems


def _at(p: Path, lines: dict[str, int], dotted: str) -> str:
    n = lines.get(dotted)
    return f" ({p}:{n})" if n else f" ({p})"


def _hint(name: str, known: Mapping[str, Any], section: str = "") -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    if not close:
        return f"; known: {', '.join(known)}"
    return f"; did you mean {section + '.' if section else ''}{close[0]}?"


# --- values ------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _from_env(key: Key, text: str) -> Any:
    """An environment variable's text as the key's type (then checked like a file's)."""
    if key.kind == "bool":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("must be true or false (also 1/0, yes/no, on/off)")
    if key.kind == "int":
        return int(text.strip())
    if key.kind == "float":
        return float(text.strip())
    if key.kind in ("vkeys", "paths"):
        t = text.strip()
        if t.startswith("["):  # a TOML array, as in the file
            return tomllib.loads(f"v = {t}")["v"]
        return [s.strip() for s in t.split(",") if s.strip()]
    return text


def _check(key: Key, value: Any) -> Any:
    """The value, normalised (sizes in bytes); ValueError saying what is wrong."""
    if value is None and key.default is None:
        return None
    kind = key.kind
    if kind in ("str", "choice", "vkey", "https"):
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {_type(value)}")
        if kind == "https" and value:
            _https(value)
        if kind == "choice" and value not in key.choices:
            raise ValueError(f"must be one of {', '.join(key.choices)}, not {value!r}")
        if kind == "vkey" and value:
            _vkey(value)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {_type(value)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {_type(value)}")
        return _range(key, value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, not {_type(value)}")
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return _range(key, float(value))
    if kind == "size":
        from evidence.ledger.intake.settings import SettingsError, parse_size

        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"must be a size (4294967296 or \"4GiB\"), not {_type(value)}")
        try:
            return parse_size(value)
        except SettingsError as e:
            raise ValueError(str(e)) from None
    if kind == "vkeys":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of verifier keys (strings)")
        for v in value:
            _vkey(v)
        return list(value)
    if kind == "paths":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v
                                                          for v in value):
            raise ValueError("must be a list of file paths (non-empty strings)")
        return list(value)
    raise AssertionError(kind)


def _https(text: str) -> None:
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ValueError(f"{text!r}: give a public https URL such as "
                         "https://evidence.example (no query, fragment or user)")


def _vkey(text: str) -> None:
    from evidence.verify.errors import VerificationError
    from evidence.verify.note import parse_verifier_key

    try:
        parse_verifier_key(text)
    except (VerificationError, ValueError) as e:
        raise ValueError(f"not a verifier key ({e})") from None


def _range(key: Key, value: int | float) -> int | float:
    if key.min is not None and value < key.min:
        raise ValueError(f"must be at least {key.min:g}, not {value}")
    if key.max is not None and value > key.max:
        raise ValueError(f"must be at most {key.max:g}, not {value}")
    return value


def _type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def resolve(file: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None,
            flags: Mapping[str, Any] | None = None) -> Effective:
    """Every key's value: ``flags`` (``{"limits.rate": 5.0}``, given on the command line)
    over the environment over ``file`` over the defaults. Raises :class:`ConfigError`
    with every problem found; nothing is half-applied."""
    env = os.environ if environ is None else environ
    flags = flags or {}
    doc: dict[str, Any] = {}
    lines: dict[str, int] = {}
    problems: list[str] = []
    path = Path(file) if file else None
    if path is not None:
        doc, lines, problems = _read(path)
    for name in env:  # a misspelt variable would otherwise be silently ignored
        section = _env_section(name)
        if section and name[len(f"EVIDENCE_{section.upper()}_"):].lower() not in SCHEMA[section]:
            key = name[len(f"EVIDENCE_{section.upper()}_"):].lower()
            problems.append(f"${name}: no key {section}.{key}"
                            f"{_hint(key, SCHEMA[section], section)}")
    values: dict[str, Value] = {}
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            dotted = f"{section}.{key}"
            raw: Any
            if dotted in flags and flags[dotted] is not None:
                raw, got = flags[dotted], Value(None, "flag", "command line")
            elif env.get(env_name(section, key)):
                got = Value(None, "env", env_name(section, key))
                raw = env[env_name(section, key)]
            elif spec.alias and env.get(spec.alias):
                got, raw = Value(None, "env", spec.alias), env[spec.alias]
            elif key in doc.get(section, {}):
                raw = doc[section][key]
                n = lines.get(dotted)
                got = Value(None, "file", f"{path}:{n}" if n else str(path))
            else:
                values[dotted] = Value(spec.default, "default")
                continue
            try:
                if got.source == "env":
                    raw = _from_env(spec, raw)
                values[dotted] = Value(_check(spec, raw), got.source, got.where)
            except (ValueError, tomllib.TOMLDecodeError) as e:
                problems.append(f"{dotted} ({got.where or got.source}): {e}")
    if problems:
        raise ConfigError(problems)
    return Effective(values, path)


def _env_section(name: str) -> str | None:
    for section in SCHEMA:
        if name.startswith(f"EVIDENCE_{section.upper()}_"):
            return section
    return None


# --- the files the configuration refers to --------------------------------------------


def check_files(eff: Effective) -> list[str]:
    """What is wrong with the files the configuration names, as messages (empty: all
    there): the ledger's ``config.json`` and log key, ``anchors.json`` and each TSA's
    pinned CA file (read, and parsed as PEM certificates), each EU trusted list (read and
    parsed), the folder a trust export goes to. Reads only; connects to no database and
    no blob store."""
    from evidence.ledger.anchor.config import AnchorConfigError, load_anchor_config
    from evidence.ledger.config import load_config, resolve_data_dir
    from evidence.ledger.errors import NotALedger

    problems: list[str] = []
    src = eff.values["ledger.data_dir"]
    data_dir = resolve_data_dir(eff["ledger.data_dir"])
    tag = f"ledger.data_dir ({src.where or src.source})"
    if not data_dir.is_dir():
        return [f"{tag}: {data_dir} is not a directory (evidence init makes one)"]
    try:
        led = load_config(data_dir, eff["ledger.db_url"])
    except NotALedger as e:
        problems.append(f"{tag}: {e}")
    else:
        if not led.key_path.is_file():
            problems.append(f"{tag}: the log key {led.key_path} (config.json key_path) "
                            "is missing")
    try:
        anchors = load_anchor_config(data_dir)
        for tsa in anchors.tsas:
            for pem_path in tsa.ca_paths(data_dir):
                _check_pem(pem_path, f"anchors.json TSA {tsa.name}", problems)
            if not tsa.ca:
                tsa.ca_pems(data_dir)  # a preset: its roots must be in this machine's store
    except AnchorConfigError as e:
        problems.append(f"anchors.json: {e}")
    for tl in eff["eidas.trusted_lists"] or []:
        from evidence.ledger.bundle.trusted_list import TrustedListError, load_trusted_list

        try:
            load_trusted_list(tl)
        except TrustedListError as e:
            problems.append(f"eidas.trusted_lists: {e}")
    out = eff["trust_export.output"]
    if out and not Path(out).expanduser().absolute().parent.is_dir():
        problems.append(f"trust_export.output: the folder of {out} does not exist")
    return problems


def _check_pem(path: Path, what: str, problems: list[str]) -> None:
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as e:
        problems.append(f"{what}: cannot read CA file {path} ({e.strerror})")
        return
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        problems.append(f"{what}: {path} holds no PEM certificate")


def anchor_changes_of(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed between two readings of anchors.json (``AnchorConfig.to_json()``), in
    words: TSAs and witnesses added, removed or changed, and the other keys. For the log
    line of a reload, so that a source added while a server runs is never ignored
    silently."""
    out = []
    for kind, what in (("tsas", "tsa"), ("witnesses", "witness")):
        was = {s["name"]: s for s in old.get(kind, [])}
        now = {s["name"]: s for s in new.get(kind, [])}
        out += [f"anchors.json: {what} {n} added" for n in now if n not in was]
        out += [f"anchors.json: {what} {n} removed" for n in was if n not in now]
        out += [f"anchors.json: {what} {n} changed" for n in now
                if n in was and now[n] != was[n]]
    for key in sorted((set(old) | set(new)) - {"tsas", "witnesses"}):
        if old.get(key) != new.get(key):
            out.append(f"anchors.json: {key} {old.get(key)!r} -> {new.get(key)!r}")
    return out
