"""Encryption at rest of personal columns: key providers, the keyring, encrypted columns."""
