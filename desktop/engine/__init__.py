"""The Qt-free core of Enclave: models, retrieval, storage, secrets and policy.

Nothing under this package may import PySide6 or `desktop.ui` (checked by import-linter and a test).
"""
