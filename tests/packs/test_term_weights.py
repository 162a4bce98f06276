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
    finally:
        guest.close()
        hr.close()
