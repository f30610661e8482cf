"""The validator reports every problem with its file and line."""

from __future__ import annotations

import numpy as np

from andi2kit.validation import check_ensemble_file, check_fov_file, check_label_line


def test_good_line_has_no_problem():
    assert check_label_line(np.array([3, 0.5, 1.0, 2, 40, 0.1, 0.5, 1, 100.0])) == []


def test_each_rule():
    assert "1 + 4n" in check_label_line(np.array([3, 0.5, 1.0, 2, 40, 0.1]))[0]
    assert "increase strictly" in check_label_line(
        np.array([3, 0.5, 1.0, 2, 100, 0.1, 0.5, 1, 100.0]))[0]
    assert "increase strictly" in check_label_line(
        np.array([3, 0.5, 1.0, 2, 0, 0.1, 0.5, 1, 100.0]))[0]
    assert "K must be" in check_label_line(np.array([3, 0.0, 1.0, 2, 50]))[0]
    assert "alpha must" in check_label_line(np.array([3, 1.0, 2.5, 2, 50]))[0]
    assert "alpha must" in check_label_line(np.array([3, 1.0, np.nan, 2, 50]))[0]
    assert "states must" in check_label_line(np.array([3, 1.0, 1.0, 4, 50]))[0]
    assert "integers" in check_label_line(np.array([3, 1.0, 1.0, 2, 50.5]))[0]


def test_fov_file_against_data(tmp_path):
    p = tmp_path / "fov_0.txt"
    p.write_text("0,1.0,1.0,2,50\n0,1.0,1.0,2,50\n2,1.0,1.0,2,30\n9,1.0,1.0,2,30\n\n")
    probs = check_fov_file(p, {0: 50, 1: 20, 2: 31}, track=2)
    msgs = [(pr.line, pr.severity, pr.message) for pr in probs]
    assert (2, "error", "trajectory 0 already on line 1") in msgs
    assert any(ln == 3 and sev == "warning" and "31 frames" in m for ln, sev, m in msgs)
    assert any(ln == 4 and sev == "error" and "not in the data" in m for ln, sev, m in msgs)
    assert any(ln == 5 and "blank line" in m for ln, _, m in msgs)
    assert any(ln is None and "1 trajectory/ies missing: 1" in m for ln, _, m in msgs)
    assert all(str(p) in str(pr) for pr in probs)


def test_track1_vip_set(tmp_path):
    p = tmp_path / "fov_0.txt"
    p.write_text("0,1.0,1.0,2,50\n7,1.0,1.0,2,30\n")
    probs = check_fov_file(p, {0: -1, 1: -1}, track=1)
    assert any(pr.severity == "error" and "not a VIP" in pr.message for pr in probs)
    assert any("1 VIP(s) missing: 1" in pr.message for pr in probs)


def test_ensemble_checks(tmp_path):
    p = tmp_path / "ensemble_labels.txt"
    p.write_text("model: multi_state; num_state: 2\n1;1\n0.1;0.1\n1;1\n0.1;0.1\n0.5;0\n")
    probs = check_ensemble_file(p)
    assert any("weights must be positive" in pr.message for pr in probs)
    p.write_text("model: multi_state; num_state: 3\n1;1\n0.1;0.1\n1;1\n0.1;0.1\n0.5;0.5\n")
    assert "num_state 3" in check_ensemble_file(p)[0].message
    assert "missing file" in check_ensemble_file(tmp_path / "nope.txt")[0].message
