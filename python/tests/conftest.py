"""Fixtures: a live `jitgate demo --keep-running --json` (the real binary in front of a
throwaway PostgreSQL 15) and alice's masked read of it through the gateway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def jitgate_binary() -> Path:
    """`JITGATE_BIN`, or the workspace's debug build, brought up to date with cargo first."""
    if os.environ.get("JITGATE_BIN"):
        return Path(os.environ["JITGATE_BIN"])
    subprocess.run(["cargo", "build", "--quiet", "-p", "jitgate"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "jitgate"


def api(base: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="POST" if body is not None else "GET",
        headers={"content-type": "application/json"},
    )
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"{}")


@pytest.fixture(scope="session")
def demo():
    """The demo's JSON line; the demo is stopped (and everything removed) afterwards."""
    process = subprocess.Popen(
        [str(jitgate_binary()), "demo", "--keep-running", "--json"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"jitgate demo ended without its JSON line (exit {process.wait()})")
        yield json.loads(line)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def credential(demo: dict, user: str, approver: str = "dana") -> str:
    """A libpq URI for `user` on the demo resource: requested, approved by `approver`."""
    base, users = demo["api"], demo["users"]
    login = lambda name: api(base, "/login", {"user": name, "password": users[name]["password"]})["token"]
    token = login(user)
    request = api(
        base,
        "/requests",
        {"resource": demo["resource"], "duration_seconds": 900, "reason": "pytest of the Python package"},
        token,
    )
    if request.get("status") == "pending":
        api(base, f"/requests/{request['id']}/approve", {}, login(approver))
    return api(base, "/connect", {"resource": demo["resource"]}, token)["uri"]


def read_customers(uri: str) -> tuple[list[str], list[tuple]]:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        cursor = conn.execute("SELECT * FROM public.customers ORDER BY id")
        names = [d.name for d in cursor.description]
        return names, cursor.fetchall()


@pytest.fixture(scope="session")
def clear_customers(demo):
    """`public.customers` read straight from the upstream (clear)."""
    return read_customers(demo["upstream"]["uri"])


@pytest.fixture(scope="session")
def alice_customers(demo):
    """`public.customers` as alice (group analysts) reads it through the gateway."""
    return read_customers(credential(demo, "alice"))
