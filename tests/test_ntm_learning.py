"""A real learning signal: a tiny NTM learns a tiny copy problem in 300 steps."""

import keras
import numpy as np
from helpers import COPY_BITS, COPY_TIME, tiny_copy_data

from ntm_cell import NTMCell

BATCH = 32


def tiny_copy_batch(rng):
    """One batch of :func:`helpers.tiny_copy_data`: inputs [B, 7, 4], targets [B, 7, 3], mask [B, 7]."""
    return tiny_copy_data(rng, BATCH)


def test_tiny_copy_loss_falls_well_below_chance():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cell = NTMCell(controller_units=32, memory_size=8, memory_width=6, output_units=COPY_BITS)
    model = keras.Sequential([keras.Input((COPY_TIME, COPY_BITS + 1)), keras.layers.RNN(cell, return_sequences=True)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2, global_clipnorm=50.0),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        jit_compile=True,
    )
    held_out = tiny_copy_batch(np.random.default_rng(123))

    def held_out_loss():
        x, y, m = held_out
        return model.evaluate(x, y, sample_weight=m, verbose=0, batch_size=BATCH)

    initial = held_out_loss()
    for _ in range(300):
        x, y, m = tiny_copy_batch(rng)
        model.train_on_batch(x, y, sample_weight=m)
    final = held_out_loss()
    # Chance level is log(2) ~ 0.69 nats per answer bit (times the answer fraction of steps).
    assert np.isfinite(final)
    assert final < 0.3 * initial, (initial, final)
    x, y, m = held_out
    errors = (((model.predict(x, verbose=0) > 0) != (y > 0.5)) * m[..., None]).sum() / BATCH
    assert errors < 1.0, f"{errors} bit errors per sequence after 300 steps"
