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

"""Config loading: unknown keys refused with their names, nested configs, round trip."""
from dataclasses import dataclass, field

import pytest

from franet_core.config import apply_overrides, from_dict, load_file, save_file, to_dict


@dataclass(frozen=True)
class Inner:
    t: int = 3
    sizes: tuple = (1, 2)


@dataclass(frozen=True)
class Outer:
    lr: float = 1e-3
    inner: Inner = field(default_factory=Inner)


def test_nested_from_dict_and_tuple_coercion():
    cfg = from_dict(Outer, {"lr": 0.5, "inner": {"t": 2, "sizes": [4, 5]}})
    assert cfg == Outer(lr=0.5, inner=Inner(t=2, sizes=(4, 5)))
    hash(cfg)  # frozen configs stay hashable


def test_unknown_keys_are_named():
    with pytest.raises(ValueError, match=r"train\.inner.*\['tt'\]"):
        from_dict(Outer, {"inner": {"tt": 1}}, where="train")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_file_round_trip(tmp_path, suffix):
    cfg = Outer(lr=0.25, inner=Inner(t=5))
    save_file(cfg, tmp_path / f"c{suffix}")
    assert from_dict(Outer, load_file(tmp_path / f"c{suffix}")) == cfg
    assert to_dict(cfg) == {"lr": 0.25, "inner": {"t": 5, "sizes": [1, 2]}}


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_file(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_file(tmp_path / "list.yaml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="JSON"):
        load_file(tmp_path / "bad.json")


@dataclass(frozen=True)
class Typed:
    n: int = 1
    x: float = 0.5
    name: str = "a"
    flag: bool = False
    size: int | None = None
    names: tuple[str, ...] = ()
    pair: tuple[float, float] = (0.0, 1.0)
    extra: dict = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize("data, message", [
    ({"n": "abc"}, r"cfg\.n must be an integer, got str 'abc'"),
    ({"n": True}, r"cfg\.n must be an integer, got bool"),
    ({"n": 1.5}, r"cfg\.n must be an integer"),
    ({"x": "fast"}, r"cfg\.x must be a number, got str 'fast'"),
    ({"x": float("nan")}, r"cfg\.x must be a finite number"),
    ({"x": float("inf")}, r"cfg\.x must be a finite number"),
    ({"name": 3}, r"cfg\.name must be a string"),
    ({"flag": "yes"}, r"cfg\.flag must be true or false"),
    ({"size": "big"}, r"cfg\.size must be an integer or null"),
    ({"names": "abc"}, r"cfg\.names must be a list"),
    ({"names": ["a", 2]}, r"cfg\.names\[1\] must be a string"),
    ({"pair": [1.0]}, r"cfg\.pair must be a list of 2 values"),
    ({"extra": [1]}, r"cfg\.extra must be a mapping"),
    ({"inner": [1, 2]}, r"cfg\.inner must be a mapping of Inner fields"),
    ({"inner": {"t": "x"}}, r"cfg\.inner\.t must be an integer"),
    ({1: 2}, r"unknown key\(s\) \['1'\]"),
])
def test_wrong_types_are_named(data, message):
    with pytest.raises(ValueError, match=message):
        from_dict(Typed, data, where="cfg")


def test_not_a_mapping_is_refused():
    with pytest.raises(ValueError, match=r"cfg: expected a mapping of Typed fields, got list"):
        from_dict(Typed, [1, 2], where="cfg")


def test_numbers_widen_and_yaml_exponents_parse():
    cfg = from_dict(Typed, {"x": 2, "pair": [0, "1e-3"], "size": None, "names": ["a"]})
    assert cfg.x == 2.0 and isinstance(cfg.x, float)
    assert cfg.pair == (0.0, 0.001) and cfg.names == ("a",) and cfg.size is None


def test_overrides_reach_nested_keys_and_bad_pairs_are_named():
    data = {"lr": 0.5}
    apply_overrides(data, ["inner.t=7", "lr=1e-3", "inner.sizes=[3, 4]"])
    assert from_dict(Outer, data) == Outer(lr=1e-3, inner=Inner(t=7, sizes=(3, 4)))
    with pytest.raises(ValueError, match=r"--set expects KEY=VALUE, got 'lr'"):
        apply_overrides({}, ["lr"])
    with pytest.raises(ValueError, match=r"--set lr\.t: lr is not a nested config"):
        apply_overrides({"lr": 0.5}, ["lr.t=1"])
