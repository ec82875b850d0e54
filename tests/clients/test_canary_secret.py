"""A tenant created with a recognisable secret, and a Kafka sink whose SASL password is that secret: after a run
with debug logging, the secret is absent from the logs, the metrics, every API response and the database files
(it is stored sealed)."""
import base64
import json
import os
import tempfile
import time
import urllib.request

from conftest import free_port, start_serve, wait_healthy

CANARY = "canary-3d9f1a7e5c2b"
TOKEN = "admin-token-for-the-canary-test-0123"


def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_secret_never_leaks(sim):
    sim.post("/sim/v1/clients", {"clientId": "canary-client", "clientSecret": CANARY})
    work = tempfile.mkdtemp(prefix="sb-canary-")
    port = free_port()
    with open(os.path.join(work, "serve.toml"), "w") as f:
        f.write(f"""
[store]
path = "{work}/store.db"
[egress]
allow = ["127.0.0.1"]
[admin]
listen = "127.0.0.1:{port}"
[[sinks]]
name = "events"
kind = "file"
path = "{work}/events.jsonl"
[[routes]]
sinks = ["events"]
""")
    key = base64.b64encode(os.urandom(32)).decode()
    env = dict(os.environ, RUST_LOG="debug", SWITCHBOARD_ADMIN_TOKEN=TOKEN, SWITCHBOARD_MASTER_KEY=key)
    log_path = os.path.join(work, "serve.log")
    log = open(log_path, "w")
    serve = start_serve(os.path.join(work, "serve.toml"), env, log)
    base = f"http://127.0.0.1:{port}"
    responses = []
    try:
        wait_healthy(base)
        tenant = {"id": "canary", "apiBase": sim.base, "loginBase": sim.base,
                  "clients": [{"id": "canary-client", "secret": CANARY}],
                  "topics": [f"v2.users.{sim.a_user()}.presence"]}
        status, body = call("POST", base + "/v1/tenants", tenant)
        assert status == 201, body
        responses.append(body)
        deadline = time.monotonic() + 20
        while True:
            status, body = call("GET", base + "/v1/status")
            responses.append(body)
            if '"state":"live"' in body:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        # A bad request that repeats the secret must not echo it either.
        status, body = call("POST", base + "/v1/tenants", dict(tenant, id="Bad Id"))
        assert status == 400
        responses.append(body)
        for path in ["/v1/tenants", "/v1/tenants/canary", "/v1/tenants/canary/topics", "/v1/audit", "/v1/gaps",
                     "/readyz", "/metrics", "/v1/openapi.json"]:
            status, body = call("GET", base + path)
            assert status == 200, (path, body)
            responses.append(body)
        status, body = call("PUT", base + "/v1/tenants/canary", dict(tenant, clients=[{"id": "canary-client"}]))
        assert status == 200, body
        responses.append(body)
        # A Kafka sink with the secret as its SASL password: it connects (and fails to authenticate) in the
        # background, is shown with "sasl.password": "set", and is stored sealed.
        kafka = {"kind": "kafka", "brokers": [os.environ.get("SWITCHBOARD_TEST_KAFKA", "127.0.0.1:19092")],
                 "properties": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                "sasl.username": "canary-user", "sasl.password": CANARY}}
        status, body = call("PUT", base + "/v1/sinks/kafka", kafka)
        assert status == 201, body
        assert json.loads(body)["properties"]["sasl.password"] == "set", body
        responses.append(body)
        status, body = call("PUT", base + "/v1/sinks/kafka", dict(kafka, topic="not a topic"))
        assert status == 400, body
        responses.append(body)
        for path in ["/v1/sinks", "/v1/sinks/kafka", "/v1/audit", "/metrics"]:
            status, body = call("GET", base + path)
            assert status == 200, (path, body)
            responses.append(body)
    finally:
        serve.terminate()
        serve.wait(timeout=20)
        log.close()
    for body in responses:
        assert CANARY not in body
    logs = open(log_path).read()
    assert "DEBUG" in logs, "the run logged at debug level"
    assert CANARY not in logs
    for name in os.listdir(work):
        if name.startswith("store.db"):
            assert CANARY.encode() not in open(os.path.join(work, name), "rb").read(), name
