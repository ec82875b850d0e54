"""Schemathesis against the admin API's own OpenAPI document, on a running `switchboard serve`: no 5xx, and
every response conforms to the document. It uses a read token, so generated requests cannot create tenants
(which would make the engine reach for real Genesys hosts); admin routes answer 403, which is checked too."""
import os
import subprocess
import tempfile
import time
import sys
import urllib.request

from conftest import free_port, start_serve, wait_healthy

TOKEN = "read-token-for-schemathesis-0123456789"


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
    env = dict(os.environ, SWITCHBOARD_READ_TOKEN=TOKEN)
    serve = start_serve(os.path.join(work, "serve.toml"), env, open(os.path.join(work, "serve.log"), "w"))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base)
        st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        result = subprocess.run(
            [st, "run", base + "/v1/openapi.json", "--url", base,
             "-H", f"Authorization: Bearer {TOKEN}",
             "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
             # The live tail streams forever; it has its own test.
             "--exclude-path-regex", "/events$",
             "--max-examples", "25", "--generation-deterministic", "--no-color"],
            capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    finally:
        serve.terminate()
        serve.wait(timeout=20)
