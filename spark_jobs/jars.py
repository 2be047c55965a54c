"""The JVM packages Spark needs (Delta Lake, JDBC drivers), resolved once at set-up.

``make setup`` runs ``python -m spark_jobs.jars``: Spark's own Ivy resolution downloads the
packages from Maven Central into ``.venv/spark-ivy``. At run time the session factory passes
the resolved jar files with ``spark.jars``, so no test or job touches the network.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pyspark

IVY_DIR = Path(sys.prefix) / "spark-ivy"
MANIFEST = IVY_DIR / "resolved.txt"
SCALA = "2.13"
SQLITE_JDBC = "org.xerial:sqlite-jdbc:3.51.1.0"
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.8"


class JarsMissingError(RuntimeError):
    """The Spark packages were never resolved on this machine."""


def packages() -> list[str]:
    """Maven coordinates: Delta Lake matching the installed delta-spark, and JDBC drivers."""
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    delta = f"io.delta:delta-spark_{spark_minor}_{SCALA}:{version('delta-spark')}"
    return [delta, SQLITE_JDBC, POSTGRES_JDBC]


def resolved_jars() -> list[str]:
    """Local jar paths from the set-up resolution, checked against today's packages."""
    if not MANIFEST.exists():
        raise JarsMissingError("Spark's Delta and JDBC jars are not resolved; run `make setup`.")
    lines = MANIFEST.read_text().splitlines()
    if not lines or lines[0] != ",".join(packages()):
        raise JarsMissingError("Spark packages changed since set-up; run `make setup` again.")
    jars = lines[1:]
    missing = [j for j in jars if not Path(j).exists()]
    if missing:
        raise JarsMissingError(f"resolved jar {missing[0]} is gone; run `make setup` again.")
    return jars


def resolve() -> list[str]:
    """Resolve the packages with Spark's Ivy (needs Maven Central once) and record the jars."""
    from pyspark.sql import SparkSession

    IVY_DIR.mkdir(parents=True, exist_ok=True)
    wanted = ",".join(packages())
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("cems-resolve-jars")
        .config("spark.jars.packages", wanted)
        .config("spark.jars.ivy", str(IVY_DIR))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()
    jars = sorted(str(p) for p in (IVY_DIR / "jars").glob("*.jar"))
    MANIFEST.write_text("\n".join([wanted, *jars]) + "\n")
    return jars


if __name__ == "__main__":
    try:
        found = resolved_jars()
    except JarsMissingError:
        found = resolve()
    print(f"Spark packages ready: {len(found)} jars in {IVY_DIR / 'jars'}")
