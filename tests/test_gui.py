"""The keeper selection window, driven by synthetic matplotlib events (Agg, no display)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backend_bases import KeyEvent, MouseEvent  # noqa: E402
from PIL import Image  # noqa: E402

import undouble.gui as gui  # noqa: E402
from undouble.gui import KeeperSelector, select_keepers  # noqa: E402
from undouble.move import move_groups, undo  # noqa: E402


def _img(path: Path, h: int, w: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    arr = cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture
def groups(tmp_path):
    g0 = [_img(tmp_path / "a" / "small.png", 30, 40, 1), _img(tmp_path / "a" / "big.png", 60, 80, 1),
          _img(tmp_path / "b" / "mid.png", 45, 60, 1)]
    g1 = [_img(tmp_path / "c" / "p.png", 20, 20, 2), _img(tmp_path / "c" / "q.png", 40, 40, 2)]
    g2 = [_img(tmp_path / "d" / "u.png", 10, 10, 3), _img(tmp_path / "d" / "v.png", 12, 12, 3)]
    yield [g0, g1, g2]
    plt.close("all")


def click(sel: KeeperSelector, path: str, button: int = 1) -> None:
    ax = next(a for a, p in sel._image_axes.items() if p == path)
    x, y = ax.transAxes.transform((0.5, 0.5))
    canvas = sel.fig.canvas
    canvas.callbacks.process("button_press_event",
                             MouseEvent("button_press_event", canvas, x, y, button=button))


def key(sel: KeeperSelector, name: str) -> None:
    canvas = sel.fig.canvas
    canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", canvas, name, 10, 10))


def press_button(sel: KeeperSelector, label: str) -> None:
    button = next(b for b in sel._buttons if b.label.get_text().startswith(label))
    x, y = button.ax.transAxes.transform((0.5, 0.5))
    canvas = sel.fig.canvas
    for name in ("button_press_event", "button_release_event"):
        canvas.callbacks.process(name, MouseEvent(name, canvas, x, y, button=1))


def titles(sel: KeeperSelector) -> dict[str, str]:
    return {p: ax.get_title() for ax, p in sel._image_axes.items()}


def test_shows_the_proposed_keeper_with_resolution_and_blur(groups):
    sel = KeeperSelector(groups)
    sel.run(block=False)
    st = sel.state
    assert st["index"] == 0 and st["keep"] == [groups[0][1]] and not st["done"]
    t = titles(sel)
    assert set(t) == set(groups[0])
    assert t[groups[0][1]].startswith("KEEP  [proposed]") and "80x60" in t[groups[0][1]]
    assert t[groups[0][0]].startswith("move") and "40x30" in t[groups[0][0]]
    assert all("blur " in v and "blur ?" not in v for v in t.values())
    assert "Group 1 of 3" in sel.fig._suptitle.get_text()
    assert "proposed: big.png, highest resolution (80x60)" in sel.fig._suptitle.get_text()


def test_click_toggles_keep_and_the_last_keeper_stays(groups):
    sel = KeeperSelector(groups)
    sel.run(block=False)
    big, small = groups[0][1], groups[0][0]
    click(sel, small)
    assert sel.state["keep"] == sorted([big, small])
    assert titles(sel)[small].startswith("KEEP")
    click(sel, big)
    assert sel.state["keep"] == [small]
    click(sel, small)  # would leave no keeper: refused
    assert sel.state["keep"] == [small]
    assert "At least one" in sel.state["message"]
    click(sel, small, button=3)  # right button: ignored
    assert sel.state["keep"] == [small]


def test_keys_accept_skip_and_finish(groups):
    sel = KeeperSelector(groups)
    sel.run(block=False)
    click(sel, groups[0][2])  # keep big.png and mid.png
    key(sel, "enter")
    assert sel.state["index"] == 1 and sel.decisions[0] == "accept"
    key(sel, "s")
    assert sel.state["index"] == 2 and sel.decisions[1] == "skip"
    key(sel, "enter")
    assert sel.done
    assert sel.result == [[groups[0][1], groups[0][2]], None, [groups[2][1]]]
    key(sel, "s")  # after the end: ignored
    assert sel.decisions == ["accept", "skip", "accept"]


def test_quit_leaves_the_rest_untouched(groups):
    sel = KeeperSelector(groups)
    sel.run(block=False)
    key(sel, "enter")
    key(sel, "q")
    assert sel.done and sel.quit
    assert sel.result == [[groups[0][1]], None, None]


def test_navigation_and_revising_a_decision(groups):
    sel = KeeperSelector(groups)
    sel.run(block=False)
    key(sel, "s")            # skip group 0
    key(sel, "left")         # back to it
    assert sel.state["index"] == 0
    key(sel, "enter")        # now accept it
    assert sel.decisions[0] == "accept" and sel.state["index"] == 1
    key(sel, "right")
    assert sel.state["index"] == 2


def test_buttons(groups):
    sel = KeeperSelector(groups)
    sel.run(block=False)
    press_button(sel, "Skip")
    assert sel.decisions[0] == "skip" and sel.state["index"] == 1
    press_button(sel, "Accept")
    assert sel.decisions[1] == "accept"
    press_button(sel, "Quit")
    assert sel.done and sel.result == [None, [groups[1][1]], None]


def test_closing_the_window_quits(groups):
    sel = KeeperSelector(groups)
    sel.run(block=False)
    sel.fig.canvas.callbacks.process("close_event", None)
    assert sel.done and sel.result == [None, None, None]


def test_blocking_run_needs_an_interactive_backend(groups):
    with pytest.raises(RuntimeError, match="interactive"):
        select_keepers(groups)


def test_unreadable_image_gets_a_placeholder(tmp_path, groups):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    sel = KeeperSelector([groups[1] + [str(broken)]])
    sel.run(block=False)
    assert sel.state["keep"] == [groups[1][1]]
    ax = next(a for a, p in sel._image_axes.items() if p == str(broken))
    assert any(t.get_text() == "cannot show" for t in ax.texts)


def _inventory(root: Path) -> dict[str, str]:
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if not f.startswith("undouble-journal-"):
                full = os.path.join(d, f)
                out[os.path.relpath(full, root)] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
    return out


def test_gui_choice_feeds_the_journaled_move(tmp_path, groups, monkeypatch):
    inv0 = _inventory(tmp_path)

    def scripted(groups_, ranks=None, **kw):
        sel = KeeperSelector(groups_, ranks)
        sel.run(block=False)
        click(sel, groups_[0][0])   # keep small.png too
        key(sel, "enter")
        key(sel, "s")               # group 1 untouched
        click(sel, groups_[2][0])   # keep u.png as well ...
        click(sel, groups_[2][1])   # ... and not v.png
        key(sel, "enter")
        assert sel.done
        return sel.result

    monkeypatch.setattr(gui, "select_keepers", scripted)
    journal = move_groups(groups, gui=True, yes=True, journal=tmp_path.parent / (tmp_path.name + ".jsonl"))
    inv = _inventory(tmp_path)
    a = os.path.join
    # group 0: big and small stay and are copied, mid moves
    assert inv[a("a", "big.png")] == inv0[a("a", "big.png")]
    assert inv[a("a", "small.png")] == inv0[a("a", "small.png")]
    assert inv[a("a", "undouble", "small.png")] == inv0[a("a", "small.png")]
    assert inv[a("a", "undouble", "big.png")] == inv0[a("a", "big.png")]
    assert a("b", "mid.png") not in inv and inv[a("b", "undouble", "mid.png")] == inv0[a("b", "mid.png")]
    # group 1 skipped
    assert inv[a("c", "p.png")] == inv0[a("c", "p.png")] and not (tmp_path / "c" / "undouble").exists()
    # group 2: the hand-picked keeper u.png stays, v.png moves
    assert inv[a("d", "u.png")] == inv0[a("d", "u.png")] and a("d", "v.png") not in inv
    undo(journal)
    assert _inventory(tmp_path) == inv0
