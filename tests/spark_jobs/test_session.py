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


def test_the_jit_compiles_the_large_methods_spark_generates(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hotspot = jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(hotspot)
    # HotSpot's default is true: methods over 8,000 bytes of bytecode are never compiled.
    assert bean.getVMOption("DontCompileHugeMethods").getValue() == "false"
