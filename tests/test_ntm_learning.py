"""A real learning signal: a tiny NTM learns a tiny copy problem in 300 steps."""

import keras
import numpy as np

from ntm_cell import NTMCell

BITS, MAX_LENGTH, BATCH = 3, 3, 32
TIME = 2 * MAX_LENGTH + 1


def tiny_copy_batch(rng):
    """Inputs [B, 7, 4] (3 data bits + delimiter), targets [B, 7, 3], mask [B, 7]."""
    inputs = np.zeros((BATCH, TIME, BITS + 1), "float32")
    targets = np.zeros((BATCH, TIME, BITS), "float32")
    mask = np.zeros((BATCH, TIME), "float32")
    for b in range(BATCH):
        length = rng.integers(1, MAX_LENGTH + 1)
        seq = rng.integers(0, 2, (length, BITS)).astype("float32")
        inputs[b, :length, :BITS] = seq
        inputs[b, length, BITS] = 1.0
        targets[b, length + 1 : 2 * length + 1] = seq
        mask[b, length + 1 : 2 * length + 1] = 1.0
    return inputs, targets, mask


def test_tiny_copy_loss_falls_well_below_chance():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cell = NTMCell(controller_units=32, memory_size=8, memory_width=6, output_units=BITS)
    model = keras.Sequential([keras.Input((TIME, BITS + 1)), keras.layers.RNN(cell, return_sequences=True)])
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
