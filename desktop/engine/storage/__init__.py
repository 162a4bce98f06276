"""Encrypted local stores and their keys: SQLCipher databases, the keyring, sealing, history."""
