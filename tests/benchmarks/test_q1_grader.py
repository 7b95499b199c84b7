"""The quality benchmark's grader (benchmarks/q1_reply_quality.py): a reply built on a tool's
result must repeat it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from q1_reply_quality import Case, grade, result_facts

TIME = Case(conversation=1, voice="en-us", speed=160, say="What time is it right now?", key=("time",),
            tool="current_time", reply=(r"\d",))
TIMES = Case(conversation=1, voice="en-us", speed=160, say="What is twenty three times seventeen?",
             key=("23",), tool="calculate", reply=("391",))


def test_result_facts_are_the_results_numbers_and_names_not_the_requests() -> None:
    assert result_facts("Tuesday 1 December 2026, 8:17 PM (UTC)", "What time is it?") == {
        "tuesday", "1", "december", "2026", "8", "17"}
    # an equation: the result side, minus what the request said ("twenty three" is 23)
    assert result_facts("23 * 17 = 391", "What is twenty three times seventeen?") == {"391"}
    assert result_facts("no result", "hi") == set()


def test_a_reply_that_makes_up_the_time_is_not_acceptable() -> None:
    output = {"current_time": "Tuesday 1 December 2026, 8:17 PM (UTC)"}
    made_up = grade(TIME, heard=None, reply="The time is 3:15 PM.", tools=["current_time"], error=None,
                    outputs=output)
    assert not made_up.acceptable and "uses none of the tool's result" in made_up.problems[0]
    right = grade(TIME, heard=None, reply="It's 8:17 PM.", tools=["current_time"], error=None, outputs=output)
    assert right.acceptable, right.problems
    # no output recorded (an old report): only the reply patterns apply
    assert grade(TIME, heard=None, reply="The time is 3:15 PM.", tools=["current_time"], error=None).acceptable
    wrong = grade(TIMES, heard=None, reply="Twenty three times seventeen is 507.", tools=["calculate"],
                  error=None, outputs={"calculate": "23 * 17 = 391"})
    assert not wrong.acceptable


def test_a_reply_that_changes_the_tools_time_is_not_acceptable() -> None:
    output = {"current_time": "Thursday 3 December 2026, 12:37 PM (UTC)"}
    changed = grade(TIME, heard=None, reply="The time is 3:37 PM Thursday, December 2026.", tools=["current_time"],
                    error=None, outputs=output)
    assert changed.problems == ["tells a time the tool did not give (3:37)"]
    told = grade(TIME, heard=None, reply="It's 12:37 PM.", tools=["current_time"], error=None, outputs=output)
    assert told.acceptable, told.problems
