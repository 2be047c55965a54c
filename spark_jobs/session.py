"""The one place a SparkSession is built. Master, lakehouse root and jars come from settings.

``CEMS_SPARK_MASTER``: ``local[*]`` (default), ``local[2]``, ``spark://host:7077`` for a
standalone cluster, or ``sc://host:15002`` for Spark Connect (the server then owns the
Delta configuration and jars).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pyspark.sql import SparkSession

from data_contracts.settings import Settings, get_settings
from spark_jobs.jars import resolved_jars

DELTA_CONFIG = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
LOCAL_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.driver.memory": "3g",
    # Contract checks alias every column many times over; inferring constraints across
    # them took the optimizer 12 s per query even for a 14-row table.
    "spark.sql.constraintPropagation.enabled": "false",
}

JVM_GC = "-XX:+UseParallelGC"
# HotSpot leaves methods over 8,000 bytes of bytecode to its interpreter. Spark compiles each
# whole-stage plan into one method, and a wide contract's checks (every column typed, tested
# and kept beside its received text) go over that: the CRM tables' passes ran interpreted.
# (Spark's other remedy, ``spark.sql.codegen.hugeMethodLimit=8000``, would run such plans
# without generated code at all.) CRM at 200,000 customers: 86.8, 80.5 and 85.9 s without
# the flag, 76.5, 80.3 and 77.9 s with it, alternating runs; billing, telemetry and
# interactions unchanged.
JVM_JIT = "-XX:-DontCompileHugeMethods"
JVM_OPTIONS = f"{JVM_GC} {JVM_JIT}"


def spark_config(settings: Settings) -> dict[str, Any]:
    """Every configuration value the session is built with (pure, for tests and docs)."""
    config: dict[str, Any] = {**LOCAL_DEFAULTS, **DELTA_CONFIG}
    config["spark.sql.shuffle.partitions"] = str(settings.spark_shuffle_partitions)
    config["spark.default.parallelism"] = str(settings.spark_shuffle_partitions)
    # Each commit and each read of a Delta table rebuilds or scans its file list in this many
    # tasks; landing makes hundreds of small commits, so few tasks (billing at 200,000
    # customers: 271 s with 8, 218-252 s with 2).
    config["spark.databricks.delta.snapshotPartitions"] = str(settings.delta_snapshot_partitions)
    # Listing a batch's input files (a stream's micro-batch names hundreds) runs as a job with
    # one task per path by default: 720 tasks, 13 s on two cores, to stat 720 files.
    config["spark.sql.sources.parallelPartitionDiscovery.parallelism"] = str(
        settings.spark_shuffle_partitions
    )
    config["spark.sql.warehouse.dir"] = f"{settings.lakehouse_root.rstrip('/')}/_spark_warehouse"
    config["spark.jars"] = ",".join(resolved_jars())
    config["spark.pyspark.python"] = sys.executable  # executors run the same environment
    # The throughput collector: landing is batch work, and G1 (the JDK default) spent more of
    # the two cores on its concurrent work than its short pauses saved (billing at 200,000
    # customers: 242 and 244 s with G1, 216, 207 and 216 s with this, alternating runs).
    config["spark.driver.extraJavaOptions"] = (
        f"-Dderby.system.home={settings.home / 'spark'} {JVM_OPTIONS}"
    )
    config["spark.executor.extraJavaOptions"] = JVM_OPTIONS
    return config


def get_spark(app_name: str = "cems", settings: Settings | None = None) -> SparkSession:
    """The process's SparkSession, created on first use."""
    settings = settings or get_settings()
    master = settings.spark_master
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("sc://"):
        return SparkSession.builder.remote(master).appName(app_name).getOrCreate()
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in spark_config(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
