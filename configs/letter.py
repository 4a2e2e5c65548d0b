"""UCI Letter (LDR, ICML 2023, §4): ``ffnn`` (H = 16), SGD-momentum, 100 epochs, batch 64.

Reads the mlbench copy of the UCI file (``make data``) or ``--config.dataset.path=<UCI
letter-recognition.data>``. Features are scaled to [−1, 1] (as the LDR npz files), the test
set is the authors' 2,000 rows of ``letter_test.npz`` (``dataset.split="ldr"``; the other
18,000 rows in UCI order train), 20% of the training rows
are a stratified random noisy validation split (the paper's 5 contiguous folds are in
``configs/paper/ldr_icml2023.py``). Learning rate 1e-3 (the README/demo commands), coupled
weight decay 5e-3, ÷10 at epochs 50 and 75, fixed order. Noise: the code's draw
(``noise.mode="ldr_code"``, seed 123), ``uniform`` 0.3 by default (0.3/0.6/0.9) or ``pair``
with ``noise.class_map="letter"`` (0.1/0.3/0.5). Loss: LDR-KL as the code runs it (λ = 10,
margin 0.1, ``softplus_mean`` scores).
"""

from configs.base import finish, ldr_tabular_protocol
from robustloss.training import set_loss


def get_config(arg: str | None = None):
    c = ldr_tabular_protocol(lr=1e-3)
    c.dataset.name = "letter"
    c.dataset.path = ""
    c.dataset.scale = "minmax"
    c.dataset.split = "ldr"
    c.dataset.val_fraction = 0.2
    c.noise.mode = "ldr_code"
    c.noise.seed = 123
    c.checkpoint_every = 100
    set_loss(c, "ldr_kl", lam=10.0, score_norm="softplus_mean")
    return finish(c, arg)
