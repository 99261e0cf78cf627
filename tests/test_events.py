"""experiments/events.py: TensorBoard event files read without TensorFlow, checked against TensorFlow's own
writer and reader."""

import struct
import subprocess
import sys

import pytest
import tensorflow as tf

from ntm_cell.experiments import events


def test_crc32c_check_values():
    # The CRC-32C check value, and the iSCSI test vectors of RFC 3720, B.4.
    assert events.crc32c(b"123456789") == 0xE3069283
    assert events.crc32c(bytes(32)) == 0x8A9136AA
    assert events.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert events.crc32c(bytes(range(32))) == 0x46DD794E


def write_scalars(run_dir, values):
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for step, (loss, errors) in enumerate(values, start=1):
            tf.summary.scalar("loss/train", loss, step=step)
            tf.summary.scalar("bit_errors/eval", errors, step=step)
    writer.close()
    return next(run_dir.glob("events.out.tfevents.*"))


def test_scalar_events_are_the_ones_tensorflow_reads(tmp_path):
    path = write_scalars(tmp_path, [(0.5, 3.0), (0.25, 1.5), (0.125, 0.0)])
    read = list(events.scalar_events(tmp_path))
    assert [(tag, step, value) for tag, step, value, _ in read] == [
        ("loss/train", 1, 0.5), ("bit_errors/eval", 1, 3.0),
        ("loss/train", 2, 0.25), ("bit_errors/eval", 2, 1.5),
        ("loss/train", 3, 0.125), ("bit_errors/eval", 3, 0.0),
    ]
    assert [record for record in events.tfrecords(path)] == [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert all(wall_time > 1e9 for *_, wall_time in read)


def test_a_record_cut_short_ends_the_file_and_a_damaged_one_is_an_error(tmp_path):
    path = write_scalars(tmp_path, [(0.5, 3.0), (0.25, 1.5)])
    whole = path.read_bytes()
    records = list(events.tfrecords(path))
    path.write_bytes(whole[:-3])  # the last record still being written
    assert list(events.tfrecords(path)) == records[:-1]
    (length,) = struct.unpack("<Q", whole[:8])
    damaged = bytearray(whole)
    damaged[12 + length + 4 + 12] ^= 0x01  # one bit of the second record's data
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=f"damaged record of .* bytes at byte {12 + length + 4}"):
        list(events.tfrecords(path))
    damaged = bytearray(whole)
    damaged[0] ^= 0x01  # the first record's length
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="damaged record header at byte 0"):
        list(events.tfrecords(path))


def test_reading_events_does_not_import_tensorflow(tmp_path):
    write_scalars(tmp_path, [(0.5, 3.0)])
    script = (
        "import sys\nfrom ntm_cell.experiments import events\n"
        f"values = [v for _, _, v, _ in events.scalar_events({str(tmp_path)!r})]\n"
        "assert values == [0.5, 3.0], values\n"
        "assert 'tensorflow' not in sys.modules\nprint('OK')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-2000:]
