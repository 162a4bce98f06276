"""The model runtime: the catalog of models, their files, and llama.cpp (chat model and embedder)."""
