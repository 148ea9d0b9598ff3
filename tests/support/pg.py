"""pytest plugin: a real, throwaway PostgreSQL server for the tests.

Fixtures:

- ``pg_cluster`` (session): a :class:`PgCluster`. ``LEDGER_TEST_PG_URL`` if set (an existing
  server; its database is used for admin statements), else a cluster started here with
  ``initdb``/``pg_ctl`` on a free 127.0.0.1 port, ``fsync=off`` for speed.
- ``pg_url`` (session): ``postgresql+psycopg://`` URL of a database shared by the session.
- ``pg_fresh_url`` (function): URL of a brand-new empty database, dropped after the test.
- ``pg_cluster_durable`` (session) / ``pg_url_durable`` (function, fresh database): a second
  cluster started here with ``fsync=on``, ``synchronous_commit=on`` and ``full_page_writes=on``,
  for crash and durability tests. :meth:`PgCluster.crash` stops it the way a power cut would
  (``pg_ctl stop -m immediate``: no shutdown checkpoint, WAL recovery on the next start) and
  :meth:`PgCluster.start` brings it back. ``LEDGER_TEST_PG_DURABLE_URL`` points it elsewhere.

Never touches a PostgreSQL that may already run on the machine (port 5432). Skips, naming the
package to install, when no PostgreSQL binaries are found.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.ports import free_ports

__all__ = ["PgCluster", "pg_cluster", "pg_cluster_durable", "pg_fresh_url", "pg_url",
           "pg_url_durable"]

INSTALL_HINT = "apt-get install postgresql (or set LEDGER_TEST_PG_URL)"
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def _pg_bindir() -> Path | None:
    def major(initdb: str) -> int:  # /usr/lib/postgresql/<major>/bin/initdb
        version = Path(initdb).parts[-3]
        return int(version) if version.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=major)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _psycopg_conninfo(url: str) -> str:
    """SQLAlchemy URL -> libpq URL (psycopg does not know the `+psycopg` dialect suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, dbname: str) -> str:
    head, _, tail = url.rpartition("/")
    query = tail.partition("?")[2]
    return f"{head}/{dbname}" + (f"?{query}" if query else "")


@dataclass
class PgCluster:
    """A PostgreSQL server the tests may use. `admin_url` reaches a database from which
    CREATE/DROP DATABASE can be run. Only clusters started here (`owned`) can crash/start."""

    admin_url: str
    owned: bool
    settings: dict[str, str] = field(default_factory=dict)
    bindir: Path | None = None
    datadir: Path | None = None
    sockdir: Path | None = None
    port: int | None = None
    _run_as: list[str] = field(default_factory=list)

    def url(self, dbname: str) -> str:
        return _with_database(self.admin_url, dbname)

    def execute_admin(self, sql: str) -> None:
        import psycopg  # the driver the project uses (extra `pg`)

        with psycopg.connect(_psycopg_conninfo(self.admin_url), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, prefix: str = "t") -> str:
        """Create an empty database with a unique name; return its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        self.execute_admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2].partition("?")[0]
        self.execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # --- lifecycle of clusters started here ---------------------------------------------

    def _pg(self, tool: str, *args: str, timeout: float = 120) -> None:
        assert self.bindir is not None
        subprocess.run([*self._run_as, str(self.bindir / tool), *args], check=True,
                       capture_output=True, timeout=timeout)

    def start(self) -> None:
        """Start (or restart after :meth:`crash`) a cluster made by :func:`start_cluster`."""
        assert self.owned and self.datadir and self.sockdir and self.port
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockdir}"
        opts += "".join(f" -c {k}={v}" for k, v in self.settings.items())
        self._pg("pg_ctl", "-D", str(self.datadir), "-l", str(self.sockdir / "server.log"),
                 "-w", "-t", "60", "-o", opts, "start")

    def crash(self) -> None:
        """Stop without a shutdown checkpoint (like a power cut for committed, fsynced data)."""
        assert self.owned and self.datadir
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        assert self.owned and self.datadir
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if not self.owned:
            return
        # it may be down already (a test crashed it and did not restart it)
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop()
        for d in (self.datadir, self.sockdir):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)


def start_cluster(settings: dict[str, str]) -> PgCluster:
    """initdb + pg_ctl start a new cluster in temp folders on a free loopback port."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(f"PostgreSQL server binaries (initdb) not found: {INSTALL_HINT}")
    run_as: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(f"running as root but no `postgres` user to run initdb: {INSTALL_HINT}")
        run_as = ["runuser", "-u", "postgres", "--"]
    datadir = Path(tempfile.mkdtemp(prefix="ledger-pgdata-"))
    sockdir = Path(tempfile.mkdtemp(prefix="ledger-pgsock-"))
    if owner is not None:
        for d in (datadir, sockdir):
            os.chown(d, owner.pw_uid, owner.pw_gid)
    cluster = PgCluster(admin_url="", owned=True, settings=settings, bindir=bindir,
                        datadir=datadir, sockdir=sockdir, _run_as=run_as)
    try:
        no_sync = ["--no-sync"] if settings.get("fsync") == "off" else []
        cluster._pg("initdb", "-D", str(datadir), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-locale", *no_sync)
        for attempt in range(3):  # the free port may be taken between probing and binding
            cluster.port = free_ports(1)[0]
            try:
                cluster.start()
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
        cluster.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres"
    except BaseException:
        for d in (datadir, sockdir):
            shutil.rmtree(d, ignore_errors=True)
        raise
    return cluster


def _cluster_from_env_or_start(env: str, settings: dict[str, str]) -> Iterator[PgCluster]:
    url = os.environ.get(env)
    if url:
        yield PgCluster(admin_url=url, owned=False)
        return
    cluster = start_cluster(settings)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    yield from _cluster_from_env_or_start("LEDGER_TEST_PG_URL", FAST_SETTINGS)


@pytest.fixture(scope="session")
def pg_url(pg_cluster: PgCluster) -> str:
    if not pg_cluster.owned:
        return pg_cluster.admin_url  # the given URL, as given
    return pg_cluster.create_database("ledger_test")


@pytest.fixture
def pg_fresh_url(pg_cluster: PgCluster) -> Iterator[str]:
    url = pg_cluster.create_database()
    try:
        yield url
    finally:
        pg_cluster.drop_database(url)


@pytest.fixture(scope="session")
def pg_cluster_durable() -> Iterator[PgCluster]:
    yield from _cluster_from_env_or_start("LEDGER_TEST_PG_DURABLE_URL", DURABLE_SETTINGS)


@pytest.fixture
def pg_url_durable(pg_cluster_durable: PgCluster) -> Iterator[str]:
    url = pg_cluster_durable.create_database("durable")
    try:
        yield url
    finally:
        try:
            pg_cluster_durable.drop_database(url)
        except Exception:
            # the test crashed the server and left it down: restart it for the next one
            pg_cluster_durable.start()
            pg_cluster_durable.drop_database(url)
