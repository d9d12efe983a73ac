"""Progress of long loops: readable lines where output is not a terminal, a live bar where it is."""

import io
import re

from rich.console import Console

from mgrd import progress as P
from mgrd.progress import ProgressBar, format_seconds, format_values, progress_hook, track

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def plain():
    return Console(file=io.StringIO(), force_terminal=False, width=100)


def test_formatting():
    assert format_seconds(7.4) == "0:07" and format_seconds(754) == "12:34" and format_seconds(3723) == "1:02:03"
    assert format_values({"loss": 1.23456, "step": 3, "tag": "x"}) == "loss 1.235  step 3  tag x"


def test_log_lines_every_n_seconds_without_control_characters():
    console, clock = plain(), Clock()
    with ProgressBar("sft", 50, console=console, every_s=10.0, clock=clock) as bar:
        for step in range(50):
            clock.now += 1.0
            bar.advance(loss=0.5 if step < 30 else 0.25)
    text = console.file.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    # the opening line, one per 10 s (steps 10, 20, 30, 40) and the last one (step 50, due at once)
    assert [line.split()[1] for line in lines] == ["0/50", "10/50", "20/50", "30/50", "40/50", "50/50"]
    assert lines[0] == "sft  0/50 (0%) steps  elapsed 0:00"
    # 10 steps in 10 s, 40 to go: 40 s left
    assert lines[1] == "sft  10/50 (20%) steps  loss 0.5  elapsed 0:10  left 0:40"
    assert lines[-1] == "sft  50/50 (100%) steps  loss 0.25  elapsed 0:50  left 0:00"


def test_every_n_steps_and_the_last_count_on_close():
    console, clock = plain(), Clock()
    bar = ProgressBar("curation", 0, unit="questions", console=console, every_s=1e9, every_n=4, clock=clock)
    for _ in range(10):
        bar.advance()
    bar.close()
    counts = [line.split()[1] for line in console.file.getvalue().splitlines()]
    assert counts == ["0", "4", "8", "10"]   # unknown total: counts only, and the held-back last count on close


def test_resumed_bar_estimates_from_its_own_pace():
    clock = Clock()
    bar = ProgressBar("ppo", 100, start=60, console=plain(), clock=clock)
    clock.now += 8.0
    bar.update(70)
    assert bar.seconds_left() == 8.0 / 10 * 30   # 10 steps in 8 s since the resume, 30 left


def test_disabled_bar_is_silent():
    console = plain()
    with ProgressBar("x", 3, console=console, enabled=False) as bar:
        bar.advance(3, loss=1.0)
    assert console.file.getvalue() == ""


def test_terminal_renders_a_live_bar_with_values():
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system="standard")
    with ProgressBar("encoder", 40, console=console) as bar:
        for _ in range(40):
            bar.advance(loss=0.125)
    screen = ANSI.sub("", console.file.getvalue())
    assert "\x1b[" in console.file.getvalue()           # a live display, not plain lines
    last = [line for line in screen.replace("\r", "\n").splitlines() if "encoder" in line][-1]
    assert "40/40" in last and "loss 0.125" in last and "left" in last
    assert P._live == {}                                 # the display is closed with the last bar


def test_nested_bars_share_one_display():
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    outer = ProgressBar("pipeline", 2, console=console)
    inner = ProgressBar("sft", 5, console=console)
    assert len(P._live) == 1 and P._live[id(console)][1] == 2
    inner.advance(5)
    inner.close()
    assert len(P._live) == 1
    outer.close()
    assert P._live == {}


def test_hook_opens_on_first_call_and_closes_at_total():
    console = plain()
    hook = progress_hook("eval mmau", unit="requests", console=console, every_s=1e9)
    for done in range(1, 6):
        hook(done, 5)
    hook(1, 2)   # a second loop through the same hook gets a bar of its own
    hook(2, 2)
    lines = console.file.getvalue().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["0/5 (0%) requests", "5/5 (100%) requests",
                                                       "0/2 (0%) requests", "2/2 (100%) requests"]


def test_track_counts_items():
    console = plain()
    assert list(track(["a", "b", "c"], "items", console=console, every_s=1e9)) == ["a", "b", "c"]
    assert [line.split()[1] for line in console.file.getvalue().splitlines()] == ["0/3", "3/3"]


def test_metrics_log_reports_through_the_same_facility(tmp_path, capsys):
    from mgrd.training.metrics import MetricsLog

    (tmp_path / "sft").mkdir()
    log = MetricsLog(tmp_path / "sft", total=2, show=("loss",))
    log.log(1, {"loss": 2.5})
    log.advance()
    log.log(2, {"loss": 1.5})
    log.advance()
    log.close()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sft ")]
    assert lines[0].startswith("sft  0/2 (0%) steps") and lines[-1].startswith("sft  2/2 (100%) steps  loss 1.5")
    assert not any("\r" in line for line in lines)


def test_hook_clock_starts_when_the_loop_does():
    """A loop that reports only after its first batch still shows the time that batch took."""
    console, clock = plain(), Clock()
    hook = progress_hook("self-distillation 1", unit="questions", console=console, clock=clock)
    clock.now += 12.0
    hook(6, 6)
    assert console.file.getvalue().splitlines()[-1] == \
        "self-distillation 1  6/6 (100%) questions  elapsed 0:12  left 0:00"


def test_run_labels(tmp_path):
    from mgrd.training.metrics import run_label

    assert run_label(tmp_path / "runs" / "x" / "cold_start" / "train") == "cold_start"
    assert run_label(tmp_path / "runs" / "x" / "iter2" / "rl" / "train") == "iter2/rl"
    assert run_label(tmp_path / "my-sft") == "my-sft"
