"""`labour-trust up --s3`: the demo's shares in a local S3 (a moto_server process)."""

from __future__ import annotations

from labour_trust.resources import SHARES_ENV
from labour_trust.shares.moto import DUMMY_KEY, MotoServer
from labour_trust.shares.s3 import client_for, ensure_bucket

DEMO_BUCKET = "department-shares"


def start_demo_s3() -> tuple[MotoServer, dict[str, str]]:
    """Start moto_server and create the bucket; returns the server and the environment that
    points the trust (and its Dagster runs) at it. moto keeps data in memory: the demo is
    re-seeded at every start."""
    server = MotoServer().start()
    settings = server.settings
    ensure_bucket(client_for(settings), DEMO_BUCKET, settings.region)
    env = {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
        "AWS_REGION": settings.region,
        SHARES_ENV: f"s3://{DEMO_BUCKET}/shares",
    }
    return server, env
