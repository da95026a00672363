import io
import sys

from nnprof import progress


def test_silent_when_not_a_tty(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(progress, "_enabled", True)
    with progress.progress_bar("x", total=3) as advance:
        for _ in range(3):
            advance()
    assert sys.stderr.getvalue() == ""
    assert not progress.is_enabled()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_tty_shows_a_bar_unless_turned_off(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Tty())
    monkeypatch.delenv("NNPROF_PROGRESS", raising=False)
    # An earlier in-process CLI run with --format json may have turned bars off for the process.
    monkeypatch.setattr(progress, "_enabled", True)
    assert progress.is_enabled()
    with progress.progress_bar("overfit-batch", total=2) as advance:
        advance()
        advance()
    progress.set_enabled(False)
    try:
        assert not progress.is_enabled()
    finally:
        progress.set_enabled(True)
    monkeypatch.setenv("NNPROF_PROGRESS", "0")
    assert not progress.is_enabled()
    monkeypatch.delenv("NNPROF_PROGRESS")

    class Ctx:
        options = {"progress": False}

    assert not progress.is_enabled(Ctx())


def test_the_cli_turns_bars_back_on_for_text_after_a_json_run():
    from nnprof.cli import _quiet_progress

    _quiet_progress("json", None)
    assert not progress._enabled
    _quiet_progress("text", None)
    assert progress._enabled
