"""The progress lines of a training run: loss, bit errors, speed, time elapsed and left."""

import math
import time


class Progress:
    """Progress lines: the rate since the start, and the time left estimated from the steps since the previous
    line (the first line includes the XLA compilations, so it gives no estimate: "eta ?")."""

    def __init__(self, printer, batch_size, resumed_from, final_level):
        self.printer, self.batch_size, self.resumed_from, self.final_level = printer, batch_size, resumed_from, final_level
        self.started = time.perf_counter()
        self.previous_time, self.previous_step = None, resumed_from

    def line(self, step, steps, loss, errors, eval_errors, level):
        now = time.perf_counter()
        seconds = now - self.started
        rate = (step - self.resumed_from) * self.batch_size / max(seconds, 1e-9)
        remaining = float("nan")
        if self.previous_time is not None:
            remaining = (steps - step) * (now - self.previous_time) / max(step - self.previous_step, 1)
        self.previous_time, self.previous_step = now, step
        self.printer(
            f"step {step:>6}/{steps}  loss {loss:8.4f}  bit errors/seq train {errors:7.3f}  "
            f"eval {eval_errors:7.3f}  {rate:6.0f} seq/s  elapsed {format_duration(seconds)}  "
            f"eta {format_duration(remaining)}"
            + (f"  curriculum {level}/{self.final_level}" if self.final_level else "")
        )


def format_duration(seconds):
    """``"12m05s"``, ``"1h02m"``, or ``"?"`` for an unknown (non-finite) duration."""
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
