"""Generated secrets: strong, created once, persisted privately, the same in every process."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from softswitch.storage.secrets import FILE_NAME, SecretStore, SecretStoreError


def test_created_once_and_stable_across_instances(tmp_path: Path) -> None:
    first = SecretStore(tmp_path).get_or_create("extensions.1001.password")
    assert SecretStore(tmp_path).get_or_create("extensions.1001.password") == first
    assert SecretStore(tmp_path).get("extensions.1001.password") == first


def test_strong_and_distinct(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    values = [store.get_or_create(f"extensions.{n}.password") for n in range(1000, 1020)]
    assert len(set(values)) == len(values)
    for value in values:
        # token_urlsafe: >= 128 bits means >= 22 base64 characters of the URL-safe alphabet.
        assert len(value) >= 22
        assert value.replace("-", "").replace("_", "").isalnum()


def test_file_is_private_and_holds_all_secrets(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "state")
    a = store.get_or_create("a")
    b = store.get_or_create("b")
    path = tmp_path / "state" / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"a": a, "b": b}
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in path.parent.iterdir()) == ["secrets.json", "secrets.lock"]


def test_get_unknown_creates_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert SecretStore(state).get("missing") is None
    assert not state.exists()


def test_value_is_not_in_repr(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    value = store.get_or_create("k")
    assert value not in repr(store)


def test_same_value_in_another_process(tmp_path: Path) -> None:
    value = SecretStore(tmp_path).get_or_create("k")
    script = (
        "import sys; from pathlib import Path; from softswitch.storage.secrets import SecretStore;"
        "print(SecretStore(Path(sys.argv[1])).get_or_create('k'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == value


def test_concurrent_creators_agree(tmp_path: Path) -> None:
    # Separate stores (separate lock descriptors) racing for the same new key must all end up
    # with the one value that was written.
    results: list[str] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(SecretStore(tmp_path).get_or_create("race"))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert set(results) == {SecretStore(tmp_path).get("race")}


def test_existing_secret_survives_a_new_one(tmp_path: Path) -> None:
    old = SecretStore(tmp_path).get_or_create("old")
    SecretStore(tmp_path).get_or_create("new")
    assert SecretStore(tmp_path).get("old") == old


@pytest.mark.parametrize("content", ["{broken", "[1, 2]", '{"k": 5}'])
def test_corrupt_file_is_an_error_not_a_new_secret(tmp_path: Path, content: str) -> None:
    (tmp_path / FILE_NAME).write_text(content)
    with pytest.raises(SecretStoreError, match=FILE_NAME):
        SecretStore(tmp_path).get_or_create("k")
    assert (tmp_path / FILE_NAME).read_text() == content


def test_empty_key_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key"):
        SecretStore(tmp_path).get_or_create("")


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    # A directory in the file's place fails to read even for root (unlike a chmod 0 file).
    (tmp_path / FILE_NAME).mkdir()
    with pytest.raises(SecretStoreError, match="cannot read"):
        SecretStore(tmp_path).get("k")
