"""Scalars read back from the TensorBoard event files that ``train.py`` writes."""

from pathlib import Path


def scalar_events(run_dir):
    """Every scalar summary under ``run_dir``, file by file in name order (oldest first).

    Yields:
        ``(tag, step, value, wall_time)``: tag str, step int, value float, wall_time float (seconds since the
        epoch). A resumed run may yield a step twice; the later one is the newer value.
    """
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    for path in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                yield value.tag, int(event.step), float(number), event.wall_time
