"""Entry point of the Beam worker processes that the in-process runner starts when workers > 1.

Beam's own worker entry logs every start-up and shut-down step at INFO on stderr; ours keeps
warnings and errors only, then hands over to it.
"""

from __future__ import annotations

import logging
import os
import sys


def main() -> None:
    # One BLAS thread per worker: the workers already use every core (classifier math).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # Beam raises the root logger to INFO on start; a WARNING handler keeps stderr quiet anyway.
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    logging.basicConfig(handlers=[handler])
    logging.getLogger("spacy").setLevel(logging.WARNING)  # spaCy logs with its own handler
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)
    # The runner waits for this process to end; tearing down the interpreter (spaCy, Arrow,
    # gRPC) takes ~0.3 s that every run would wait for, and nothing is left to clean up.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
