"""The distributed scan (undouble.cluster): a real Dask LocalCluster and a real S3 API (moto's server).

A small generated corpus (plus one broken file) is scanned locally and from
S3 on the cluster; the groups, keepers and skip reasons must agree. Re-runs
with a results store hash only the new files; a worker that dies mid-run
costs nothing; a file whose task fails is skipped with the reason; memory://
works in this process; move refuses URLs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

# The packages below are in the test extra: a missing one must fail, not skip.
import fsspec  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from undouble import Undouble  # noqa: E402
from undouble.cli import _storage_options, main  # noqa: E402
from undouble.examples import make_synthetic_set  # noqa: E402

BUCKET = "undouble-test"
THRESHOLD = "10"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def aws_env():
    """Dummy AWS credentials in the environment (before the workers start, so that they inherit them)."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                            "AWS_SESSION_TOKEN")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def s3_endpoint(aws_env):
    """An S3-compatible HTTP server on 127.0.0.1 (moto), with an empty bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True)
    fs.mkdir(BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def client(aws_env):
    """Two worker processes with one thread each (module-wide: starting them costs seconds)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, saved) if p)  # workers import this checkout
    try:
        with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
            with Client(cluster) as dask_client:
                yield dask_client
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A generated set with planted duplicates and one broken JPEG."""
    folder = tmp_path_factory.mktemp("corpus")
    make_synthetic_set(folder, n_originals=14, n_with_duplicates=5, seed=7)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def _image_names(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith((".jpg", ".png")))


def _upload(folder, endpoint: str, prefix: str) -> str:
    fs = fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True)
    for name in sorted(os.listdir(folder)):
        fs.pipe(f"{BUCKET}/{prefix}/{name}", (folder / name).read_bytes())
    return f"s3://{BUCKET}/{prefix}"


def _scan_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["scan", *args, "--json", "--threshold", THRESHOLD, "-q"]) == 0
    return json.loads(capsys.readouterr().out)


def _by_name(data: dict) -> tuple:
    """Groups (keeper first, then by name), distances and skip reasons, by file name."""
    groups = sorted((g[0].rsplit("/", 1)[-1], sorted(p.rsplit("/", 1)[-1] for p in g[1:])) for g in data["groups"])
    skipped = sorted((s["path"].rsplit("/", 1)[-1], s["reason"]) for s in data["skipped"])
    return groups, sorted(sorted(d) for d in data["distances"]), skipped, data["n_images"]


def _groups(model: Undouble) -> list:
    return sorted(sorted(p.rsplit("/", 1)[-1] for p in g) for g in model.results["select_pathnames"])


def _local_model(folder) -> Undouble:
    model = Undouble(verbose=30)
    model.import_data(str(folder))
    model.compute_hash()
    model.group(threshold=int(THRESHOLD))
    return model


# --------------------------------------------------------------------------- tests
def test_s3_scan_on_cluster_matches_local_scan(client, s3_endpoint, corpus, capsys):
    url = _upload(corpus, s3_endpoint, "photos")
    local = _scan_json(capsys, str(corpus), "--no-cache")
    remote = _scan_json(capsys, url, "--dask", client.scheduler.address,
                        "--storage-option", f"endpoint_url={s3_endpoint}")
    assert local["n_groups"] >= 4  # the planted duplicates are found at all
    assert _by_name(remote) == _by_name(local)
    assert all(p.startswith(url + "/") for g in remote["groups"] for p in g)  # files named by their URLs
    assert [s["reason"] for s in remote["skipped"]] == [s["reason"] for s in local["skipped"]]
    assert remote["skipped"][0]["path"] == f"{url}/broken.jpg"


def test_dask_on_local_folder_gives_the_in_process_json(client, corpus, capsys):
    local = _scan_json(capsys, str(corpus), "--no-cache")
    on_cluster = _scan_json(capsys, str(corpus), "--dask", client.scheduler.address)
    assert on_cluster == local  # same paths, groups, distances, skipped: byte for byte


def test_cli_dask_local_workers_print_the_in_process_json(corpus):
    """``undouble scan DIR --dask local:2 --json`` (workers forked from the command) as ``undouble scan DIR --json``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    outputs = []
    for extra in (["--no-cache"], ["--dask", "local:2"]):
        out = subprocess.run([sys.executable, "-m", "undouble", "scan", str(corpus), "--json", "-q", *extra],
                             capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        outputs.append(json.loads(out.stdout))
    assert outputs[1] == outputs[0]
    assert outputs[0]["n_groups"] >= 4


def test_rerun_with_results_store_hashes_only_new_files(client, s3_endpoint, corpus, tmp_path):
    url = _upload(corpus, s3_endpoint, "rerun")
    options = {"endpoint_url": s3_endpoint}
    store = tmp_path / "results"
    first = Undouble(verbose=30, scheduler=client, storage_options=options, results=str(store))
    first.import_data(url)
    n_first = len(first.results["pathnames"])
    assert first.results["cluster"]["hashed"] == n_first > 0 and first.results["cluster"]["from_store"] == 0
    assert [p.suffix for p in store.iterdir()] == [".parquet"]  # written by the workers, merged by the client

    fs = fsspec.filesystem("s3", endpoint_url=s3_endpoint, skip_instance_cache=True)
    names = sorted(n for n in os.listdir(corpus) if n.endswith(".jpg") and n != "broken.jpg")
    for k, name in enumerate(names[:3]):  # three new objects: copies under new names
        fs.pipe(f"{BUCKET}/rerun/new/added_{k}.jpg", (corpus / name).read_bytes())
    second = Undouble(verbose=30, scheduler=client, storage_options=options, results=str(store))
    second.import_data(url)
    second.compute_hash()
    second.group(threshold=int(THRESHOLD))
    stats = second.results["cluster"]
    assert (stats["hashed"], stats["from_store"]) == (3, n_first)
    fresh = Undouble(verbose=30, storage_options=options)  # no store, in this process: the reference
    fresh.import_data(url)
    fresh.compute_hash()
    fresh.group(threshold=int(THRESHOLD))
    assert fresh.results["pathnames"] == second.results["pathnames"]
    assert np.array_equal(fresh.results["img_hash"], second.results["img_hash"])
    assert _groups(second) == _groups(fresh)
    assert any("added_0.jpg" in n for g in _groups(second) for n in g)  # a copy groups with its original


def test_worker_killed_mid_run_leaves_the_run_complete(client, corpus, tmp_path):
    from distributed.diagnostics.plugin import WorkerPlugin

    flag = str(tmp_path / "killed-once")

    class KillOnce(WorkerPlugin):
        """Kills the worker process the first time it starts a hashing task (cloudpickled by value)."""

        name = "undouble-test-kill-once"

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and "undouble-hash" in str(key) and not os.path.exists(flag):
                open(flag, "w").close()
                os._exit(1)

    client.register_plugin(KillOnce())
    try:
        model = Undouble(verbose=30, scheduler=client)
        model.import_data(str(corpus))
        model.compute_hash()
        model.group(threshold=int(THRESHOLD))
    finally:
        client.unregister_worker_plugin(KillOnce.name)
    assert os.path.exists(flag)  # a worker did die
    listed = _image_names(corpus)
    accounted = sorted([os.path.basename(p) for p in model.results["pathnames"]]
                       + [os.path.basename(p) for p, _ in model.results["skipped"]])
    assert accounted == listed
    assert all(reason for _, reason in model.results["skipped"])
    local = _local_model(corpus)
    assert model.results["pathnames"] == local.results["pathnames"]
    assert _groups(model) == _groups(local)


def test_a_failing_task_costs_only_its_file(corpus, monkeypatch):
    import undouble.cluster as cluster

    fs = fsspec.filesystem("memory")
    for name in sorted(os.listdir(corpus)):
        fs.pipe(f"memory://failing/set/{name}", (corpus / name).read_bytes())
    real = cluster.decode_one

    def decode_or_crash(name, job, data=None):
        if name.endswith("img_0001.jpg"):
            raise RuntimeError("simulated crash of a decoder")
        return real(name, job, data)

    monkeypatch.setattr(cluster, "decode_one", decode_or_crash)
    model = Undouble(verbose=30, n_jobs=2)
    model.import_data("memory://failing/set")
    stats = model.results["cluster"]
    assert stats["failed_partitions"] == 1 and stats["retried_files"] >= 2
    skipped = dict(model.results["skipped"])
    assert "simulated crash" in skipped["memory://failing/set/img_0001.jpg"]
    assert "memory://failing/set/broken.jpg" in skipped
    assert len(model.results["pathnames"]) == len(_image_names(corpus)) - 2


def test_memory_urls_in_process(corpus):
    fs = fsspec.filesystem("memory")
    for name in sorted(os.listdir(corpus)):
        fs.pipe(f"memory://inproc/set/{name}", (corpus / name).read_bytes())
    fs.pipe("memory://inproc/set/undouble/moved.jpg", (corpus / "img_0001.jpg").read_bytes())  # output folder
    fs.pipe("memory://inproc/set/notes.txt", b"not an image")
    model = Undouble(verbose=30)
    model.import_data("memory://inproc/set")
    model.compute_hash()
    model.group(threshold=int(THRESHOLD))
    local = _local_model(corpus)
    assert [p.rsplit("/", 1)[-1] for p in model.results["pathnames"]] == local.results["filenames"]
    assert _groups(model) == _groups(local)
    assert np.array_equal(model.results["img_hash"], local.results["img_hash"])
    assert np.allclose(model.results["blur"], local.results["blur"])
    assert np.array_equal(model.results["img"][0], local.results["img"][0])  # rows decode again on use
    with pytest.raises(ValueError, match="local files only"):
        model.move(yes=True)
    with pytest.raises(ValueError, match="this process only"):
        Undouble(verbose=30, scheduler="local:1").import_data("memory://inproc/set")


def test_move_refuses_urls(capsys):
    assert main(["move", "s3://bucket/photos", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "s3://bucket/photos is a URL" in err and "not supported" in err


def test_storage_options_parse():
    from undouble.cli import _storage_option

    pairs = [_storage_option("endpoint_url=http://127.0.0.1:9000"), _storage_option("anon=true"),
             _storage_option("client_kwargs.region_name=eu-west-1")]
    assert _storage_options(pairs) == {"endpoint_url": "http://127.0.0.1:9000", "anon": True,
                                       "client_kwargs": {"region_name": "eu-west-1"}}
    with pytest.raises(Exception, match="KEY=VALUE"):
        _storage_option("no-equals-sign")


def test_core_scan_imports_no_dask(corpus, tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    for name in sorted(os.listdir(corpus))[:3]:
        shutil.copy(corpus / name, folder / name)
    code = ("import sys, undouble\nfrom undouble import Undouble\nm = Undouble(verbose=30)\n"
            f"m.import_data({str(folder)!r})\nm.compute_hash()\nm.group()\n"
            "heavy = [n for n in ('dask', 'distributed', 'fsspec', 's3fs', 'pyarrow') if n in sys.modules]\n"
            "assert not heavy, heavy\nprint('light')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "light" in out.stdout, out.stderr


def test_decode_bytes_gives_read_image_pixels(corpus):
    from undouble.io import ImageReadError, decode_bytes, read_image

    for name in ("img_0000.png", "img_0001.jpg"):
        path = corpus / name
        from_file, from_bytes = read_image(path, (32, 32)), decode_bytes(path.read_bytes(), (32, 32))
        assert np.array_equal(from_file.pixels, from_bytes.pixels)
        assert (from_file.width, from_file.height) == (from_bytes.width, from_bytes.height)
        assert from_bytes.file_size == path.stat().st_size
    data = (corpus / "img_0001.jpg").read_bytes()
    with pytest.raises(ImageReadError, match="truncated"):
        decode_bytes(data[:len(data) // 2])
    with pytest.raises(ImageReadError, match="empty"):
        decode_bytes(b"")


@pytest.mark.parametrize("method", ["phash", "crop-resistant"])
def test_results_store_round_trip_at_a_url(corpus, method):
    """A store at a URL (memory://) gives back the same hashes, multi-segment ones included."""
    fs = fsspec.filesystem("memory")
    names = _image_names(corpus)[:8]
    for name in names:
        fs.pipe(f"memory://store-{method}/set/{name}", (corpus / name).read_bytes())
    runs = []
    for _ in range(2):
        model = Undouble(method=method, verbose=30, results=f"memory://store-{method}/results")
        model.import_data(f"memory://store-{method}/set")
        model.compute_hash()
        runs.append(model)
    assert runs[0].results["cluster"]["hashed"] == len(names) - ("broken.jpg" in names)
    assert (runs[1].results["cluster"]["hashed"], runs[1].results["cluster"]["from_store"]) == (
        0, len(runs[0].results["pathnames"]))
    assert runs[1].results["img_hash_hex"] == runs[0].results["img_hash_hex"]
    parts = [p for p in fs.find(f"memory://store-{method}/results") if p.endswith(".parquet")]
    assert len(parts) == 1  # the partitions' parts were merged after the first run
    assert np.array_equal(runs[1].results["resolution"], runs[0].results["resolution"])
    assert runs[1].results["filestats"] == runs[0].results["filestats"]
    if method == "crop-resistant":
        assert runs[1].results["hash_counts"] is not None
        assert np.array_equal(runs[1].results["hash_counts"], runs[0].results["hash_counts"])


def test_thumbnails_and_greyness_travel_and_persist(corpus, tmp_path):
    """What verification needs (thumbnails, greyness, sharpness) comes back from the workers and
    from the results store, equal to what the in-process import records for the same files."""
    fs = fsspec.filesystem("memory")
    names = _image_names(corpus)[:6]
    for name in names:
        fs.pipe(f"memory://extra/set/{name}", (corpus / name).read_bytes())
    runs = []
    for _ in range(2):
        model = Undouble(verbose=30, results=str(tmp_path / "store"))
        model.import_data("memory://extra/set")
        runs.append(model.results)
    first, second = runs
    assert second["cluster"]["from_store"] == len(first["pathnames"]) > 0
    local = Undouble(verbose=30)
    local.import_data([str(corpus / p.rsplit("/", 1)[-1]) for p in first["pathnames"]])
    for results in runs:
        assert results["thumbs"].shape == local.results["thumbs"].shape
        assert np.array_equal(results["thumbs"], local.results["thumbs"])
        assert results["is_grey"].dtype == bool
        assert np.array_equal(results["is_grey"], local.results["is_grey"])
        assert np.allclose(results["sharpness"], local.results["sharpness"], equal_nan=True)

def test_hash_partition_skips_a_vanished_url_and_keeps_the_rest(corpus):
    from undouble.cluster import FETCH_AHEAD, HashJob, hash_partition
    from undouble.remote import RemoteFile

    fs = fsspec.filesystem("memory")
    names = _image_names(corpus)
    files = []
    for k in range(FETCH_AHEAD + 3):  # more than one fetch batch
        name = names[k % len(names)]
        if name == "broken.jpg":
            continue
        fs.pipe(f"memory://vanish/{k}-{name}", (corpus / name).read_bytes())
        files.append(RemoteFile(f"memory://vanish/{k}-{name}", 1, 0, "etag:x"))
    files.insert(2, RemoteFile("memory://vanish/gone.jpg", 10, 0, "etag:y"))
    got = hash_partition(files, HashJob((128, 128), False, 10**8, "phash", 8))
    assert got.skipped == [("memory://vanish/gone.jpg", "file not found (vanished since it was listed?)")]
    assert got.names == [f.name for f in files if "gone" not in f.name]
    assert list(got.sizes) == [(corpus / n.split("-", 1)[1]).stat().st_size for n in got.names]  # bytes read
    assert got.versions == ["etag:x"] * len(got.names)  # the listing's version
    assert len(got.hashes) == len(got.names)
