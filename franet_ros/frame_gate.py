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

"""Admission control for incoming frames: drop while busy, never queue, cap the rate.

A tracker that queues frames falls behind: every queued frame adds one processing time of
latency. :class:`FrameGate` admits a frame only when no other frame is being processed and
the configured maximum rate allows it; everything else is dropped and counted. It is
thread-safe (the node's image callbacks run in a multi-threaded executor) and has no ROS
dependency, so the policy is tested with plain threads.
"""
from __future__ import annotations

from dataclasses import dataclass
import enum
import threading
import time
from typing import Callable


class Admission(enum.Enum):
    """What happened to one arriving frame."""

    ACCEPTED = "accepted"
    BUSY = "busy"            # another frame was being processed: dropped
    RATE_LIMITED = "rate"    # too soon after the last accepted frame: dropped


@dataclass(frozen=True)
class GateStats:
    """Counters since start plus rates over the window since the previous snapshot.

    received / processed / dropped_busy / dropped_rate / bad_frames: totals since start.
    rate_hz: processed frames per second over the window. latency_ms_mean / _max: wall time
    of the processed frames in the window, ms (0 when none). last_error: reason of the
    latest bad frame, "" if none. window_bad_frames: bad frames within the window.
    """

    received: int
    processed: int
    dropped_busy: int
    dropped_rate: int
    bad_frames: int
    window_bad_frames: int
    rate_hz: float
    latency_ms_mean: float
    latency_ms_max: float
    last_error: str


class FrameGate:
    """Non-blocking single-slot gate with an optional maximum rate.

    ``max_rate_hz`` <= 0 means unlimited. ``clock`` returns seconds (monotonic); it is a
    parameter so tests can drive time. Use as: ``if gate.admit() is Admission.ACCEPTED:``
    process, then always call :meth:`done` (in a ``finally``).
    """

    def __init__(self, max_rate_hz: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_rate_hz < 0 or max_rate_hz != max_rate_hz:
            raise ValueError(f"max_rate_hz must be >= 0 (0 = unlimited), got {max_rate_hz}")
        self._min_interval = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self._busy = False
        self._last_admit: float | None = None
        self._received = self._processed = self._dropped_busy = self._dropped_rate = 0
        self._bad = self._window_bad = self._window_processed = 0
        self._latencies: list[float] = []
        self._window_start = clock()
        self._last_error = ""

    def admit(self) -> Admission:
        """Decide about one arriving frame without waiting; ACCEPTED reserves the slot."""
        with self._lock:
            self._received += 1
            if self._busy:
                self._dropped_busy += 1
                return Admission.BUSY
            now = self._clock()
            if self._last_admit is not None and now - self._last_admit < self._min_interval:
                self._dropped_rate += 1
                return Admission.RATE_LIMITED
            self._busy = True
            self._last_admit = now
            return Admission.ACCEPTED

    def done(self, latency_ms: float | None = None, error: str | None = None) -> None:
        """Release the slot after an accepted frame: processed in ``latency_ms``, or bad.

        Pass ``error`` (a reason) for a frame that could not be processed; it is counted as
        a bad frame instead of a processed one.
        """
        with self._lock:
            if not self._busy:
                raise RuntimeError("FrameGate.done() called without an accepted frame")
            self._busy = False
            if error is not None:
                self._bad += 1
                self._window_bad += 1
                self._last_error = error
            else:
                self._processed += 1
                self._window_processed += 1
                if latency_ms is not None:
                    self._latencies.append(float(latency_ms))

    @property
    def busy(self) -> bool:
        """Tell whether an accepted frame has not been released yet."""
        with self._lock:
            return self._busy

    def snapshot(self) -> GateStats:
        """Return the current counters and start a new window for rate and latency."""
        with self._lock:
            now = self._clock()
            elapsed = now - self._window_start
            lat = self._latencies
            stats = GateStats(
                received=self._received, processed=self._processed,
                dropped_busy=self._dropped_busy, dropped_rate=self._dropped_rate,
                bad_frames=self._bad, window_bad_frames=self._window_bad,
                rate_hz=self._window_processed / elapsed if elapsed > 0 else 0.0,
                latency_ms_mean=sum(lat) / len(lat) if lat else 0.0,
                latency_ms_max=max(lat) if lat else 0.0,
                last_error=self._last_error)
            self._latencies = []
            self._window_bad = self._window_processed = 0
            self._window_start = now
            return stats


def diagnostic_status(stats: GateStats, *, active: bool, device: str, backend: str
                      ) -> tuple[str, str, dict[str, str]]:
    """``(level, message, values)`` of the node's diagnostic status for one period.

    WARN when frames were skipped as bad input during the period, else OK; the values are
    the counters and window figures of ``stats`` plus the inference device and backend.
    """
    if stats.window_bad_frames:
        level = "WARN"
        message = f"{stats.window_bad_frames} bad frame(s) skipped: {stats.last_error}"
    elif not active:
        level, message = "OK", "inactive"
    else:
        level, message = "OK", f"tracking at {stats.rate_hz:.1f} Hz"
    values = {
        "rate_hz": f"{stats.rate_hz:.2f}",
        "latency_ms_mean": f"{stats.latency_ms_mean:.2f}",
        "latency_ms_max": f"{stats.latency_ms_max:.2f}",
        "frames_received": str(stats.received),
        "frames_processed": str(stats.processed),
        "dropped_busy": str(stats.dropped_busy),
        "dropped_rate_limit": str(stats.dropped_rate),
        "bad_frames": str(stats.bad_frames),
        "last_error": stats.last_error,
        "device": device,
        "backend": backend,
    }
    return level, message, values
