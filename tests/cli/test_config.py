"""The configuration file and its environment variables (evidence/ledger/config_file.py,
evidence/cli/config_cmds.py): precedence flag > env > file > default, the naming rule,
`evidence config check`, and hostile or malformed files (a clear error, exit 2, nothing
started). Reload on SIGHUP: tests/processes/test_sighup_reload.py."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from evidence.cli.api_cmds import SERVE_PARAMS, serve_cmd
from evidence.cli.main import cli
from evidence.ledger.config_file import SCHEMA, ConfigError, env_name, resolve
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer

ENV_CLEAN = {name: "" for name in ("EVIDENCE_CONFIG", "EVIDENCE_DATA_DIR", "EVIDENCE_DB_URL",
                                   "EVIDENCE_BLOB_STORE", "EVIDENCE_MAX_FILE_SIZE",
                                   "EVIDENCE_METRICS", "EVIDENCE_LOG_FORMAT")}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), env={**ENV_CLEAN, **(env or {})},
                           prog_name="evidence")
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    Ledger.create(d, "config.test/log").close()
    return d


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- precedence and naming ------------------------------------------------------------


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    f = write(tmp_path / "c.toml", "[limits]\nrate = 5\nburst = 9\nmax_upload = \"2MiB\"\n")
    env = {"EVIDENCE_LIMITS_RATE": "7", "EVIDENCE_LIMITS_BURST": "11"}
    eff = resolve(f, env, {"limits.rate": 3.0})
    assert (eff["limits.rate"], eff.values["limits.rate"].source) == (3.0, "flag")
    assert (eff["limits.burst"], eff.values["limits.burst"].source) == (11, "env")
    assert eff.values["limits.burst"].where == "EVIDENCE_LIMITS_BURST"
    assert (eff["limits.max_upload"], eff.values["limits.max_upload"].source) == (2 << 20,
                                                                                  "file")
    assert eff.values["limits.max_upload"].where == f"{f}:4"
    assert (eff["limits.page_limit"], eff.values["limits.page_limit"].source) == (1000,
                                                                                  "default")


def test_env_names_follow_one_rule_and_older_names_still_count(tmp_path: Path) -> None:
    for section, keys in SCHEMA.items():
        for key in keys:
            assert env_name(section, key) == f"EVIDENCE_{section}_{key}".upper()
    eff = resolve(None, {"EVIDENCE_DATA_DIR": "/old", "EVIDENCE_VERIFY_PAGE_WITNESS_QUORUM": "2"})
    assert eff["ledger.data_dir"] == "/old"
    assert eff["verify_page.witness_quorum"] == 2
    # the systematic name wins over the older one
    eff = resolve(None, {"EVIDENCE_DATA_DIR": "/old", "EVIDENCE_LEDGER_DATA_DIR": "/new"})
    assert eff["ledger.data_dir"] == "/new"
    assert eff.values["ledger.data_dir"].where == "EVIDENCE_LEDGER_DATA_DIR"


def test_env_values_are_typed_and_checked() -> None:
    wkey = generate_signer("w.example/w", ALG_COSIGNATURE_V1).verifier().to_string()
    eff = resolve(None, {"EVIDENCE_SERVE_PROXY_HEADERS": "yes",
                         "EVIDENCE_VERIFY_PAGE_WITNESS_KEYS": f"{wkey}, {wkey}",
                         "EVIDENCE_LIMITS_MAX_BODY": "64k"})
    assert eff["serve.proxy_headers"] is True
    assert eff["verify_page.witness_keys"] == [wkey, wkey]
    assert eff["limits.max_body"] == 64 << 10
    with pytest.raises(ConfigError) as e:
        resolve(None, {"EVIDENCE_SERVE_PORT": "eighty", "EVIDENCE_SERVE_PORTT": "1"})
    text = str(e.value)
    assert "serve.port (EVIDENCE_SERVE_PORT)" in text
    assert "$EVIDENCE_SERVE_PORTT: no key serve.portt; did you mean serve.port?" in text


def test_serve_flag_defaults_are_the_schema_defaults() -> None:
    """A flag's default is shown in --help; it must be the value used when nothing is set
    (the command takes only typed flags, so a drift would make --help lie)."""
    from evidence.ledger.intake.settings import parse_size

    # a context under the group's, as the CLI makes it: click caches the help option the
    # first context names, and a bare one would leave `serve -h` unknown to later tests
    ctx = click.Context(serve_cmd, parent=click.Context(cli, **cli.context_settings),
                        info_name="serve")
    for param in serve_cmd.get_params(ctx):
        dotted = SERVE_PARAMS.get(param.name or "")
        default = param.to_info_dict()["default"]
        if dotted is None or default is None:
            continue
        section, key = dotted.split(".")
        want = SCHEMA[section][key].default
        got = parse_size(default) if SCHEMA[section][key].kind == "size" else default
        assert got == want, dotted
    assert set(SERVE_PARAMS.values()) <= {f"{s}.{k}" for s, ks in SCHEMA.items() for k in ks}


# --- evidence config check -----------------------------------------------------------


def test_check_prints_each_value_and_its_source(tmp_path: Path, ledger_dir: Path) -> None:
    f = write(tmp_path / "c.toml", f'[ledger]\ndata_dir = "{ledger_dir}"\n'
                                   'db_url = "postgresql://ev:s3cret@db/ev"\n'
                                   "[limits]\nrate = 5\n")
    code, out, err = run("config", "check", str(f), "--no-files",
                         env={"EVIDENCE_LIMITS_BURST": "11"})
    assert code == 0, err
    assert f"rate = 5.0  # file {f}:5" in out
    assert "burst = 11  # env EVIDENCE_LIMITS_BURST" in out
    assert "page_limit = 1000  # default" in out
    assert "s3cret" not in out and "postgresql://ev:***@db/ev" in out
    code, out, _ = run("config", "check", "--json", "--no-files",
                       env={"EVIDENCE_CONFIG": str(f)})
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["file"] == str(f)
    assert doc["config"]["limits"]["rate"] == {"value": 5.0, "source": "file",
                                               "where": f"{f}:5"}


def test_check_names_unknown_keys_with_their_line(tmp_path: Path) -> None:
    f = write(tmp_path / "c.toml", "[serve]\nhost = \"0.0.0.0\"\nprot = 80\n"
                                   "port = \"x\"\n[limitz]\nrate = 1\n")
    code, _, err = run("config", "check", str(f))
    assert code == 2
    assert f"serve.prot ({f}:3): unknown key; did you mean serve.port?" in err
    assert f"serve.port ({f}:4): must be an integer, not a string" in err
    assert f"[limitz] ({f}:5): unknown section; did you mean limits?" in err
    code, out, _ = run("config", "check", str(f), "--json")
    doc = json.loads(out)
    assert code == 2 and doc["ok"] is False and len(doc["problems"]) == 3


@pytest.mark.parametrize("content, says", [
    (b"[serve\nport = 1\n", "not valid TOML"),
    (b"[serve]\nport = 1\nport = 2\n", "not valid TOML"),
    (b"[serve]\nhost = \"\xff\xfe\"\n", "not UTF-8"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "not valid TOML"),
    (b"# " + b"x" * (1 << 20) + b"\n", "not a configuration file"),
    (b"serve = 1\n", "must be a table"),
], ids=["syntax", "duplicate-key", "not-utf8", "nesting", "too-large", "not-a-table"])
def test_hostile_files_are_refused_clearly(tmp_path: Path, content: bytes, says: str) -> None:
    f = tmp_path / "c.toml"
    f.write_bytes(content)
    code, _, err = run("config", "check", str(f))
    assert code == 2 and says in err, err


def test_check_finds_missing_files(tmp_path: Path, ledger_dir: Path) -> None:
    (ledger_dir / "anchors.json").write_text(json.dumps({"tsas": [
        {"name": "t1", "url": "http://127.0.0.1:1/tsr", "ca": ["anchor-ca/t1.pem"]}]}))
    f = write(tmp_path / "c.toml", f'[ledger]\ndata_dir = "{ledger_dir}"\n'
                                   f'[trust_export]\noutput = "{tmp_path}/nowhere/t.txt"\n')
    code, _, err = run("config", "check", str(f))
    assert code == 2
    assert "anchors.json TSA t1: cannot read CA file" in err
    assert "trust_export.output: the folder of" in err
    (ledger_dir / "anchor-ca").mkdir()
    (ledger_dir / "anchor-ca" / "t1.pem").write_text("not a certificate")
    code, _, err = run("config", "check", str(f))
    assert code == 2 and "holds no PEM certificate" in err
    code, _, err = run("config", "check", str(f), env={"EVIDENCE_LEDGER_DATA_DIR":
                                                       str(tmp_path / "none")})
    assert code == 2 and "is not a directory" in err


# --- commands that take the file --------------------------------------------------------


def test_serve_refuses_a_bad_configuration_before_starting(tmp_path: Path,
                                                          ledger_dir: Path) -> None:
    f = write(tmp_path / "c.toml", f'[ledger]\ndata_dir = "{ledger_dir}"\n'
                                   "[limits]\nburst = 0\n")
    code, _, err = run("serve", "--config", str(f))
    assert code == 2
    assert "nothing was started" in err and "limits.burst" in err and "at least 1" in err


def test_trust_export_takes_its_settings_from_the_file(tmp_path: Path,
                                                       ledger_dir: Path) -> None:
    out = tmp_path / "trust.txt"
    f = write(tmp_path / "c.toml", f'[ledger]\ndata_dir = "{ledger_dir}"\n'
                                   '[trust_export]\nlog_url = "https://file.example/log"\n'
                                   f'output = "{out}"\n')
    code, _, err = run("trust", "export", "--config", str(f))
    assert code == 0, err
    assert "https://file.example/log" in out.read_text()
    # a flag wins over the file
    code, _, err = run("trust", "export", "--config", str(f), "--log-url",
                       "https://flag.example/log")
    assert code == 0, err
    text = out.read_text()
    assert "https://flag.example/log" in text and "file.example" not in text


def test_anchor_takes_the_data_dir_from_the_file(tmp_path: Path, ledger_dir: Path) -> None:
    f = write(tmp_path / "c.toml", f'[ledger]\ndata_dir = "{ledger_dir}"\n')
    code, out, _ = run("anchor", "--config", str(f), "--json")
    # the ledger was found (through the file) and has no source configured
    assert code == 1 and "no anchor source configured" in out


def test_the_example_file_is_valid_and_names_every_key() -> None:
    example = Path(__file__).parents[2] / "deploy" / "evidence.example.toml"
    code, _, err = run("config", "check", str(example), "--no-files")
    assert code == 0, err
    text = example.read_text(encoding="utf-8")
    for section, keys in SCHEMA.items():
        assert f"[{section}]" in text
        for key in keys:
            assert f"{key} = " in text, f"{section}.{key} is not in the example"
