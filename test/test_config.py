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

from franet_core.config import from_dict, load_file, save_file, to_dict


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
