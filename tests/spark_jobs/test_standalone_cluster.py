"""The same landing job on a real Spark standalone cluster (one master, one worker, loopback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest

from data_contracts.settings import Settings
from data_contracts.synthetic.generate import GenerateResult

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("spark-cluster")
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(work / "worker")}
    master = subprocess.Popen(
        [
            str(SPARK_CLASS),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
        env=env,
        stdout=(work / "master.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"spark://127.0.0.1:{port}"
    worker = subprocess.Popen(
        [
            str(SPARK_CLASS),
            "org.apache.spark.deploy.worker.Worker",
            url,
            "--host",
            "127.0.0.1",
            "--cores",
            "2",
            "--memory",
            "2g",
            "--webui-port",
            str(worker_ui),
        ],
        env=env,
        stdout=(work / "worker.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as response:
                    state = json.load(response)
                if [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"the standalone worker never registered; see {work}")
        yield url
    finally:
        for process in (worker, master):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_billing_lands_the_same_on_a_standalone_cluster(
    cluster: str, landed_source: tuple[Settings, GenerateResult], tmp_path: Path
) -> None:
    settings, result = landed_source
    lakehouse = tmp_path / "lakehouse"
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "CEMS_HOME": str(tmp_path / "home"),
        "CEMS_LANDING_ROOT": str(settings.landing_path),
        "CEMS_LAKEHOUSE_ROOT": str(lakehouse),
        "CEMS_SPARK_MASTER": cluster,
        "CEMS_SPARK_SHUFFLE_PARTITIONS": "2",
    }
    code = (
        "import json; from spark_jobs.pipeline import land;"
        "from spark_jobs.session import get_spark;"
        "reports = land(['billing']); spark = get_spark();"
        "print(json.dumps({'master': spark.sparkContext.master,"
        " 'executors': spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size(),"
        " 'reports': [r.to_dict() for r in reports]}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["master"] == cluster
    assert out["executors"] >= 2  # the driver plus at least one executor on the worker
    reports = {r["contract"]: r for r in out["reports"]}
    assert reports["billing.usage_daily"]["received"] == result.row_counts["billing.usage_daily"]
    assert all(r["balanced"] for r in reports.values())
    import deltalake

    silver = deltalake.DeltaTable(str(lakehouse / "silver" / "billing" / "usage_daily"))
    assert silver.to_pyarrow_table().num_rows == reports["billing.usage_daily"]["silver"]
