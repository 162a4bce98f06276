"""Enclave: a private, offline desktop assistant over an organisation's own documents."""

__version__ = "0.1.0"
