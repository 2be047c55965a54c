"""Landing on Spark + Delta Lake: bronze, silver and quarantine, batch and streaming."""
