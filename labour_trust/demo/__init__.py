"""The demo's own infrastructure: a local S3 (moto_server) for `labour-trust up --s3`, tests
and benchmarks. Needs the `demo` (or `test`) extra."""
