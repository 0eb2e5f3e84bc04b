"""Every mask, on every column type of the demo's tables, gives what a masked subject reads
through the gateway: the real `jitgate serve` in front of the demo's PostgreSQL with a policy
that uses each mask (the demo's own policy uses only some of them)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pyarrow as pa
import pytest

import jitgate
from conftest import jitgate_binary

RULES = {
    "public.customers.id": 'mask = "hash"',
    "public.customers.full_name": 'mask = "hash"',
    "public.customers.email": 'mask = "redact"',
    "public.customers.ssn": 'mask = "tokenize"',
    "public.customers.credit_card": 'mask = "null"',
    "public.customers.phone": 'mask = "partial"\nkeep_first = 3\nkeep_last = 2\npad = "#"',
    "public.customers.birth_date": 'mask = "generalize"\ngranularity = "month"',
    "public.customers.notes": 'mask = "scan"',
    "public.orders.id": 'mask = "generalize"\nbucket = 100',
    "public.orders.customer_id": 'mask = "redact"',
    "public.orders.product": 'mask = "email"',
    "public.orders.amount": 'mask = "generalize"\nbucket = 10',
    "public.orders.ordered_at": 'mask = "generalize"\ngranularity = "year"',
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(upstream: dict, api_port: int, pg_port: int) -> str:
    rules = "".join(
        f'\n[[masking.rules]]\nresource = "every"\ncolumn = "{column}"\n{rule}\n'
        for column, rule in RULES.items()
    )
    return f"""
[server]
store = "jitgate.sqlite"

[api]
listen = "127.0.0.1:{api_port}"

[users.alice]
password_env = "JITGATE_PYTEST_ALICE"
groups = ["analysts"]

[resources.every]
kind = "postgres"
listen = "127.0.0.1:{pg_port}"

[resources.every.upstream]
host = "127.0.0.1"
port = {upstream['port']}
database = "app"
user = "{upstream['user']}"
tls = "disable"

[roles]
approver = ["dba"]

[[access]]
resources = ["every"]
requesters = ["group:analysts"]
max_duration = "30m"
auto_approve_groups = ["analysts"]

[masking]
key_env = "JITGATE_PYTEST_EVERY_KEY"
{rules}"""


@pytest.fixture(scope="module")
def every_mask(demo, tmp_path_factory):
    """(policy, alice's libpq URI) for a gateway whose policy uses every mask."""
    import psycopg.conninfo

    info = psycopg.conninfo.conninfo_to_dict(demo["upstream"]["uri"])
    upstream = {"port": int(info["port"]), "user": info["user"]}
    folder = tmp_path_factory.mktemp("every-mask")
    config = folder / "jitgate.toml"
    api_port, pg_port = free_port(), free_port()
    config.write_text(config_text(upstream, api_port, pg_port))
    env = dict(os.environ, JITGATE_PYTEST_ALICE="alice-secret-1", JITGATE_PYTEST_EVERY_KEY="every mask key, long enough")
    os.environ["JITGATE_PYTEST_EVERY_KEY"] = env["JITGATE_PYTEST_EVERY_KEY"]
    binary = str(jitgate_binary())
    grant = subprocess.run(
        [binary, "admin", "grant", "alice", "every", "--duration", "15m", "--json", "--config", str(config)],
        env=env, capture_output=True, text=True,
    )
    assert grant.returncode == 0, grant.stderr
    uri = json.loads(grant.stdout)["uri"]
    gateway = subprocess.Popen(
        [binary, "serve", "--config", str(config)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(folder / "jitgate.log", "w"),
    )
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=5)
                break
            except OSError:
                assert gateway.poll() is None, (folder / "jitgate.log").read_text()
                time.sleep(0.1)
        yield jitgate.Policy.from_file(config, resource="every"), uri
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(timeout=60)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


def read(uri: str, table: str) -> pa.Table:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        # Both reads are sequential scans of tables nobody writes: the same row order.
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [d.name for d in cursor.description]
        return pa.Table.from_pylist([dict(zip(names, row)) for row in cursor.fetchall()])


@pytest.mark.parametrize("table", ["public.customers", "public.orders"])
def test_every_mask_equals_the_gateway(every_mask, demo, table):
    policy, alice_uri = every_mask
    clear = read(demo["upstream"]["uri"], table)
    # psycopg gives Python ints: the table's int4 columns are int32 in Arrow.
    clear = clear.cast(pa.schema([
        pa.field(f.name, pa.int32() if f.name in ("id", "customer_id") else f.type) for f in clear.schema
    ]))
    through_gateway = read(alice_uri, table)
    masked = policy.for_groups(["analysts"], user="alice").mask(clear, table=table)
    for name in clear.column_names:
        want = through_gateway.column(name).to_pylist()
        assert masked.column(name).to_pylist() == want, name
        if RULES.get(f"{table}.{name}"):
            assert want != clear.column(name).to_pylist() or name == "notes", f"{name} is masked"
