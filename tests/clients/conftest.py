"""Starts `switchboard sim` as a user would and hands its base URL to the tests."""
import os
import subprocess
import urllib.request
import json

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary():
    return os.environ.get("SWITCHBOARD_BIN", os.path.join(ROOT, "target", "debug", "switchboard"))


@pytest.fixture
def sim():
    proc = subprocess.Popen(
        [binary(), "sim", "--listen", "127.0.0.1:0", "--client", "demo:secret", "--rate", "0",
         "--heartbeat-interval", "500ms"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("sim listening on "), line
        yield Sim(line.removeprefix("sim listening on "))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Sim:
    def __init__(self, base):
        self.base = base

    def get(self, path):
        return json.load(urllib.request.urlopen(self.base + path, timeout=10))

    def post(self, path, body):
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        return json.load(urllib.request.urlopen(req, timeout=10))

    def a_user(self):
        return self.get("/sim/v1/org")["users"][0]["id"]


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(config_path, env, log):
    """Starts `switchboard serve` with its output in `log`; returns the process."""
    return subprocess.Popen([binary(), "serve", "--config", config_path], env=env, stdout=log, stderr=log)


def wait_healthy(base, seconds=20):
    import time
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return
        except OSError:
            assert time.monotonic() < deadline, "switchboard serve did not start"
            time.sleep(0.1)
