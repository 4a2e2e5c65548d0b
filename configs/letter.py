"""UCI Letter (LDR, ICML 2023, §4): ``ffnn`` (H = 16), SGD-momentum, 100 epochs, batch 64.

Needs the UCI file: ``--config.dataset.path=/path/to/letter-recognition.data``. Features are
scaled to [−1, 1] (the LDR npz files), the last 2,000 rows are the test set (the repo's
``letter_test.npz``), 20% of the training rows are a noisy validation fold. Learning rate 1e-3
(the README/demo commands), coupled weight decay 5e-3, ÷10 at epochs 50 and 75, fixed order.
Noise: ``uniform`` (0.3/0.6/0.9) or ``pair`` with ``noise.class_map="letter"`` (0.1/0.3/0.5).
"""

from configs.base import finish, ldr_tabular_protocol


def get_config(arg: str | None = None):
    c = ldr_tabular_protocol(lr=1e-3)
    c.dataset.name = "letter"
    c.dataset.path = ""
    c.dataset.scale = "minmax"
    c.dataset.test_rows = 2000
    c.dataset.val_fraction = 0.2
    c.loss.name = "ldr_kl"
    return finish(c, arg)
