"""ConsoleCopy: stacked copies (the run history and a report) and what they give back."""

import io
import sys

import pytest

from fastest.summary.console import ConsoleCopy, console_text


@pytest.mark.parametrize("first_out", [True, False], ids=["inner-first", "outer-first"])
def test_two_copies_each_keep_what_was_printed_and_stdout_comes_back(monkeypatch, first_out):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    lines: list[str] = []
    history = ConsoleCopy.install(on_line=lambda: lines.append("line"))
    print("fastest-Train: step: 1;")
    report = ConsoleCopy.install(limit=1000)
    print("fastest-Train: step: 2;")
    for copy in ((report, history) if first_out else (history, report)):
        copy.uninstall()
    assert sys.stdout is terminal  # whichever order they leave in
    print("after")
    assert history.take() == "fastest-Train: step: 1;\nfastest-Train: step: 2;\n"
    assert report.take() == "fastest-Train: step: 2;\n"
    assert terminal.getvalue() == "fastest-Train: step: 1;\nfastest-Train: step: 2;\nafter\n"
    assert lines == ["line", "line"]  # one call per printed line (print writes the newline on its own)


def test_take_complete_lines_keeps_the_unfinished_one_and_put_back_restores_order():
    copy = ConsoleCopy(io.StringIO())
    copy.write("one\ntw")
    assert copy.take(complete_lines=True) == "one\n"
    copy.put_back("zero\n")
    copy.write("o\n")
    assert copy.take() == "zero\ntwo\n"


def test_console_text_of_a_bar_on_a_terminal_is_the_log_lines():
    raw = ("\rEpoch 1:   0%|  | 0/4 [00:00<?, ?it/s]\r          \rfastest-Train: step: 1;\n"
           "\x1b[32mgreen\x1b[0m\n\rEpoch 1: 100%|##| 4/4 [00:02<00:00, 2.0it/s]\n")
    assert console_text(raw) == "fastest-Train: step: 1;\ngreen\n"
