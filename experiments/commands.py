"""The installed commands (``ntm-train``, ``ntm-evaluate``, ...) and absl's help.

A command calls its script module's ``run``: the module is imported, not run as ``__main__``, and absl takes the
usage text (``__main__``'s docstring) and the flags ``--helpshort`` lists (the key flags of ``sys.argv[0]``) from
the main module. :func:`as_main` gives them the script module's, so the command and ``python scripts/<name>.py``
print the same help.
"""

import sys

from absl import flags


def as_main(module_name, flag_values=flags.FLAGS):
    """Let absl's help describe the script module ``module_name``: its docstring becomes ``__main__``'s and its key
    flags those of ``sys.argv[0]``. Does nothing when ``module_name`` is ``"__main__"`` (the script was run)."""
    if module_name == "__main__":
        return
    sys.modules["__main__"].__doc__ = sys.modules[module_name].__doc__
    for flag in flag_values.get_key_flags_for_module(module_name):
        flag_values.register_key_flag_for_module(sys.argv[0], flag)
