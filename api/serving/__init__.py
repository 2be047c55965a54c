"""The curated data the API serves: gold marts published into versioned serving tables."""
