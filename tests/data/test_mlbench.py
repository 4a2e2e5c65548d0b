"""UCI Letter and Vowel from Debian's r-cran-mlbench R data files (fetched by `make data`)."""

import numpy as np
import pytest

from robustloss.data import _mlbench, load_dataset

try:
    _mlbench.find_mlbench_file("letter")
    _mlbench.find_mlbench_file("vowel")
    _MISSING = ""
except FileNotFoundError as e:
    _MISSING = str(e)

pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"mlbench files absent (run `make data`): {_MISSING}"
)

# UCI letter-recognition.names, "Class Distribution": examples per letter A..Z.
UCI_LETTER_COUNTS = [789, 766, 736, 805, 768, 775, 773, 734, 755, 747, 739, 761, 792,
                     783, 753, 803, 783, 758, 748, 796, 813, 764, 752, 787, 786, 734]  # fmt: skip


def test_letter_is_the_uci_file():
    x, y, _ = _mlbench.letter_rda()
    assert x.shape == (20000, 16) and x.dtype == np.float32 and y.dtype == np.int32
    # The first line of letter-recognition.data: T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8
    assert y[0] == ord("T") - ord("A")
    np.testing.assert_array_equal(x[0], [2, 8, 3, 5, 1, 8, 13, 0, 6, 6, 10, 8, 0, 8, 0, 8])
    np.testing.assert_array_equal(np.bincount(y, minlength=26), UCI_LETTER_COUNTS)
    assert x.min() == 0 and x.max() == 15 and np.all(x == np.round(x))


def test_load_letter_offline_splits():
    x, y, path = _mlbench.letter_rda()
    ds = load_dataset("letter", test_rows=2000)
    assert ds.source == path and ds.x_train.shape == (18000, 16) and ds.x_test.shape == (2000, 16)
    np.testing.assert_array_equal(ds.x_test, x[18000:])
    np.testing.assert_array_equal(ds.y_train, y[:18000])
    assert ds.class_names[0] == "A" and ds.num_classes == 26


def test_vowel_speaker_split():
    x, y, speaker, _ = _mlbench.vowel_rda()
    assert x.shape == (990, 9)
    np.testing.assert_array_equal(np.bincount(y), [90] * 11)
    np.testing.assert_array_equal(np.bincount(speaker), [66] * 15)
    # Within each speaker block the 11 vowels cycle 6 times in class order (UCI file layout).
    np.testing.assert_array_equal(y[:22], list(range(11)) * 2)
    ds = load_dataset("vowel")
    assert ds.x_train.shape == (528, 9) and ds.x_test.shape == (462, 9) and ds.num_classes == 11
    np.testing.assert_array_equal(ds.x_train, x[speaker < 8])
    np.testing.assert_array_equal(ds.y_test, y[speaker >= 8])
    assert ds.class_names == _mlbench.VOWEL_CLASSES


def test_vowel_lacks_the_second_uci_feature():
    """mlbench's 9 features are UCI's 1, 3..10 (UCI vowel-context rows 1-3, features 1-10)."""
    uci = [
        [-3.639, 0.418, -0.670, 1.779, -0.168, 1.627, -0.388, 0.529, -0.874, -0.814],
        [-3.327, 0.496, -0.694, 1.365, -0.265, 1.933, -0.363, 0.510, -0.621, -0.488],
        [-2.120, 0.894, -1.576, 0.147, -0.707, 1.559, -0.579, 0.676, -0.809, -0.049],
    ]
    x, y, speaker, _ = _mlbench.vowel_rda()
    np.testing.assert_allclose(x[:3], np.delete(np.array(uci), 1, axis=1), atol=1e-6)
    assert y[:3].tolist() == [0, 1, 2] and speaker[:3].tolist() == [0, 0, 0]
