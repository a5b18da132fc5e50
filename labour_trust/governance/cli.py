"""Governance commands for the `labour-trust` CLI.

The main CLI calls `add_commands(subparsers)` and sets `args.home` (LABOUR_TRUST_HOME, a
Path); each command stores its handler as `args.func`, which returns an exit code:

    labour-trust agreements list [--json]
    labour-trust agreements token ID --profile-out FILE [--endpoint URL]
    labour-trust agreements revoke ID
    labour-trust audit verify [--json]
    labour-trust serve-shares [--host 127.0.0.1] [--port 8080]

The register (and its tokens, `sharing_tokens.json`) and the audit log live in the trust's
store: LABOUR_TRUST_STORE (a folder or s3://bucket/prefix), else the home folder. The
register is `STORE/agreements.yaml`, a copy of the demo register put there on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from labour_trust.governance.agreements import (
    REGISTER_FILENAME,
    Agreement,
    AgreementRegister,
    utc_today,
)
from labour_trust.governance.audit_log import (
    AuditLog,
    ObjectAuditLog,
    audit_location,
    open_audit_log,
)
from labour_trust.governance.tokens import token_fingerprint
from labour_trust.settings import store_root, trust_home
from labour_trust.store import Store

ENDPOINT_ENV = "LABOUR_TRUST_SHARING_ENDPOINT"
DEFAULT_ENDPOINT = "http://127.0.0.1:8080/delta-sharing"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `agreements`, `audit` and `serve-shares` to the main CLI's subparsers."""
    _add_agreements(subparsers)
    _add_audit(subparsers)
    _add_serve(subparsers)


def _add_agreements(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("agreements", help="the data-sharing-agreement register")
    commands = parser.add_subparsers(dest="agreements_command", required=True)

    listing = commands.add_parser("list", help="list agreements and their effective status")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_agreements_list)

    token = commands.add_parser("token", help="issue a bearer token and write a profile file")
    token.add_argument("agreement_id", metavar="ID")
    token.add_argument("--profile-out", type=Path, required=True, help="profile file to write")
    token.add_argument(
        "--endpoint",
        default=None,
        help=f"sharing server URL for the profile (default ${ENDPOINT_ENV} or {DEFAULT_ENDPOINT})",
    )
    token.set_defaults(func=cmd_agreements_token)

    revoke = commands.add_parser("revoke", help="revoke an agreement (effective immediately)")
    revoke.add_argument("agreement_id", metavar="ID")
    revoke.set_defaults(func=cmd_agreements_revoke)

    for command in (listing, token, revoke):
        command.add_argument("--register", default=None, help=argparse.SUPPRESS)  # file or s3://


def _add_audit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="the hash-chained audit log")
    commands = parser.add_subparsers(dest="audit_command", required=True)
    check = commands.add_parser("verify", help="verify the audit log's hash chain")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.add_argument(
        "--log", default=None, help="log file or s3:// prefix (default: the store's audit log)"
    )
    check.set_defaults(func=cmd_audit_verify)


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve-shares", help="run the Delta Sharing server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--published-root", default=None, help="published tables (default <home>/published)"
    )
    parser.add_argument("--restricted-root", default=None, help="restricted copies' root")
    parser.add_argument("--public-url", default=None, help="base URL consumers reach us at")
    parser.add_argument("--register", default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_serve_shares)


# ------------------------------------------------------------------------------ helpers


def home_of(args: argparse.Namespace) -> Path:
    home = getattr(args, "home", None)
    return Path(home) if home else trust_home()


def ensure_register(home: Path) -> Path | str:
    """The store's register, `STORE/agreements.yaml` (a Path in a folder, an s3:// URI),
    created from the demo register on first use (only if still absent: a register that
    appears meanwhile, e.g. written from another machine, is never overwritten)."""
    store = Store(store_root(home))
    if store.fingerprint(REGISTER_FILENAME) is None:
        demo = resources.files("labour_trust.governance").joinpath("demo_agreements.yaml")
        store.create_text(REGISTER_FILENAME, text=demo.read_text(encoding="utf-8"))
    uri = store.uri(REGISTER_FILENAME)
    return uri if store.on_s3 else Path(uri)


def _register(args: argparse.Namespace) -> AgreementRegister:
    location = getattr(args, "register", None) or ensure_register(home_of(args))
    return AgreementRegister.load(location)


def _audit(args: argparse.Namespace) -> AuditLog | ObjectAuditLog:
    return open_audit_log(audit_location(store_root(home_of(args))))


def agreement_summary(agreement: Agreement) -> dict[str, Any]:
    today = utc_today()
    return {
        "id": agreement.id,
        "consumer": agreement.consumer,
        "purpose": agreement.purpose,
        "legal_gateway": agreement.legal_gateway,
        "tables": list(agreement.table_names),
        # The same tables with their column / region limits, if any.
        "grants": [
            {k: v for k, v in asdict(grant).items() if v is not None} for grant in agreement.tables
        ],
        "start": agreement.start.isoformat(),
        "expires": agreement.expires.isoformat(),
        "status": agreement.state_on(today),  # effective: includes expired / not_started
        "registered_status": agreement.status,
    }


def _grant_label(grant: dict[str, Any]) -> str:
    limits = [f"{k}={','.join(grant[k])}" for k in ("columns", "regions") if k in grant]
    return grant["name"] + (f" [{'; '.join(limits)}]" if limits else "")


# ----------------------------------------------------------------------------- commands


def cmd_agreements_list(args: argparse.Namespace) -> int:
    summaries = [agreement_summary(a) for a in _register(args).agreements()]
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    for s in summaries:
        tables = ", ".join(_grant_label(g) for g in s["grants"])
        print(f"{s['id']:<32} {s['status']:<11} expires {s['expires']}  {s['consumer']}")
        print(f"{'':<32} tables: {tables}")
    return 0


def cmd_agreements_token(args: argparse.Namespace) -> int:
    register = _register(args)
    try:
        agreement = register.get(args.agreement_id)
        token = register.issue_token(args.agreement_id)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    endpoint = args.endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    write_profile(args.profile_out, endpoint, token, agreement)
    _audit(args).append(
        "agreement.token_issued",
        agreement_id=agreement.id,
        consumer=agreement.consumer,
        token_sha256_prefix=token_fingerprint(token),
        profile=str(args.profile_out),
    )
    print(
        f"Issued a token for {agreement.id} ({agreement.consumer}); any earlier token is void.\n"
        f"Profile written to {args.profile_out} (mode 0600): send it to the consumer securely.\n"
        f"Tables: labour_trust.published.{{{','.join(agreement.table_names)}}}"
    )
    return 0


def write_profile(path: Path, endpoint: str, token: str, agreement: Agreement) -> None:
    """A standard Delta Sharing profile file (shareCredentialsVersion 1), readable by owner only."""
    profile = {
        "shareCredentialsVersion": 1,
        "endpoint": endpoint.rstrip("/"),
        "bearerToken": token,
        "expirationTime": f"{agreement.expires.isoformat()}T23:59:59Z",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(profile, handle, indent=2)
        handle.write("\n")
    os.chmod(path, 0o600)  # also when the file existed with a wider mode


def cmd_agreements_revoke(args: argparse.Namespace) -> int:
    register = _register(args)
    try:
        previous = register.get(args.agreement_id).status
        agreement = register.revoke(args.agreement_id)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    _audit(args).append(
        "agreement.revoked",
        agreement_id=agreement.id,
        consumer=agreement.consumer,
        previous_status=previous,
    )
    print(f"Revoked {agreement.id} ({agreement.consumer}): its token is refused from now on.")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    path = str(args.log or audit_location(store_root(home_of(args))))
    result = open_audit_log(path).verify()
    if args.json:
        print(json.dumps({"log": str(path), **asdict(result)}, indent=2))
    elif result.ok:
        print(f"audit log {path}: OK, {result.entries} entries, head hash {result.head_hash}")
    else:
        print(
            f"audit log {path}: BROKEN at entry {result.first_broken_seq}: {result.reason}\n"
            f"({result.entries} entries before it verify; last good hash {result.head_hash})"
        )
    return 0 if result.ok else 1


def cmd_serve_shares(args: argparse.Namespace) -> int:
    from labour_trust.defs.resources import published_root
    from labour_trust.governance.sharing_server import (
        DEFAULT_PREFIX,
        SharingSecretMissing,
        serve,
    )

    home = home_of(args)
    register_path = args.register or ensure_register(home)
    print(f"Delta Sharing endpoint: http://{args.host}:{args.port}{DEFAULT_PREFIX}")
    try:
        serve(
            args.host,
            args.port,
            home,
            register_path,
            published_root=args.published_root or published_root(home),  # LABOUR_TRUST_PUBLISHED
            restricted_root=args.restricted_root,
            public_url=args.public_url,
        )
    except SharingSecretMissing as e:
        print(f"labour-trust serve-shares: {e}", file=sys.stderr)
        return 2
    return 0
