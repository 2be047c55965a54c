"""The operator's data vocabulary: contracts, settings and the sources that honour them."""
