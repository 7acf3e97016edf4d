"""The examples run and learn (short versions)."""
import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lenet_digits_learns(capsys):
    pytest.importorskip("sklearn")
    assert _load("train_lenet_digits").main(epochs=3) > 0.6


def test_char_lstm_learns(capsys):
    loss = _load("char_lstm").main(steps=100, seq_len=16, batch=8)
    assert loss < 0.8 * np.log(40)       # well under uniform guessing over the ~40 characters
    assert "Beautiful is" in capsys.readouterr().out
