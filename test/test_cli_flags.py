# Copyright 2026 The franet authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The model-loading flags (--weights, --backend, --device) mean the same in every command."""
from pathlib import Path

import pytest

from franet_core.cli import build_parser
from franet_core.devices import parse_device

#: Each command that loads a model, with the least argv it parses with.
MODEL_COMMANDS = {
    "bench": [],
    "demo": [],
    "eval": ["--data", "d", "--out", "o"],
    "replay": ["bag", "--image-topic", "/x", "--out", "o"],
    "segment": ["frames", "--out", "o"],
    "tipcheck": ["--data", "d", "--val-data", "v"],
    "track": ["frames", "--out", "o"],
}


def parse(argv):
    return build_parser().parse_args(argv)


@pytest.mark.parametrize("name", sorted(MODEL_COMMANDS))
def test_every_model_command_takes_the_same_three_flags(name):
    base = [name, *MODEL_COMMANDS[name]]
    plain = parse(base)
    assert (plain.weights, plain.backend, plain.device) == (None, "torch", "cpu")
    given = parse(base + ["--weights", "w.onnx", "--backend", "onnx", "--device", "cuda:1"])
    assert (given.weights, given.backend, given.device) == (Path("w.onnx"), "onnx", "cuda:1")
    assert parse(base + ["--device", "cuda"]).device == "cuda"


@pytest.mark.parametrize("name", [*sorted(MODEL_COMMANDS), "train"])
@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU", "cuda:0 "])
def test_every_command_refuses_the_same_bad_device_names(name, device, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse([name, *MODEL_COMMANDS.get(name, []), "--device", device])
    assert exit_.value.code == 2
    assert f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'" in capsys.readouterr().err


def test_train_also_accepts_auto_and_leaves_the_default_to_its_config():
    assert parse(["train"]).device is None
    assert parse(["train", "--device", "auto"]).device == "auto"
    assert parse(["train", "--device", "cuda:2"]).device == "cuda:2"
    with pytest.raises(SystemExit):
        parse(["eval", "--data", "d", "--out", "o", "--device", "auto"])


def test_export_takes_weights_but_no_backend():
    args = parse(["export", "--out", "x.onnx", "--weights", "w.safetensors"])
    assert args.weights == Path("w.safetensors") and not hasattr(args, "backend")


def test_device_rule():
    for ok in ("cpu", "cuda", "cuda:0", "cuda:12"):
        assert parse_device(ok) == ok
    for bad in ("", "gpu", "cuda:", "cuda:-1", "cuda:1:2", "mps", " cpu"):
        with pytest.raises(ValueError, match="unknown device"):
            parse_device(bad)


def _subcommands():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return sorted(sub.choices)


@pytest.mark.parametrize("name", _subcommands())
def test_every_subcommand_help_renders(name, capsys):
    # argparse expands % in help strings itself; a stray one (e.g. "2-3 % noise" in a preset
    # description) made `franet synth --help` crash with a TypeError.
    with pytest.raises(SystemExit) as exit_info:
        parse([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ") and f" {name} " in out.splitlines()[0] + " "
