"""Reading and writing challenge files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from andi2kit import io, layout
from andi2kit.labels import EnsembleLabel, TrajectoryLabel


def test_label_roundtrip(tmp_path):
    labs = [TrajectoryLabel(3, K=[0.5, 1e-3], alpha=[1.2, 0.3], state=[2, 0], cp=[40], T=120),
            TrajectoryLabel(1, K=[2.0], alpha=[1.0], state=[2], cp=[], T=20)]
    path = io.write_labels(tmp_path / "fov_0.txt", labs)
    lines = path.read_text().splitlines()
    assert lines[0] == "1,2.0,1.0,2,20"
    assert lines[1] == "3,0.5,1.2,2,40,0.001,0.3,0,120"
    back = io.read_labels(path)
    assert [b.idx for b in back] == [1, 3]
    np.testing.assert_array_equal(back[1].cp, [40])
    assert back[1].T == 120 and back[1].K.tolist() == [0.5, 1e-3]


def test_label_inconsistent_counts():
    with pytest.raises(ValueError, match="do not describe one segmentation"):
        TrajectoryLabel(0, K=[1, 2], alpha=[1], state=[2], cp=[], T=10)


@pytest.mark.parametrize("text, msg", [("1,2.0,1.0,2,20,\n", "field 6 is an empty field"),
                                       ("1,2.0,x,2,20\n", "field 3 is 'x'"),
                                       ("1,2.0,1.0,2,20\n\n", ":2: blank line")])
def test_bad_label_text(tmp_path, text, msg):
    p = tmp_path / "fov_0.txt"
    p.write_text(text)
    with pytest.raises(io.InputError, match=msg) as exc:
        io.read_label_rows(p)
    assert str(p) in str(exc.value)


def test_atomic_write_leaves_no_temp(tmp_path):
    io.write_text_atomic(tmp_path / "a" / "b.txt", "x")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.txt"]


def test_read_trajectories_drops_label_columns(tmp_path):
    p = tmp_path / "trajs_fov_0.csv"
    pd.DataFrame({"traj_idx": [1.0, 1.0, 0.0], "frame": [1.0, 0.0, 5.0], "x": [1.0, 2, 3],
                  "y": [4.0, 5, 6], "alpha": [1.0, 1, 1], "D": [1.0, 1, 1],
                  "state": [2.0, 2, 2]}).to_csv(p, index=False)
    df = io.read_trajectories(p)
    assert list(df.columns) == list(io.TRAJ_COLUMNS)
    assert df.traj_idx.tolist() == [0, 1, 1] and df.frame.tolist() == [5, 0, 1]


@pytest.mark.parametrize("content, msg", [
    ("traj_idx,frame,x\n0,0,1\n", "missing column"),
    ("traj_idx,frame,x,y\n0,0,1,a\n", "non-numeric"),
    ("traj_idx,frame,x,y\n0,0,1,nan\n", "non-finite"),
    ("traj_idx,frame,x,y\n0,0,1,2\n0,0,1,2\n", "more than once"),
    ("traj_idx,frame,x,y\n", "no trajectory rows"),
])
def test_read_trajectories_errors(tmp_path, content, msg):
    p = tmp_path / "trajs_fov_0.csv"
    p.write_text(content)
    with pytest.raises(io.InputError, match=msg):
        io.read_trajectories(p)


def test_ensemble_roundtrip(tmp_path):
    ens = EnsembleLabel("multi_state", np.arange(10.0).reshape(5, 2) + 1)
    p = io.write_ensemble(tmp_path / "ensemble_labels.txt", ens)
    assert p.read_text().splitlines()[0] == "model: multi_state; num_state: 2"
    back = io.read_ensemble(p)
    np.testing.assert_array_equal(back.matrix, ens.matrix)
    # the organisers read it with np.loadtxt(skiprows=1, delimiter=';')
    np.testing.assert_array_equal(np.loadtxt(p, skiprows=1, delimiter=";"), ens.matrix)


def test_video_and_vip_frame(tmp_path):
    import tifffile

    vid = np.full((5, 32, 32), 20, np.uint8)
    vid[0] = 255
    vid[0, 10:13, 4:7] = 0
    vid[0, 20:22, 25:27] = 1
    p = tmp_path / "videos_fov_0.tiff"
    tifffile.imwrite(p, vid)
    got = io.read_video(p)
    assert got.shape == (5, 32, 32)
    vips = io.decode_vip_frame(got[0])
    np.testing.assert_allclose(vips[0], [5, 11])
    np.testing.assert_allclose(vips[1], [25.5, 20.5])
    tifffile.imwrite(p, vid.astype(np.uint16))
    with pytest.raises(io.InputError, match="uint8"):
        io.read_video(p)
    p.write_bytes(b"not a tiff")
    with pytest.raises(io.InputError, match="cannot read"):
        io.read_video(p)


def test_layout_discovery(tmp_path):
    for e in (2, 10):
        for f in (0, 1):
            p = layout.trajs_path(tmp_path, 2, e, f)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("")
    (tmp_path / "track_2" / "notes").mkdir()
    assert layout.experiments(tmp_path, 2) == [2, 10]
    assert layout.fovs(tmp_path, 2, 10, "trajs") == [0, 1]
    assert layout.experiments(tmp_path, 1) == []


def test_decode_vip_frame_splits_overlapping_blobs():
    """andi-datasets adds the VIP masks (value k + 1) and subtracts 1: where the blobs of VIPs
    5 and 6 overlap the pixel reads 12, which is no VIP (seen in a challenge-preset video)."""
    page = np.full((128, 128), 255, dtype=np.uint8)
    corners = {k: (10 + 10 * k, 20) for k in range(10) if k not in (5, 6)}
    corners |= {5: (73, 92), 6: (72, 91)}  # 2 x 2 blobs sharing pixel (73, 92)
    for k, (r, c) in corners.items():
        block = page[r:r + 2, c:c + 2]
        page[r:r + 2, c:c + 2] = np.where(block == 255, k, block.astype(int) + k + 1)
    assert page[73, 92] == 12
    vips = io.decode_vip_frame(page)
    assert sorted(vips) == list(range(10))
    assert np.allclose(vips[5], [92.5, 73.5]) and np.allclose(vips[6], [91.5, 72.5])
    assert np.allclose(vips[0], [20.5, 10.5])
    # a VIP of index 12 drawn whole is kept
    page[100:102, 100:102] = 12
    assert 12 in io.decode_vip_frame(page)
