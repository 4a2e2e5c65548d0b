"""Reading noisy-label files (`robustloss.data.read_label_file`) into `robustloss.noise` labels."""

import os

import numpy as np
import pytest

from robustloss import noise
from robustloss.data import check_label_count, read_label_file
from robustloss.noise import add_noise


def from_file(y, path, num_classes, key=None, column=None):
    """What the harness does with ``noise.labels_path``: read the file, then check the labels."""
    labels = read_label_file(path, key, column=column)
    source = f"noisy-label file {os.fspath(path)!r}"
    return noise.from_labels(y, labels, num_classes=num_classes, source=source)


def _labels(k, n, seed=0):
    return np.random.default_rng(seed).integers(0, k, size=n)


def test_from_labels_array_and_files(tmp_path):
    y = _labels(10, 1000)
    z = y.copy()
    z[:100] = (z[:100] + 1) % 10
    out = noise.from_labels(y, z, num_classes=10)
    assert out.is_noisy.sum() == 100
    want = np.zeros((10, 10))
    np.add.at(want, (y, z), 1)
    np.testing.assert_allclose(out.T, want / want.sum(1, keepdims=True))
    np.save(tmp_path / "n.npy", z)
    np.testing.assert_array_equal(from_file(y, tmp_path / "n.npy", num_classes=10).labels, z)
    np.savez(tmp_path / "c10n.npz", aggre_label=z, worse_label=y, clean_label=y)
    got = add_noise(
        y,
        num_classes=10,
        kind="real",
        noisy_labels=read_label_file(tmp_path / "c10n.npz", "aggre"),
    )
    np.testing.assert_array_equal(got.labels, z)
    with pytest.raises(ValueError, match="key="):
        from_file(y, tmp_path / "c10n.npz", num_classes=10)
    (tmp_path / "n.csv").write_text("\n".join(map(str, z)) + "\n")
    np.testing.assert_array_equal(from_file(y, tmp_path / "n.csv", num_classes=10).labels, z)
    (tmp_path / "h.csv").write_text(
        "clean,worse_label\n" + "\n".join(f"{a},{b}" for a, b in zip(y, z, strict=True))
    )
    got = from_file(y, tmp_path / "h.csv", num_classes=10, key="worst")
    np.testing.assert_array_equal(got.labels, z)


def test_from_labels_errors(tmp_path):
    y = np.array([0, 1, 2])
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        from_file(y, tmp_path / "missing.npy", num_classes=3)
    (tmp_path / "bad.csv").write_text("0\n1\nx2\n")
    with pytest.raises(ValueError, match="line 3"):
        from_file(y, tmp_path / "bad.csv", num_classes=3)
    (tmp_path / "l.pt").write_bytes(b"\x80")
    with pytest.raises(ValueError, match=r"\.pt"):
        from_file(y, tmp_path / "l.pt", num_classes=3)
    with pytest.raises(ValueError, match="2 noisy labels for 3"):
        noise.from_labels(y, [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="label 5"):
        noise.from_labels(y, [0, 1, 5], num_classes=3)


def test_label_files_are_never_guessed(tmp_path):
    y = np.array([0, 1, 2, 1])
    z = np.array([1, 1, 2, 0])
    # [N, 2] is not flattened: an error unless column= is given.
    np.save(tmp_path / "two.npy", np.stack([y, z], 1))
    with pytest.raises(ValueError, match=r"two\.npy.*shape \(4, 2\).*column="):
        from_file(y, tmp_path / "two.npy", num_classes=3)
    got = from_file(y, tmp_path / "two.npy", num_classes=3, column=1)
    np.testing.assert_array_equal(got.labels, z)
    np.save(tmp_path / "one.npy", z[:, None])  # [N, 1] is one column
    np.testing.assert_array_equal(read_label_file(tmp_path / "one.npy"), z)
    np.savez(tmp_path / "two.npz", worse_label=np.stack([y, z], 1))
    with pytest.raises(ValueError, match="worse_label"):
        read_label_file(tmp_path / "two.npz", "worst")
    # A garbled first line is not a header (it would shift every label by one).
    for first in ("1x", "#1", "0.5", "1,", "@@"):
        (tmp_path / "g.csv").write_text(first + "\n" + "\n".join(map(str, z)) + "\n")
        with pytest.raises(ValueError, match=r"g\.csv.* line 1 .*neither"):
            read_label_file(tmp_path / "g.csv")
    # A header of names: a single column is used, several need key= or column=.
    (tmp_path / "h1.csv").write_text("label\n" + "\n".join(map(str, z)))
    np.testing.assert_array_equal(read_label_file(tmp_path / "h1.csv"), z)
    (tmp_path / "h2.csv").write_text(
        "clean,noisy\n" + "\n".join(f"{a},{b}" for a, b in zip(y, z, strict=True))
    )
    with pytest.raises(ValueError, match=r"h2\.csv.*key="):
        read_label_file(tmp_path / "h2.csv")
    np.testing.assert_array_equal(read_label_file(tmp_path / "h2.csv", column=1), z)
    np.testing.assert_array_equal(read_label_file(tmp_path / "h2.csv", "noisy"), z)
    # Header-less multi-column text needs column=; a key cannot name a column there.
    (tmp_path / "m.csv").write_text("\n".join(f"{a},{b}" for a, b in zip(y, z, strict=True)))
    with pytest.raises(ValueError, match=r"m\.csv.*2 columns"):
        read_label_file(tmp_path / "m.csv")
    with pytest.raises(ValueError, match="no header"):
        read_label_file(tmp_path / "m.csv", "noisy")
    np.testing.assert_array_equal(read_label_file(tmp_path / "m.csv", column=1), z)
    # Line numbers count blank lines.
    (tmp_path / "b.csv").write_text("1\n\n2\nx\n")
    with pytest.raises(ValueError, match=r"b\.csv' line 4"):
        read_label_file(tmp_path / "b.csv")


def test_label_file_row_count_and_values_name_the_file(tmp_path):
    z = np.array([1, 1, 2, 0])
    np.save(tmp_path / "n.npy", z)
    assert read_label_file(tmp_path / "n.npy", expected_rows=4).tolist() == z.tolist()
    for rows, word in ((5, "fewer"), (3, "more")):
        with pytest.raises(ValueError, match=rf"n\.npy.*4 labels.*{rows} source rows.*{word}"):
            read_label_file(tmp_path / "n.npy", expected_rows=rows)
    with pytest.raises(ValueError, match="holds 4 labels but the dataset has 6"):
        check_label_count(z, 6, source="x")
    y = np.array([0, 1, 2, 1])
    np.save(tmp_path / "f.npy", np.array([0.0, 1.0, 0.5, 2.0]))
    with pytest.raises(ValueError, match=r"f\.npy.*label 0\.5 at row 2"):
        from_file(y, tmp_path / "f.npy", num_classes=3)
    np.save(tmp_path / "nan.npy", np.array([0.0, np.nan, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"nan\.npy.*label nan at row 1"):
        from_file(y, tmp_path / "nan.npy", num_classes=3)
    np.save(tmp_path / "r.npy", np.array([0, 1, -1, 2]))
    with pytest.raises(ValueError, match=r"r\.npy.*label -1 at row 2 is outside \[0, 3\)"):
        from_file(y, tmp_path / "r.npy", num_classes=3)
    np.save(tmp_path / "s.npy", np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"s\.npy.*3 noisy labels for 4"):
        from_file(y, tmp_path / "s.npy", num_classes=3)
    np.save(tmp_path / "l.npy", np.array([0, 1, 2, 1, 0]))
    with pytest.raises(ValueError, match=r"l\.npy.*5 noisy labels for 4"):
        from_file(y, tmp_path / "l.npy", num_classes=3)
    with pytest.raises(ValueError, match="noisy labels: 5 noisy labels for 4"):
        noise.from_labels(y, [0, 1, 2, 1, 0], num_classes=3)
    # Integer-valued floats are fine.
    np.save(tmp_path / "ok.npy", np.array([0.0, 1.0, 2.0, 2.0]))
    assert from_file(y, tmp_path / "ok.npy", num_classes=3).labels.tolist() == [0, 1, 2, 2]
