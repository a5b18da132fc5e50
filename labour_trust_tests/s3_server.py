"""A moto S3 server for tests: a `moto_server` subprocess on a free port, killed afterwards.

Reusable from any test module::

    from labour_trust_tests.s3_server import s3_endpoint, settings_for

    with s3_endpoint() as endpoint:
        settings = settings_for(endpoint)  # dummy credentials, plain HTTP allowed
        ...

Nothing global (no environment variable) is set: pass `settings` or
`settings.delta_storage_options()` explicitly. The process management lives in
`labour_trust.demo.s3` so that `labour-trust up --s3` can use it too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from labour_trust.demo.s3 import MotoServer, moto_server, settings_for

__all__ = ["MotoServer", "s3_endpoint", "settings_for"]


@contextlib.contextmanager
def s3_endpoint() -> Iterator[str]:
    """Start `moto_server -H 127.0.0.1 -p PORT`, wait until it answers, yield its URL."""
    with moto_server() as endpoint:
        yield endpoint
