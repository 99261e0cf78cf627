"""Scalars read back from the TensorBoard event files that ``train.py`` writes.

Read without TensorFlow (its import takes 8-9 s on the 2-core machine, longer than drawing a figure): the files
are TFRecord files, whose framing is read here with its CRC-32C checks, holding ``Event`` protocol buffers,
parsed with TensorBoard's own protobuf classes.
"""

import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util


def _crc32c_table():
    """The 256 entries of the byte-wise lookup table of CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C of ``data`` (bytes) as an int in ``[0, 2**32)``; ``crc32c(b"123456789") == 0xE3069283``."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    """The checksum a TFRecord file stores: CRC-32C of ``data`` rotated right by 15 bits plus 0xA282EAD8."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecords(path):
    """The records of a TFRecord file, in order.

    Each record is a little-endian uint64 length and its masked CRC-32C (uint32), the data, and the data's masked
    CRC-32C. A record cut short at the end of the file (one still being written by a running ``train.py``) ends
    the iteration, as it would for TensorBoard.

    Yields:
        bytes: each record's data.

    Raises:
        ValueError: a checksum does not match (a damaged file), naming the file and the byte offset.
    """
    with open(path, "rb") as file:
        offset = 0
        while True:
            header = file.read(12)
            if len(header) < 12:
                return
            length_bytes, (length_crc,) = header[:8], struct.unpack("<I", header[8:])
            if masked_crc32c(length_bytes) != length_crc:
                raise ValueError(f"{path}: damaged record header at byte {offset}")
            (length,) = struct.unpack("<Q", length_bytes)
            data, footer = file.read(length), file.read(4)
            if len(data) < length or len(footer) < 4:
                return
            if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
                raise ValueError(f"{path}: damaged record of {length} bytes at byte {offset}")
            offset += 12 + length + 4
            yield data


def scalar_events(run_dir):
    """Every scalar summary under ``run_dir``, file by file in name order (oldest first).

    Yields:
        ``(tag, step, value, wall_time)``: tag str, step int, value float, wall_time float (seconds since the
        epoch). A resumed run may yield a step twice; the later one is the newer value.
    """
    for path in event_files(run_dir):
        yield from file_scalar_events(path)


def event_files(run_dir):
    """The event files of ``run_dir`` in name order, which is the order they were written: each ``train.py``
    process, the first and each resumption, writes one."""
    return sorted(Path(run_dir).glob("events.out.tfevents.*"))


def file_scalar_events(path):
    """Every scalar summary of one event file, as ``(tag, step, value, wall_time)`` (see :func:`scalar_events`)."""
    for record in tfrecords(path):
        event = event_pb2.Event.FromString(record)
        for value in event.summary.value:
            if value.HasField("tensor"):
                number = tensor_util.make_ndarray(value.tensor)
                if number.size != 1:
                    continue  # not a scalar (an image or histogram summary)
                number = number.reshape(())
            else:
                number = value.simple_value
            yield value.tag, int(event.step), float(number), event.wall_time


def running_seconds(spans, wall_time):
    """Seconds of ``spans`` (from :func:`read_scalars_and_spans`) before ``wall_time``: the run's training time up
    to then, leaving out the time between a stop and its resumption."""
    return sum(max(0.0, min(end, wall_time) - start) for start, end in spans)


class Scalar(NamedTuple):
    """One tag's values in a run directory, by step: ``steps`` int64 ``[K]`` (sorted), ``values`` and
    ``wall_times`` float64 ``[K]`` (seconds since the epoch)."""

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray


def read_scalars_and_spans(run_dir):
    """Every scalar of a run directory's event files, and when the run was training, in one pass over them.

    Returns:
        ``(scalars, spans)``: ``scalars`` is ``{tag: Scalar}``; where a resumed run wrote a step twice, the later
        file's value (and time) wins. ``spans`` is, per event file with scalars, oldest first, the wall times of
        its first and last scalar, ``[(start, end)]`` in seconds since the epoch; the gaps between spans are times
        no process ran.
    """
    by_tag, spans = {}, []
    for path in event_files(run_dir):
        times = []
        for tag, step, value, wall_time in file_scalar_events(path):
            by_tag.setdefault(tag, {})[step] = (value, wall_time)
            times.append(wall_time)
        if times:
            spans.append((min(times), max(times)))
    scalars = {}
    for tag, points in by_tag.items():
        steps = np.array(sorted(points), np.int64)
        scalars[tag] = Scalar(steps, np.array([points[s][0] for s in steps], np.float64),
                              np.array([points[s][1] for s in steps], np.float64))
    return scalars, spans


def read_scalars(run_dir):
    """Every scalar of a run directory's event files: ``{tag: Scalar}`` (see :func:`read_scalars_and_spans`)."""
    return read_scalars_and_spans(run_dir)[0]


def read_hparams(run_dir):
    """The hyperparameters a run wrote for TensorBoard's HParams dashboard (:mod:`ntm_cell.experiments.hparams`).

    Returns:
        ``{name: value}`` (the newest record's, if a resumed run wrote them again); ``{}`` if it wrote none.
    """
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    found = {}
    for path in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        for record in tfrecords(path):
            for value in event_pb2.Event.FromString(record).summary.value:
                if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                kind = data.WhichOneof("data")  # the experiment, or the start or end of one run
                if kind is not None and kind.endswith("_start_info"):
                    found = {name: _hparam_value(v) for name, v in getattr(data, kind).hparams.items()}
    return found


def _hparam_value(value):
    """A ``google.protobuf.Value`` as a Python bool, number or string (whole numbers come back as ints)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    return getattr(value, kind)
