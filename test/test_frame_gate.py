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

"""FrameGate: frames arriving while one is processed are dropped (never queued); rate cap."""
import threading
import time

import pytest

from franet_ros.frame_gate import Admission, diagnostic_status, FrameGate


class FakeClock:
    """Manually advanced monotonic clock, seconds."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_busy_gate_drops_instead_of_queueing():
    gate = FrameGate()
    assert gate.admit() is Admission.ACCEPTED
    assert gate.busy
    assert [gate.admit() for _ in range(3)] == [Admission.BUSY] * 3
    gate.done(latency_ms=4.0)
    assert gate.admit() is Admission.ACCEPTED
    gate.done(error="bad encoding")
    stats = gate.snapshot()
    assert (stats.received, stats.processed, stats.dropped_busy, stats.bad_frames) == (5, 1, 3, 1)
    assert stats.last_error == "bad encoding" and stats.latency_ms_max == 4.0


def test_rate_limit_admits_at_most_max_rate():
    clock = FakeClock()
    gate = FrameGate(max_rate_hz=10.0, clock=clock)
    admitted = 0
    for _ in range(100):  # 100 frames at 100 Hz for one second
        if gate.admit() is Admission.ACCEPTED:
            admitted += 1
            gate.done(latency_ms=1.0)
        clock.now += 0.01
    assert admitted == 10
    stats = gate.snapshot()
    assert stats.dropped_rate == 90 and stats.rate_hz == pytest.approx(10.0)


def test_window_statistics_reset_after_snapshot():
    clock = FakeClock()
    gate = FrameGate(clock=clock)
    for latency in (2.0, 4.0, 9.0):
        gate.admit()
        gate.done(latency_ms=latency)
    clock.now += 2.0
    stats = gate.snapshot()
    assert stats.latency_ms_mean == pytest.approx(5.0) and stats.latency_ms_max == 9.0
    assert stats.rate_hz == pytest.approx(1.5)
    clock.now += 1.0
    later = gate.snapshot()
    assert later.processed == 3 and later.rate_hz == 0.0 and later.latency_ms_mean == 0.0


def test_done_without_admission_and_bad_rate_are_errors():
    with pytest.raises(RuntimeError, match="without an accepted frame"):
        FrameGate().done()
    with pytest.raises(ValueError, match="max_rate_hz"):
        FrameGate(max_rate_hz=-1.0)


def test_concurrent_arrivals_never_run_two_frames_at_once():
    """Many threads deliver frames while 'processing' takes time: at most one runs."""
    gate = FrameGate()
    running = 0
    peak = 0
    lock = threading.Lock()
    waits: list[float] = []

    def deliver() -> None:
        nonlocal running, peak
        for _ in range(20):
            arrived = time.perf_counter()
            if gate.admit() is Admission.ACCEPTED:
                waits.append(time.perf_counter() - arrived)
                with lock:
                    running += 1
                    peak = max(peak, running)
                time.sleep(0.002)
                with lock:
                    running -= 1
                gate.done(latency_ms=2.0)
            time.sleep(0.0005)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = gate.snapshot()
    assert peak == 1
    assert stats.received == 120
    assert stats.processed + stats.dropped_busy == 120
    assert stats.dropped_busy > 0 and stats.processed > 0
    assert max(waits) < 0.05  # admission never blocks behind a running frame


def test_diagnostic_status_warns_on_bad_frames_in_the_period():
    gate = FrameGate()
    gate.admit()
    gate.done(latency_ms=3.0)
    level, message, values = diagnostic_status(gate.snapshot(), active=True, device="cpu",
                                               backend="torch")
    assert level == "OK" and message.startswith("tracking at")
    assert values["frames_processed"] == "1" and values["device"] == "cpu"
    gate.admit()
    gate.done(error="unsupported encoding 'yuv422'")
    level, message, values = diagnostic_status(gate.snapshot(), active=True, device="cuda:0",
                                               backend="onnx")
    assert level == "WARN" and "yuv422" in message and values["bad_frames"] == "1"
    level, message, _ = diagnostic_status(gate.snapshot(), active=False, device="cpu",
                                          backend="torch")
    assert (level, message) == ("OK", "inactive")  # the bad frame was in an earlier period
