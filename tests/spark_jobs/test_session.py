"""The session's JVM runs with the settings landing was measured with."""

from __future__ import annotations

from pyspark.sql import SparkSession


def test_the_driver_collects_garbage_with_the_throughput_collector(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    beans = jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    names = {bean.getName() for bean in beans}
    # The parallel collector's two generations; G1 (the JDK 17 default) names "G1 ...".
    assert names == {"PS Scavenge", "PS MarkSweep"}, names
