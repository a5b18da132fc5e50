"""Governance: data-sharing agreements, the Delta Sharing endpoint and the audit log.

- ``agreements``: the agreement register (``agreements.yaml``), validated and reloaded on
  change; revocation; bearer tokens (``tokens``: SHA-256 hashes only).
- ``audit_log``: append-only, hash-chained JSON-lines log with ``verify``.
- ``restricted``: physically restricted copies for column- or region-limited grants.
- ``sharing_server`` (+ ``sharing_service``, ``protocol``, ``file_urls``): the Delta
  Sharing protocol server (``create_app``, ``serve``).
- ``cli``: ``agreements list|token|revoke``, ``audit verify``, ``serve-shares``.

Submodules are imported on use (the server pulls in FastAPI and deltalake).
"""
