"""The weights cache against a real HTTP server on 127.0.0.1: download once, verify, recover."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from weights_server import closed_port, npz_bytes, serve

from bit_finetune.bit.download import (
    WeightsDownloadError,
    cache_folder,
    record_path,
    resolve_weights,
)

NAME, FILE = "BiT-M-R50x1", "/BiT-M-R50x1.npz"
DATA = npz_bytes()


@pytest.fixture()
def server():
    with serve() as running:
        running.files[FILE] = DATA
        yield running


def fetch(server, cache: Path, name: str = NAME, **kwargs) -> Path:
    return Path(resolve_weights(name, cache_dir=cache, base_url=server.url, **kwargs))


def test_first_download_writes_the_file_and_its_record(server, tmp_path, capsys) -> None:
    path = fetch(server, tmp_path)
    assert path == tmp_path / "BiT-M-R50x1.npz"
    assert path.read_bytes() == DATA
    with np.load(path) as archive:
        assert "resnet/root_block/standardized_conv2d/kernel" in archive.files
    record = json.loads(record_path(path).read_text())
    assert record["url"] == f"{server.url}{FILE}"
    assert record["size"] == len(DATA)
    assert record["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert record["time"]
    assert not path.with_name("BiT-M-R50x1.npz.part").exists()
    assert "Downloading BiT-M-R50x1.npz" in capsys.readouterr().err  # the progress bar


def test_a_cache_hit_sends_no_request(server, tmp_path) -> None:
    first = fetch(server, tmp_path, progress=False)
    requests = sum(server.requests.values())
    assert fetch(server, tmp_path, name="bit-m-r50x1", progress=False) == first
    assert sum(server.requests.values()) == requests
    assert server.gets(FILE) == 1


def test_names_under_a_folder_mirror_the_release(server, tmp_path) -> None:
    server.files["/distill/R50x1_224.npz"] = DATA
    path = fetch(server, tmp_path, name="BiT-M-R50x1-distilled-224", progress=False)
    assert path == tmp_path / "distill" / "R50x1_224.npz"


def test_an_interrupted_download_leaves_nothing_and_the_next_one_is_clean(
    server, tmp_path
) -> None:
    server.truncate[FILE] = 1
    with pytest.raises(WeightsDownloadError, match="failed") as error:
        fetch(server, tmp_path, progress=False)
    assert f"{server.url}{FILE}" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BiT-M-R50x1.npz.lock"]
    path = fetch(server, tmp_path, progress=False)
    assert path.read_bytes() == DATA
    assert server.gets(FILE) == 2


def test_a_damaged_cached_file_is_reported_and_downloaded_again(server, tmp_path, caplog) -> None:
    path = fetch(server, tmp_path, progress=False)
    damaged = bytearray(DATA)
    damaged[100] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING, logger="bit_finetune.bit.download"):
        assert fetch(server, tmp_path, progress=False).read_bytes() == DATA
    assert any(str(path) in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert server.gets(FILE) == 2


@pytest.mark.parametrize("chief", [True, False])
def test_a_file_put_in_the_cache_by_hand_is_recorded_and_used(server, tmp_path, chief) -> None:
    path = tmp_path / "BiT-M-R50x1.npz"
    path.write_bytes(DATA)
    assert fetch(server, tmp_path, download=chief, wait_seconds=5, progress=False) == path
    assert sum(server.requests.values()) == 0
    record = json.loads(record_path(path).read_text())
    assert (record["url"], record["sha256"]) == (None, hashlib.sha256(DATA).hexdigest())


def test_a_missing_file_names_the_url(server, tmp_path) -> None:
    with pytest.raises(WeightsDownloadError, match=r"^downloading") as error:
        fetch(server, tmp_path, name="BiT-S-R152x4", progress=False)
    assert f"{server.url}/BiT-S-R152x4.npz" in str(error.value)
    assert "404" in str(error.value)
    assert not (tmp_path / "BiT-S-R152x4.npz").exists()


def test_offline_fails_fast_saying_where_to_put_the_file(tmp_path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(WeightsDownloadError) as error:
        resolve_weights(NAME, cache_dir=tmp_path, base_url=url, progress=False)
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert f"{url}/BiT-M-R50x1.npz" in message
    assert "Cannot connect" in message
    assert str(tmp_path / "BiT-M-R50x1.npz") in message
    assert "path of a local .npz file" in message


def test_a_worker_waits_for_the_chiefs_file(server, tmp_path) -> None:
    chief = threading.Timer(0.5, fetch, (server, tmp_path), {"progress": False})
    chief.start()
    path = fetch(server, tmp_path, download=False, wait_seconds=30)
    chief.join()
    assert path.read_bytes() == DATA
    assert server.gets(FILE) == 1


def test_a_worker_gives_up_after_the_wait_naming_the_cache(tmp_path) -> None:
    with pytest.raises(WeightsDownloadError, match="waited 0.3 s for the chief") as error:
        resolve_weights(NAME, cache_dir=tmp_path, download=False, wait_seconds=0.3)
    assert "cache_dir" in str(error.value) and error.value.subject == "weights"


def test_paths_urls_and_random_pass_through_untouched(tmp_path) -> None:
    for weights in ("random", "gs://bucket/BiT-M-R50x1.npz", str(tmp_path / "w.npz")):
        assert resolve_weights(weights, cache_dir=tmp_path) == weights


def test_the_cache_folder_follows_parameter_then_environment_then_xdg(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("BIT_FINETUNE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "bit_finetune" / "weights"
    monkeypatch.setenv("BIT_FINETUNE_CACHE", str(tmp_path / "env"))
    assert cache_folder() == tmp_path / "env"
    assert cache_folder(tmp_path / "param") == tmp_path / "param"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("BIT_FINETUNE_CACHE")
    assert cache_folder() == Path.home() / ".cache" / "bit_finetune" / "weights"
