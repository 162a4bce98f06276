"""How rare a question word is counts only what the user may read (the `rare_terms` signal)."""

from __future__ import annotations

from desktop.engine.access import KnowledgeAccess
from desktop.engine.answer.evidence import content_words

from .test_scoped_answers import _setup_user


def test_term_rarity_counts_only_readable_shards(
    admin_workspace, trust_admin, memory_keyring, embedder, monkeypatch
):
    _setup_user(admin_workspace, "guest-user", "gina", ["guest"], monkeypatch)
    guest = KnowledgeAccess(embedder)
    _setup_user(admin_workspace, "", "harriet", ["hr"], monkeypatch)
    hr = KnowledgeAccess(embedder)
    try:
        [salary] = content_words("salary")
        [office] = content_words("office")
        guest_weights = guest.term_weights([salary, office])
        hr_weights = hr.term_weights([salary, office])
        # "salary" is only in the HR audience: to a guest it is as rare as a word found nowhere,
        # so the counts reveal nothing about documents the guest may not read.
        [nowhere] = guest.term_weights(["zyzzogeton"]).values()
        [hr_nowhere] = hr.term_weights(["zyzzogeton"]).values()
        assert guest_weights[salary] == nowhere
        assert hr_weights[salary] < hr_nowhere
        # A word every audience has is common for both.
        assert guest_weights[office] < guest_weights[salary]
        # Which words the readable documents use (kept in a translated query) says the same.
        assert guest.terms_found(["Salary", "office", "zyzzogeton"]) == {"office"}
        assert hr.terms_found(["Salary", "office"]) == {"Salary", "office"}
    finally:
        guest.close()
        hr.close()


def test_passage_vectors_are_the_indexed_chunk_vectors(
    admin_workspace, trust_admin, memory_keyring, embedder, monkeypatch
):
    """The abstention cosine compares the question with what retrieval compared it with: the
    chunk's indexed vector (its text with title and heading), not the passage text re-embedded."""
    import numpy as np

    _setup_user(admin_workspace, "", "harriet", ["hr"], monkeypatch)
    hr = KnowledgeAccess(embedder)
    try:
        passages = hr.search("salary bands", 3)
        vectors = hr.passage_vectors(passages)
        assert vectors is not None and vectors.shape == (len(passages), embedder.dimension)
        query = embedder.embed(["salary bands"])[0]
        # The dense ranking's own scores: each row is the indexed vector of that passage's chunk.
        for passage, row in zip(passages, vectors, strict=True):
            shard = hr._shard_of(passage.ref).shard
            scores, ids = shard.retriever.index.search(query[None, :], shard.retriever.index.ntotal)
            assert np.isclose(
                float(row @ query), float(scores[0][list(ids[0]).index(passage.ref.chunk_id)])
            )
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        # A passage whose pack is not open has no indexed vector: the text is embedded instead.
        from dataclasses import replace

        gone = replace(passages[0], ref=replace(passages[0].ref, pack_version=999))
        assert hr.passage_vectors([gone]) is None
    finally:
        hr.close()
