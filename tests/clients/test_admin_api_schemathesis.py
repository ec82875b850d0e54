"""Schemathesis against the admin API's own OpenAPI document, on a running `switchboard serve`, with an admin
token and every check (`--checks all`): no 5xx, every answer and its content type is in the document and
conforms to it, bad requests (negative data, a missing or wrong token) are refused with a documented 4xx, good
ones are accepted. The admin token may create tenants and sinks: `[egress] allow` lets connectors reach only
127.0.0.1 (the simulator), and file sinks made through the API write below the work directory."""
import base64
import os
import subprocess
import tempfile
import time
import sys
import urllib.request

from conftest import free_port, start_serve, wait_healthy

TOKEN = "admin-token-for-schemathesis-0123456789"


def test_admin_api_conforms_to_its_openapi_document(sim):
    work = tempfile.mkdtemp(prefix="sb-st-")
    port = free_port()
    user = sim.a_user()
    with open(os.path.join(work, "serve.toml"), "w") as f:
        f.write(f"""
[store]
path = "{work}/store.db"
[egress]
allow = ["127.0.0.1"]
[admin]
listen = "127.0.0.1:{port}"
data_dir = "{work}/data"
ca_dir = "{work}/ca"
[[tenants]]
id = "acme"
api_base = "{sim.base}"
login_base = "{sim.base}"
topics = ["v2.users.{user}.presence"]
[[tenants.clients]]
id = "demo"
secret = "secret"
[[sinks]]
name = "events"
kind = "file"
path = "{work}/events.jsonl"
[[routes]]
sinks = ["events"]
""")
    # Tenants can be changed through the API only with a master key (it seals their OAuth secrets).
    key = base64.b64encode(os.urandom(32)).decode()
    env = dict(os.environ, SWITCHBOARD_ADMIN_TOKEN=TOKEN, SWITCHBOARD_MASTER_KEY=key)
    serve = start_serve(os.path.join(work, "serve.toml"), env, open(os.path.join(work, "serve.log"), "w"))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base)
        st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        result = subprocess.run(
            [st, "run", base + "/v1/openapi.json", "--url", base,
             "-H", f"Authorization: Bearer {TOKEN}",
             "--checks", "all",
             # positive_data_acceptance (a schema-valid request must not be refused) cannot hold for bodies whose
             # rules are beyond JSON Schema: a tenant needs a region or both base URLs, and its new clients a
             # secret; its topics must be in the topic catalogue; a sink's fields depend on its `kind`; a route's
             # sinks must exist; URLs must be allowed by `[egress]`. Those answer a documented 400 naming every
             # bad field. Every bound that a schema can state (lengths, patterns, item counts, minimum/maximum)
             # is in the document and checked by negative_data_rejection.
             "--exclude-checks", "positive_data_acceptance",
             # The live tail streams forever; it has its own test.
             "--exclude-path-regex", "/events$",
             "--max-examples", "25", "--generation-deterministic", "--no-color"],
            capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    finally:
        serve.terminate()
        serve.wait(timeout=20)
