"""The one progress display (training.progress.StatusLine), which training and sweeps share."""

import pytest

from robustloss.training.progress import Progress, StatusLine


def test_bar_rewrites_one_line_and_ends_it(capsys):
    s = StatusLine("bar")
    s.note("compiling…")
    s.show("1/3", "ignored in bar mode")
    s.show("2/3")
    s.note("a note ends the live line first")
    s.show("3/3")
    s.end()
    s.end()  # nothing open: no second newline
    out = capsys.readouterr().out
    assert out == (
        "compiling…\n\r\x1b[K1/3\r\x1b[K2/3\na note ends the live line first\n\r\x1b[K3/3\n"
    )


def test_lines_log_messages_and_none_is_silent(capsys):
    lines = []
    s = StatusLine("lines", log=lines.append)
    s.note("loading")
    s.show("live only")  # no message: nothing to log
    s.show("live", "event  [live]")
    s.end()
    assert lines == ["loading", "event  [live]"]
    quiet = StatusLine("none", log=lines.append)
    quiet.note("x")
    quiet.show("x", "x")
    quiet.end()
    assert lines == ["loading", "event  [live]"] and capsys.readouterr().out == ""
    with pytest.raises(ValueError, match=r"mode='bars' is not valid; choose one of \['auto'"):
        StatusLine("bars")


def test_training_progress_formats_epochs_through_it():
    lines = []
    p = Progress("lines", 2, log=lines.append)
    p.update({"epoch": 1, "train/loss": [0.5, 0.7], "test/top1": 0.25, "time": 1.0})
    assert lines[0].startswith("epoch 1/2  train/loss=0.6000  test/top1=0.2500  1.0s ETA ")
