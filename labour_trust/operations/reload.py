"""Reload the code location when `evaluations.yaml` changes (one asset per evaluation).

The evaluation assets are built from the spec when the definitions load, so a new or edited
evaluation appears only after the code location reloads. `labour-trust up` runs a
`SpecWatcher`: it notices a changed spec (by its fingerprint in the store: no read per
poll), validates it, and asks the webserver to reload every code location — the same
GraphQL mutation as the UI's *Reload* button, after which the daemon sees the new
definitions too. An invalid spec is reported (what is wrong, where) and not loaded: the
running definitions stay as they are until the file is fixed.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

from labour_trust.evaluation.spec import STORE_NAME, EvaluationSpecError, load_evaluations
from labour_trust.settings import store_root
from labour_trust.store import Store

POLL_SECONDS = 3.0

_LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
_RELOAD = """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
  __typename ... on PythonError { message } } }"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def reload_code_locations(url: str) -> list[str]:
    """Reload every code location of the webserver at `url` (…/graphql); their names."""
    workspace = graphql(url, _LOCATIONS)["data"]["workspaceOrError"]
    names = [entry["name"] for entry in workspace["locationEntries"]]
    for name in names:
        result = graphql(url, _RELOAD, {"name": name})["data"]["reloadRepositoryLocation"]
        if result["__typename"] == "PythonError":
            raise RuntimeError(f"reloading {name} failed: {result['message']}")
    return names


class SpecWatcher(threading.Thread):
    """Polls the store's evaluations.yaml; on a valid change, reloads the code locations."""

    def __init__(self, home: Path, graphql_url: str, say: Callable[[str], None] = print) -> None:
        super().__init__(name="evaluations-watcher", daemon=True)
        self.home, self.url, self.say = home, graphql_url, say
        self.store = Store(store_root(home))
        self.stopped = threading.Event()
        self.seen = self.store.fingerprint(STORE_NAME)

    def run(self) -> None:
        while not self.stopped.wait(POLL_SECONDS):
            try:
                self.check()
            except OSError as e:  # the webserver restarting, the store briefly unreachable
                self.say(f"evaluations.yaml: could not reload yet ({e}); will retry")

    def check(self) -> bool:
        """Reload if the spec changed and is valid; True if a reload was made."""
        current = self.store.fingerprint(STORE_NAME)
        if current == self.seen:
            return False
        try:
            specs = load_evaluations(self.home)
        except EvaluationSpecError as e:
            self.seen = current  # reported once; the next edit is checked again
            self.say(f"evaluations.yaml changed but is not valid, not loaded: {e}")
            return False
        reload_code_locations(self.url)
        self.seen = current
        self.say(f"evaluations.yaml changed: reloaded with {len(specs)} evaluation(s)")
        return True
