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

"""The ament linters (flake8, pep257, copyright) on the ROS-facing Python code, as ROS does.

Each linter runs as its command line tool (``ament_flake8`` ...), found on PATH: from a
sourced ROS 2 installation, or from Debian bookworm's python3-ament-flake8,
python3-ament-pep257 and python3-ament-copyright (installed for /usr/bin/python3). A test
is skipped when its tool is absent.

Two deliberate departures from the ament defaults, both matching the rest of franet:
strings use double quotes (flake8-quotes, where installed, is told so) and multi-line
docstrings start on the first line (pep257's D213 is not enforced; PEP 257 allows both).
"""
import os
from pathlib import Path
import shutil
import subprocess

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The ROS-facing Python files (the node package, the launch file and their tests).
PATHS = ["franet_ros", "launch", "franet_core/commands/replay.py",
         *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "test").glob("test_*.py")
                 if p.stem in {"test_ament_linters", "test_frame_gate", "test_launch_tracker",
                               "test_replay", "test_ros_conversions", "test_ros_node",
                               "test_ros_package"})]
#: ament_flake8's configuration (0.13 / Humble) plus franet's quote and import settings.
FLAKE8_CONFIG = """\
[flake8]
extend-ignore = B902,C816,D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404,I202
import-order-style = google
application-import-names = franet_core,franet_ros
max-line-length = 99
inline-quotes = double
show-source = true
statistics = true
"""


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run an ament linter CLI on PATHS from the repository root, or skip if absent."""
    tool = shutil.which(name)
    if tool is None and os.environ.get("FRANET_REQUIRE_AMENT") == "1":
        pytest.fail(f"{name} is not installed but FRANET_REQUIRE_AMENT=1 (.ci/run installs it)")
    if tool is None:
        pytest.skip(f"{name} is not installed (apt-get install python3-{name.replace('_', '-')}"
                    " on Debian, or source ROS 2)")
    return subprocess.run([tool, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_flake8(tmp_path):
    config = tmp_path / "flake8.ini"
    config.write_text(FLAKE8_CONFIG, encoding="utf-8")
    result = run_tool("ament_flake8", "--config", str(config), *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pep257():
    result = run_tool("ament_pep257", *PATHS, "--add-ignore", "D213")
    assert result.returncode == 0, result.stdout + result.stderr


def test_copyright():
    result = run_tool("ament_copyright", *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr
