"""deepwise.data.render: the pinhole camera (projection and back-projection are inverses on the
ground, calibration errors named), the seeded renderer (same seed, same pixels; boxes around
the drawn figures; figures shrink with depth; occlusion lowers visibility; an empty frame)."""

import math

import numpy as np
import pytest

from deepwise.data.render import CalibrationError, Camera, SceneRenderer, place_cameras


def _cam(**kw):
    args = {"position": (0.0, 0.0, 4.0), "yaw": 0.0, "pitch": 0.4, "focal": 100.0}
    args.update(kw)
    return Camera(**args)


def test_project_back_project_round_trip():
    cam = _cam(yaw=0.7)
    rng = np.random.default_rng(0)
    ground = np.c_[rng.uniform(5, 15, 20), rng.uniform(-3, 3, 20)]
    ground = np.array([[math.cos(0.7) * x - math.sin(0.7) * y, math.sin(0.7) * x +
                        math.cos(0.7) * y] for x, y in ground])  # in front of the camera
    u, v, z = cam.project(np.c_[ground, np.zeros(20)])
    assert (z > 0).all()
    np.testing.assert_allclose(cam.back_project(u, v), ground, atol=1e-9)


def test_projection_by_hand():
    # looking along +x, 0.4 rad down, from 4 m: the ground point straight ahead at 4/tan(0.4)
    # metres is the image centre; a point 1 m to the left is left of centre
    cam = _cam()
    d = 4 / math.tan(0.4)
    u, v, z = cam.project([[d, 0.0, 0.0], [d, 1.0, 0.0]])
    np.testing.assert_allclose([u[0], v[0]], [64, 48], atol=1e-9)
    np.testing.assert_allclose(z[0], math.hypot(d, 4.0))
    assert u[1] < 64
    assert np.isnan(cam.back_project(64, 0)).all()  # above the horizon: no ground


@pytest.mark.parametrize("bad, message", [
    ({"position": [0, 0, -1]}, "above the ground"),
    ({"pitch": 0.0}, "pitch"),
    ({"pitch": 2.0}, "pitch"),
    ({"focal": -5}, "focal"),
    ({"width": 3}, "image size"),
    ({"position": [0, 1]}, "position"),
    ({"yaw": "north"}, "'yaw' must be a number"),
    ({"focal": float("nan")}, "finite"),
])
def test_calibration_errors(bad, message):
    calib = {"position": [0, 0, 4], "yaw": 0, "pitch": 0.4, "focal": 100, "width": 128,
             "height": 96}
    good = dict(calib)
    calib.update(bad)
    with pytest.raises(CalibrationError, match=message):
        Camera.from_dict(calib, "cams.json, camera 1")
    Camera.from_dict(good)
    with pytest.raises(CalibrationError, match="missing 'focal'"):
        Camera.from_dict({k: v for k, v in good.items() if k != "focal"})
    with pytest.raises(CalibrationError, match="expected a dict"):
        Camera.from_dict([1, 2, 3])


def _rows():
    # three people walking in front of the cameras, 10 frames
    rows = []
    for f in range(10):
        for p, (x, y) in enumerate([(3.0, 2.0), (5.0, 4.0), (6.0, 1.5)], 1):
            rows.append([f * 10, p, x + 0.1 * f, y + 0.05 * p * f])
    return np.array(rows)


def test_render_is_seeded_and_boxes_hold_figures():
    rows = _rows()
    a, b = SceneRenderer(rows, 3, seed=5), SceneRenderer(rows, 3, seed=5)
    fa, fb = a.render(30), b.render(30)
    assert len(fa) == 3
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.image.shape == (3, 96, 128) and x.image.dtype == np.float32
        assert 0 <= x.image.min() and x.image.max() <= 1
    other = SceneRenderer(rows, 3, seed=6).render(30)
    assert not np.array_equal(other[0].image, fa[0].image)
    seen = [i for i, f in enumerate(fa) if len(f.boxes)]
    assert seen, "no camera sees anyone"
    for i in seen:
        f = fa[i]
        assert set(f.ids) <= {1, 2, 3}
        assert ((f.boxes[:, 2] > f.boxes[:, 0]) & (f.boxes[:, 3] > f.boxes[:, 1])).all()
        assert ((f.visible >= 0) & (f.visible <= 1)).all()
        # the figure differs from the empty ground inside its box
        empty = SceneRenderer(rows[:0 + 1], 3, seed=5, cameras=a.cameras, noise=0, blur=0)
        bg = empty._backgrounds[i]
        x1, y1, x2, y2 = np.round(f.boxes[np.argmax(f.visible)]).astype(int)
        assert np.abs(f.image[:, y1:y2, x1:x2] - bg[:, y1:y2, x1:x2]).mean() > 0.05


def test_figures_shrink_with_depth_and_occlude():
    cam = _cam(position=(0.0, 0.0, 3.0), pitch=0.25)
    near, far = [[0, 1, 4.0, 0.0]], [[0, 2, 8.0, 0.0]]
    r = SceneRenderer(np.array(near + far), cameras=[cam], seed=0, noise=0, blur=0)
    f = r.render(0)[0]
    h = dict(zip(f.ids, f.boxes[:, 3] - f.boxes[:, 1]))
    vis = dict(zip(f.ids, f.visible))
    assert h[1] > 1.6 * h[2]  # twice as far: about half as tall
    assert vis[1] > 0.9 and vis[2] < 0.6  # the far one stands behind the near one
    boxes, ignored = f.split(min_visible=0.7)
    assert len(boxes) == 1 and len(ignored) == 1


def test_empty_frame_and_bad_rows():
    r = SceneRenderer(_rows(), 2, seed=0)
    empty = r.render(12345)
    assert all(len(f.boxes) == 0 and f.boxes.shape == (0, 4) for f in empty)
    with pytest.raises(ValueError, match=r"rows must be \(N, 4\)"):
        SceneRenderer(np.zeros((3, 3)))


def test_place_cameras_look_at_the_scene():
    rows = _rows()
    for cam in place_cameras(rows, 3, seed=1):
        u, v, z = cam.project([[rows[:, 2].mean(), rows[:, 3].mean(), 0.0]])
        assert z[0] > 0 and 0 <= u[0] <= cam.width and 0 <= v[0] <= cam.height
