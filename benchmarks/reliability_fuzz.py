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

"""Long seeded fuzz of FramePipeline.process and the node's Image path, with RSS samples.

The figures in docs/reliability.md. Uses the malformed-input generators of the default test
suite (test/test_reliability_pipeline.py, test/test_reliability_conversions.py) with other
seeds and many more cases, valid frames interleaved, and prints counts per outcome and the
fitted RSS slope. Run from the repository root:

    python benchmarks/reliability_fuzz.py --cases 50000
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))

import test_reliability_conversions as tc  # noqa: E402
import test_reliability_pipeline as tp  # noqa: E402

from franet_core.pipeline import FramePipeline, PipelineConfig  # noqa: E402
from franet_ros import conversions as conv  # noqa: E402
from franet_ros.processor import FrameProcessor  # noqa: E402


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux)."""
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fuzz(name: str, cases: int, generator, call, expected: type, valid=None) -> None:
    """Feed ``cases`` malformed inputs to ``call``; print outcomes and the RSS slope."""
    counts = {"tried": 0, f"{expected.__name__}": 0, "other exception": 0, "accepted": 0}
    samples, same, start = [], True, time.perf_counter()
    for k in range(cases):
        if valid is not None and k % 100 == 0:
            same &= valid(k // 100)
        if k % max(1, cases // 20) == 0:
            samples.append((k, rss_mib()))
        _, bad = next(generator)
        counts["tried"] += 1
        try:
            call(bad)
            counts["accepted"] += 1
        except expected:
            counts[expected.__name__] += 1
        except Exception as exc:  # a crash: what this script exists to find
            counts["other exception"] += 1
            print(f"  {type(exc).__name__}: {exc}")
    samples.append((cases, rss_mib()))
    x, y = np.array(samples).T
    slope = np.polyfit(x[2:], y[2:], 1)[0] * 1000 if len(x) > 3 else float("nan")
    print(f"{name}: {counts}; {time.perf_counter() - start:.0f} s; RSS {y[0]:.1f} -> "
          f"{y[-1]:.1f} MiB, slope {slope:+.3f} MiB per 1,000 cases"
          + ("" if valid is None else f"; tracks identical to a clean run: {same}"))


def main() -> None:
    """Run both fuzzers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50_000, help="cases per fuzzer")
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()

    pipe = FramePipeline(tp.IntensitySegmenter(), PipelineConfig())
    ref = FramePipeline(tp.IntensitySegmenter(), PipelineConfig())

    def valid(k: int) -> bool:
        frame = tp.wire_frame(k % 30)
        return tp.states(pipe.process(frame)) == tp.states(ref.process(frame))

    fuzz("FramePipeline.process", args.cases, tp.malformed(np.random.default_rng(args.seed)),
         pipe.process, ValueError, valid)
    node = FrameProcessor(FramePipeline(tp.IntensitySegmenter(), PipelineConfig()), tc.KIT,
                          max_pixels=tc.MAX_PIXELS)
    fuzz("Image message -> node path", args.cases,
         tc.malformed(np.random.default_rng(args.seed + 1)), node, conv.ImageConversionError)


if __name__ == "__main__":
    main()
