"""Opening a ledger reads revisions from file names, without Alembic: those must be
what Alembic itself reads from the revision files (one linear chain)."""

from __future__ import annotations

import subprocess
import sys

from evidence.ledger.db import migrations


def test_file_names_are_alembics_revisions_and_head() -> None:
    sd = migrations.script_directory()
    revisions = {s.revision for s in sd.walk_revisions()}
    assert revisions == migrations.KNOWN_REVISIONS
    assert sd.get_heads() == [migrations.head_revision()]  # one head: a linear chain
    assert migrations.BASE_REVISION in revisions
    assert not migrations.is_known_ledger_revision("9999_not_ours")


def test_opening_a_ledger_does_not_import_alembic(tmp_path) -> None:
    from evidence.ledger.log import Ledger

    Ledger.create(tmp_path / "data", "mig.example/log").close()
    code = ("import sys; from evidence.ledger.log import Ledger; "
            f"led = Ledger.open({str(tmp_path / 'data')!r}); led.append('custody.note', {{}}); "
            "led.close(); print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
