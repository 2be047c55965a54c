"""Response and request bodies, one module per resource (TM Forum names where they fit)."""
