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

"""Table-driven misuse of the ``franet`` CLI: every user mistake issue 16 lists.

Each case must end with a non-zero exit status, exactly one ``franet CMD: error:`` line on
stderr naming the flag, file or field, no traceback, and no output that looks complete.
Also: segment's skip-and-count, failed writes and name collisions.
"""
import json
import shlex

import cv2
import numpy as np
import pytest
import yaml

from franet_core import checkpoint
from franet_core.cli import main
from franet_core.models import build_model, model_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CONFIG = model_config("unet", base_channels=4, depth=2)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Build the inputs: weights (good and broken), images, bags, configs, run folders."""
    root = tmp_path_factory.mktemp("misuse")
    state = build_model("unet", **CONFIG).state_dict()
    meta = {"model": "unet", "model_config": CONFIG, "threshold": 0.5}
    paths = {"root": root}
    paths["w"] = checkpoint.save_weights(root / "w.safetensors", state, meta)
    for name, change in (("w_thr2", {"threshold": 2}), ("w_thrstr", {"threshold": "0.5"}),
                         ("w_cfglist", {"model_config": [1, 2]})):
        paths[name] = checkpoint.save_weights(root / f"{name}.safetensors", state,
                                              {**meta, **change})
    nan_state = {k: v.clone() for k, v in state.items()}
    next(iter(nan_state.values())).fill_(float("nan"))
    paths["w_nan"] = checkpoint.save_weights(root / "w_nan.safetensors", nan_state, meta)
    imgs = root / "imgs"
    imgs.mkdir()
    for i in range(2):
        cv2.imwrite(str(imgs / f"f{i}.png"), np.full((40, 48), 100 + i, np.uint8))
    paths["imgs"] = imgs
    (root / "allbad").mkdir()
    (root / "allbad" / "x.png").write_bytes(b"not a png")
    paths["allbad"] = root / "allbad"
    paths["file"] = root / "file.txt"
    paths["file"].write_text("x")
    paths["garbage_mcap"] = root / "garbage.mcap"
    paths["garbage_mcap"].write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)) * 3)
    paths["text_mcap"] = root / "text.mcap"
    paths["text_mcap"].write_text("hello")
    for name, body in (("cfg_batch", {"batch_size": "abc"}), ("cfg_lr", {"lr": "fast"}),
                       ("cfg_sim", {"sim": [1, 2]}), ("cfg_device", {"device": "tpu"})):
        paths[name] = root / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(body))
    paths["run_nostate"] = root / "run_nostate"
    paths["run_nostate"].mkdir()
    paths["run_noconfig"] = root / "run_noconfig"
    paths["run_noconfig"].mkdir()
    (paths["run_noconfig"] / "state.safetensors").write_bytes(b"")
    return paths


# (argv template, words the error line must contain, outputs that must not appear under {new})
CASES = [
    ("segment {imgs} --out {new} --weights {w} --threshold 2", "--threshold", ["*"]),
    ("segment {imgs} --out {new} --weights {w} --threshold nan", "--threshold", ["*"]),
    ("segment {imgs} --out {new} --weights {w_thr2}", "'threshold' must be", ["*"]),
    ("segment {imgs} --out {new} --weights {w_thrstr}", "'threshold' must be", ["*"]),
    ("segment {imgs} --out {new} --weights {w_cfglist}", "'model_config' must be", ["*"]),
    ("segment {imgs} --out {new} --weights {w_nan}", "NaN or infinite", ["*"]),
    ("eval --data {imgs} --out {new} --weights {w_nan}", "NaN or infinite", ["*"]),
    ("segment {imgs} --out {file} --weights {w}", "--out", []),
    ("segment {imgs} --out {new} --weights {w} --device tpu", "--device", ["*"]),
    ("segment {imgs} --out {new} --weights {w} --input-size 33", "--input-size", ["*"]),
    ("segment {imgs} --out {new} --weights {w} --batch-size 0", "--batch-size", ["*"]),
    ("segment {allbad} --out {new} --weights {w}", "no frame could be read", ["*"]),
    ("segment {root}/missing --out {new} --weights {w}", "not found", ["*"]),
    ("segment {imgs} --out {new} --weights {root}/missing.safetensors", "not found", ["*"]),
    ("eval --data {imgs} --out {file} --weights {w}", "--out", []),
    ("eval --data {imgs} --out {new} --weights {w} --sweep 1.5", "--sweep", ["*"]),
    ("track {allbad} --out {new} --weights {w} --no-video", "no frame could be tracked",
     ["*"]),
    ("track {root}/missing --out {new} --weights {w}", "not found", ["*"]),
    ("track {imgs} --out {new} --weights {w} --threshold inf", "--threshold", ["*"]),
    ("track {imgs} --out {new} --weights {w} --fps 0", "--fps", ["*"]),
    ("track {garbage_mcap} --image-topic /x --out {new} --weights {w}",
     "not a readable ROS bag", ["tips.csv", "*.mp4"]),
    ("replay {garbage_mcap} --image-topic /x --out {new} --weights {w}",
     "not a readable ROS bag", ["*"]),
    ("replay {text_mcap} --image-topic /x --out {new} --weights {w}",
     "not a readable ROS bag", ["*"]),
    ("replay {garbage_mcap} --image-topic /x --out {new} --max-frames -3", "--max-frames",
     ["*"]),
    ("train --out {file} --epochs 1", "--out", []),
    ("train --out {new} --lr nan", "lr must be a finite number", ["*"]),
    ("train --out {new} --device tpu", "--device", ["*"]),
    ("train --out {new} --config {cfg_batch}", "batch_size must be an integer", ["*"]),
    ("train --out {new} --config {cfg_lr}", "lr must be a number", ["*"]),
    ("train --out {new} --config {cfg_sim}", "sim must be a mapping", ["*"]),
    ("train --out {new} --config {cfg_device}", "train config.device", ["*"]),
    ("train --out {new} --set batch_size=abc", "batch_size must be an integer", ["*"]),
    ("train --out {run_nostate} --resume", "no state.safetensors", ["*.safetensors"]),
    ("train --out {run_noconfig} --resume", "config.yaml not found", ["*.json"]),
]


def run_cli(argv, capsys):
    """Run ``franet argv`` in-process: (exit status, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("template, words, absent", CASES,
                         ids=[c[0].split()[0] + ":" + c[1] for c in CASES])
def test_user_mistakes_give_one_line_and_no_output(env, tmp_path, capsys, template, words,
                                                   absent):
    new = tmp_path / "out"
    argv = [a.format(new=new, **env) for a in shlex.split(template)]
    code, out, err = run_cli(argv, capsys)
    assert code == 2, out + err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(f"franet {argv[0]}: error:")]
    assert len(errors) == 1, err
    assert words in errors[0]
    if new.is_dir():
        for pattern in absent:
            assert not list(new.glob(pattern)), pattern


def test_argparse_mistakes_name_the_flag(env, capsys):
    code, _, err = run_cli(["segment", str(env["imgs"]), "--out", "x", "--threshold", "abc"],
                           capsys)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].endswith("argument --threshold: invalid float value: 'abc'")


def test_a_bug_keeps_its_traceback(env, monkeypatch):
    """Only user errors are turned into one line: an unexpected exception propagates."""
    from franet_core.commands import segment

    def broken(args):
        raise ZeroDivisionError("a bug in franet")

    monkeypatch.setattr(segment, "run", broken)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        main(["segment", str(env["imgs"]), "--out", "x"])


def test_os_errors_are_one_line_with_the_file(env, tmp_path, capsys, monkeypatch):
    from franet_core.commands import segment

    def disk_full(args):
        raise OSError(28, "No space left on device", str(tmp_path / "m.png"))

    monkeypatch.setattr(segment, "run", disk_full)
    code, _, err = run_cli(["segment", str(env["imgs"]), "--out", "x"], capsys)
    assert code == 1
    assert err.strip() == f"franet segment: error: {tmp_path / 'm.png'}: No space left on device"


def test_segment_skips_and_counts_unreadable_files_and_keeps_colliding_names(env, tmp_path,
                                                                             capsys):
    src = tmp_path / "src"
    src.mkdir()
    img = np.full((40, 48), 120, np.uint8)
    for name in ("a.png", "a.tif", "b.png", "scan.001.png", "scan.002.png"):
        cv2.imwrite(str(src / name), img)
    (src / "c.png").write_bytes(b"broken")
    code, out, _ = run_cli(["segment", str(src), "--out", str(tmp_path / "m"), "--weights",
                            str(env["w"])], capsys)
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "a.png.png", "a.tif.png", "b.png", "scan.001.png", "scan.002.png"]
    assert "wrote 5 mask(s)" in out and "skipped 1 unreadable input(s): c" in out
    mask = cv2.imread(str(tmp_path / "m" / "b.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (40, 48) and set(np.unique(mask)) <= {0, 255}


def test_segment_reports_a_failed_write(env, tmp_path, capsys, monkeypatch):
    from franet_core import atomic

    real = atomic.write_bytes

    def flaky(path, data):
        if path.name == "f1.png":
            raise OSError(28, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(atomic, "write_bytes", flaky)
    code, out, _ = run_cli(["segment", str(env["imgs"]), "--out", str(tmp_path / "m"),
                            "--weights", str(env["w"])], capsys)
    assert code == 1
    assert "wrote 1 mask(s)" in out and "FAILED to write 1 mask(s)" in out and "f1.png" in out
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["f0.png"]


def test_track_leaves_no_header_only_csv(env, tmp_path, capsys):
    code, _, _ = run_cli(["track", str(env["allbad"]), "--out", str(tmp_path / "t"),
                          "--weights", str(env["w"])], capsys)
    assert code == 2 and not (tmp_path / "t").exists()
    (tmp_path / "t").mkdir()
    run_cli(["track", str(env["allbad"]), "--out", str(tmp_path / "t"), "--weights",
             str(env["w"])], capsys)
    assert list((tmp_path / "t").iterdir()) == []


def test_weights_sidecar_of_another_save_is_refused(env, tmp_path, capsys):
    path = checkpoint.save_weights(tmp_path / "w.safetensors",
                                   build_model("unet", **CONFIG).state_dict(),
                                   {"model": "unet", "model_config": CONFIG})
    side = json.loads(path.with_suffix(".json").read_text())
    side["pair"] = "f" * 32
    path.with_suffix(".json").write_text(json.dumps(side))
    code, _, err = run_cli(["segment", str(env["imgs"]), "--out", str(tmp_path / "m"),
                            "--weights", str(path)], capsys)
    assert code == 2 and "different saves" in err
