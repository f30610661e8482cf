"""Every exception the package defines, and the one check of a named choice.

The command line (:mod:`andi2kit.cli`) turns the user errors (:data:`USER_ERRORS`) into a
one- or two-line message and exit code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class InputError(ValueError):
    """A challenge file or folder that cannot be used; the message names it and the problem."""


class OptionError(ValueError):
    """An option value that cannot be used; the message names the option."""


class StaleOutputError(InputError):
    """An output folder holds results this run cannot vouch for (not made by it, or by a
    different run); the message says how to proceed (``--force``, another folder)."""


class SimulationError(RuntimeError):
    """One or more FOVs of a simulation failed; the message names each experiment and FOV."""


class SingleTaskFailure(Exception):
    """Scoring: the whole track's single-trajectory task gets the maximum errors (a missing
    ``fov_<F>.txt`` or a wrong VIP set, as the organisers' scorer decides)."""


#: What the command line reports as a short message (exit code 2) instead of a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (InputError, OptionError, OSError)


def check_choice(option: str, value: str, choices: Sequence[str]) -> str:
    """``value`` when it is one of ``choices``; otherwise an :class:`OptionError` naming
    ``option`` and the choices.

    Examples
    --------
    >>> check_choice("--linker", "trackpy", ("motion", "trackpy"))
    'trackpy'
    >>> try:
    ...     check_choice("--linker", "bogus", ("motion", "trackpy"))
    ... except OptionError as err:
    ...     print(err)
    --linker 'bogus' is not one of motion, trackpy
    """
    if value not in choices:
        raise OptionError(f"{option} {value!r} is not one of {', '.join(choices)}")
    return value
