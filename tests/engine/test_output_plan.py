"""What the simulated model reads and writes: prompt token counts and filler output lengths."""

from __future__ import annotations

from sloserve.engine import generation


def _plan(
    *,
    max_tokens: int,
    min_tokens: int = 0,
    stop: tuple[str, ...] = (),
    stop_token_ids: tuple[int, ...] = (),
    include_stop_str_in_output: bool = False,
) -> generation.OutputPlan:
    conditions = generation.StopConditions(
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        stop=stop,
        stop_token_ids=stop_token_ids,
        include_stop_str_in_output=include_stop_str_in_output,
    )
    return generation.plan_output(conditions)


def test_a_text_prompt_has_one_token_per_word() -> None:
    assert generation.count_words("  the quick\nbrown\tfox ") == 4
    assert generation.prompt_tokens_of([5, 6, 7]) == 3


def test_without_stop_conditions_exactly_max_tokens_are_generated() -> None:
    plan = _plan(max_tokens=37)
    assert plan.num_tokens == 37
    assert plan.finish_reason == "length"
    assert plan.stop_reason is None
    assert plan.text.split() == [generation.FILLER_WORDS[i % 16] for i in range(37)]


def test_a_stop_string_ends_the_output_before_it() -> None:
    plan = _plan(max_tokens=50, stop=("echo",))
    assert plan.num_tokens == 5  # alpha bravo charlie delta echo
    assert plan.text == " alpha bravo charlie delta "
    assert (plan.finish_reason, plan.stop_reason) == ("stop", "echo")


def test_a_stop_string_spanning_tokens_is_cut_where_it_starts() -> None:
    plan = _plan(max_tokens=50, stop=("o charlie d",))
    assert plan.num_tokens == 4
    assert plan.text == " alpha brav"
    assert "".join(plan.token_texts) == plan.text


def test_include_stop_str_in_output_keeps_the_stop_string() -> None:
    plan = _plan(max_tokens=50, stop=("delta",), include_stop_str_in_output=True)
    assert plan.text == " alpha bravo charlie delta"


def test_stop_conditions_wait_for_min_tokens() -> None:
    plan = _plan(max_tokens=40, stop=("alpha",), min_tokens=2)
    assert plan.num_tokens == 17  # the next " alpha" is token 17
    assert plan.finish_reason == "stop"


def test_a_stop_token_id_ends_the_output_with_that_token() -> None:
    delta = generation.FIRST_FILLER_TOKEN_ID + 3
    plan = _plan(max_tokens=40, stop_token_ids=(delta,))
    assert plan.num_tokens == 4
    assert plan.text.endswith(" delta")
    assert plan.stop_reason == delta


def test_max_tokens_wins_when_no_stop_condition_is_met_in_time() -> None:
    plan = _plan(max_tokens=3, stop=("zulu",))
    assert (plan.num_tokens, plan.finish_reason) == (3, "length")
