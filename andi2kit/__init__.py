"""andi2kit: from the 2nd AnDi Challenge's public data to a scored submission.

TensorFlow reads its logging settings from the environment when it is first imported, in
this process or in a spawned worker (which inherits the environment); they are set here,
before any module of the package can import it, unless the user set them.
"""

import os as _os
from importlib.metadata import PackageNotFoundError as _NotFound
from importlib.metadata import version as _version

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no C++ start-up lines
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN notice

try:
    __version__ = _version("andi2kit")
except _NotFound:  # a source tree on PYTHONPATH, not installed
    __version__ = "0+unknown"
