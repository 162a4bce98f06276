"""Where passages give worked examples (`answer.examples`), on text shaped like the handbook's."""

from __future__ import annotations

from desktop.engine.answer.examples import worked_examples


def spans(text: str) -> list[str]:
    return [text[start:end] for start, end in worked_examples(text).spans]


def test_a_colon_example_runs_to_its_paragraph_end_and_only_derived_sentences_leave_the_rule() -> (
    None
):
    text = (
        "You can request advanced leave.\n\nFor example: It is June 19th. You earn 4 hours per pay "
        "period and there are 14 pay periods left. You will earn 56 more hours. Therefore, you can "
        "request up to 56 hours.\n\nAsk your supervisor first."
    )
    assert spans(text) == [text.split("\n\n")[1]]
    rule = worked_examples(text).rule_text
    assert "56" not in rule
    assert "You earn 4 hours per pay period and there are 14 pay periods left." in rule
    assert "June 19th" not in rule and "Ask your supervisor first." in rule
    holiday = (
        "For example: you typically work 10 hours on Thursdays. December 25th falls on a Thursday. "
        "You are given 8 hours for the paid holiday, and you work 2 extra hours on Monday."
    )
    assert worked_examples(holiday).rule_text.strip() == ""


def test_an_opener_inside_a_wrapped_sentence_or_a_longer_word_is_no_example() -> None:
    assert (
        spans("Attributing quotes with agency affiliation,\nfor example, may be sensitive.") == []
    )
    assert spans("Use a shared tool (for example, Google Docs) to draft.") == []
    assert spans("For instances when a supervisor is away, ask HR.") == []
    assert spans("Some staff\n    examples: 3 days.") == []


def test_a_comma_example_covers_its_sentence_and_what_carries_it_on() -> None:
    text = (
        "Cycles are long. For example, with cycles of 2-3 years a project waits. If it waits, it "
        "would cost 10 weeks. Contrast this with ours, where procurement occurs every 1-3 months."
    )
    assert spans(text) == [
        "For example, with cycles of 2-3 years a project waits. If it waits, it would cost 10 weeks."
    ]
    # An "If" that derives nothing is the page's next rule, not the example going on.
    rule = "For example, MyUSA encrypts rows. If you are unsure, consult Infrastructure first."
    assert spans(rule) == ["For example, MyUSA encrypts rows."]
    times = (
        "For example, if you come in at 8:00 a.m. and take a 30-minute lunch, you'd work til 4:30."
    )
    assert spans(times) == [times]


def test_an_example_in_a_list_item_ends_with_its_item() -> None:
    listed = "- Rules apply.\n- For instance, 3 days.\n- Staff earn 5 days.\n\nSuppose 2 staff."
    assert spans(listed) == ["- For instance, 3 days.", "Suppose 2 staff."]
    nested = (
        "Staff earn 5 days.\n- For example:\n  - You arrive at 7 AM.\n  - You leave at 3:30 PM.\n"
        "- Staff earn 6 days."
    )
    assert spans(nested) == ["- For example:\n  - You arrive at 7 AM.\n  - You leave at 3:30 PM."]
    wrapped = (
        "- **Open by default.** Say where you are.\n  For example: at 9 AM.\n- **Be kind.** Always."
    )
    assert spans(wrapped) == ["  For example: at 9 AM."]


def test_a_bare_example_heading_takes_the_table_or_quote_after_it() -> None:
    text = "Variable day.\n\n**For example:**\n\n| Day | Hours |\n| Monday | 10 |\n\nNext rule: 8 hours."
    assert spans(text) == ["**For example:**\n\n| Day | Hours |\n| Monday | 10 |"]
    # Not a list after it (often the page's own rules), nor after a sentence that ends "For example:".
    listed = "For example:\n\n- We default to open channels, so you will see more.\n\nEnd."
    assert spans(listed) == ["For example:"]
    ending = "Share with the team. For example:\n\n| Day | Hours |\n\nEnd."
    assert spans(ending) == ["For example:"]
    # "For example, teams can:" introduces a list of real things; it is not bare.
    intro = "For example, 18F teams can:\n\n- pair daily\n- demo weekly"
    assert spans(intro) == ["For example, 18F teams can:"]


def test_a_quoted_sample_message_stays_part_of_the_rule() -> None:
    text = (
        "Example:\n\n> “I will be out of the office. Can you enter 40 hours for me to #670?”"
        "\n\nTell your supervisor."
    )
    assert spans(text) and "#670" in worked_examples(text).rule_text


def test_a_sentence_retells_an_example_only_by_setting_up_its_case() -> None:
    leave = worked_examples(
        "For example: It is June 19th, 2022. You earn 4 hours per pay period and there are 14 pay "
        "periods left. You will earn 56 more hours. Therefore, you can request up to 56 hours."
    )

    def retold(sentence: str, figures: list[str]) -> bool:
        return leave.retold_by(sentence, ["56"], figures, lambda f, t: f in t)

    assert retold("With 14 pay periods left, you can request up to 56 hours.", ["14", "56"])
    assert not retold("New employees earn 56 more hours over 14 pay periods.", ["14", "56"])
    assert not retold("New employees earn 4 hours per pay period, 56 hours in all.", ["4", "56"])
    assert not retold("If it is 2022, you can request up to 56 hours.", ["2022", "56"])
