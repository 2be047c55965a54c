"""Cross-cutting pieces of the API service: clock, security primitives, problems, logging."""
