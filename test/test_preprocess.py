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

"""normalize_image and Letterbox: intensity convention and exact geometric inverse."""
import numpy as np
import pytest

from franet_core.preprocess import Letterbox, normalize_image


def test_uint8_is_divided_by_255():
    img = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(normalize_image(img), [[0.0, 0.2, 1.0]], atol=1e-7)


def test_uint16_is_windowed_on_percentiles():
    rng = np.random.default_rng(0)
    img = rng.integers(1000, 4000, size=(64, 64)).astype(np.uint16)
    out = normalize_image(img)
    lo, hi = np.percentile(img.astype(np.float64), (0.1, 99.9))
    ref = np.clip((img - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert out.dtype == np.float32


def test_float_in_unit_range_is_kept():
    img = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(normalize_image(img), img)


def test_colour_becomes_luminance():
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[..., 1] = 255  # pure green in BGR
    out = normalize_image(img)
    assert out.shape == (4, 4)
    np.testing.assert_allclose(out, 0.587, atol=0.01)  # ITU-R BT.601 green weight


@pytest.mark.parametrize("bad, words", [
    (np.zeros((0, 5), np.uint8), "empty"),
    (np.full((4, 4), np.nan, np.float32), "NaN"),
    (np.zeros((2, 3, 4, 5), np.uint8), "shape"),
    (np.array([["a"]]), "dtype"),
])
def test_bad_images_are_named(bad, words):
    with pytest.raises(ValueError, match=words) as info:
        normalize_image(bad, name="frame_07.png")
    assert "frame_07.png" in str(info.value)


@pytest.mark.parametrize("shape, size, out", [
    ((512, 512), None, (512, 512)),
    ((500, 301), None, (512, 320)),
    ((1024, 768), 512, (512, 512)),
    ((300, 700), 256, (256, 256)),
])
def test_letterbox_shapes(shape, size, out):
    lb = Letterbox.fit(shape, size)
    img = np.random.default_rng(1).random(shape).astype(np.float32)
    padded = lb.apply(img)
    assert padded.shape == out
    assert lb.invert(padded).shape == shape


def test_padding_only_is_exactly_invertible():
    img = np.random.default_rng(2).random((100, 77)).astype(np.float32)
    lb = Letterbox.fit(img.shape)
    padded = lb.apply(img)
    assert np.all(padded[100:, :] == 0) and np.all(padded[:, 77:] == 0)
    np.testing.assert_array_equal(lb.invert(padded), img)


def test_resize_inverse_keeps_structures_in_place():
    img = np.zeros((1024, 768), np.float32)
    img[400:420, 300:320] = 1.0
    lb = Letterbox.fit(img.shape, 512)
    back = lb.invert(lb.apply(img))
    ys, xs = np.nonzero(back > 0.5)
    assert abs(ys.mean() - 409.5) < 1.0 and abs(xs.mean() - 309.5) < 1.0


def test_letterbox_refuses_bad_size():
    with pytest.raises(ValueError, match="multiple of 32"):
        Letterbox.fit((100, 100), 100)


@pytest.mark.parametrize("shape, size", [((1024, 768), 512), ((300, 700), 256),
                                         ((480, 640), 320), ((100, 77), None)])
def test_letterbox_maps_positions_by_the_scale_and_back(shape, size):
    """The longer side fills S; a blob at (y, x) lands at (y, x) * S / max(H, W) and returns."""
    lb = Letterbox.fit(shape, size)
    h, w = shape
    expected_scale = 1.0 if size is None else size / max(h, w)
    assert lb.scale == pytest.approx(expected_scale)
    if size is not None:
        assert max(lb.resized_shape) == size
        assert lb.resized_shape == (round(h * expected_scale), round(w * expected_scale))
    img = np.zeros(shape, np.float32)
    cy, cx = int(0.7 * h), int(0.2 * w)  # off-centre, so a swapped or missing axis shows
    img[cy - 6: cy + 6, cx - 6: cx + 6] = 1.0
    net = lb.apply(img)
    ys, xs = np.nonzero(net > 0.5)
    centre_in = np.array([cy - 0.5, cx - 0.5])
    # Pixel-centre convention: input coordinate c maps to (c + 0.5) * scale - 0.5.
    np.testing.assert_allclose([ys.mean(), xs.mean()], (centre_in + 0.5) * lb.scale - 0.5,
                               atol=1.0)
    assert np.all(net[lb.resized_shape[0]:, :] == 0) and np.all(net[:, lb.resized_shape[1]:] == 0)
    ys, xs = np.nonzero(lb.invert(net) > 0.5)
    np.testing.assert_allclose([ys.mean(), xs.mean()], centre_in, atol=1.0)
