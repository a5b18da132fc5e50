import os
import stat

import pytest

from labour_trust import files
from labour_trust.files import atomic_write, file_fingerprint


def test_atomic_write_replaces_text_or_bytes_and_keeps_the_mode(tmp_path):
    path = tmp_path / "secret.json"
    atomic_write(path, "one", mode=0o600)
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "register.yaml"
    atomic_write(path, "old")
    before = file_fingerprint(path)

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, "new")
    assert path.read_text() == "old" and file_fingerprint(path) == before
    assert os.listdir(tmp_path) == ["register.yaml"]
    assert file_fingerprint(tmp_path / "missing") is None
