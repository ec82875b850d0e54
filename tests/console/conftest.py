"""A running engine for the console: the simulator, `switchboard serve` with an admin and a read token, and
headless Chromium driven by ChromeDriver (Debian's chromium and chromium-driver)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN = "console-admin-token-0123456789"
READER = "console-read-token-0123456789"


def binary():
    return os.environ.get("SWITCHBOARD_BIN", os.path.join(ROOT, "target", "debug", "switchboard"))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(what, probe, seconds=30):
    """Polls `probe` until it returns a true value, which it returns; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Engine:
    def __init__(self, base, sim):
        self.base = base
        self.sim = sim

    def api(self, method, path, token=ADMIN):
        req = urllib.request.Request(self.base + path, method=method)
        req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def engine():
    workdir = tempfile.mkdtemp(prefix="sb-console-")
    sim = subprocess.Popen(
        [binary(), "sim", "--listen", "127.0.0.1:0", "--client", "demo:secret", "--rate", "50",
         "--users", "6", "--heartbeat-interval", "1s"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    serve = None
    try:
        line = sim.stdout.readline().strip()
        assert line.startswith("sim listening on "), line
        sim_base = line.removeprefix("sim listening on ")
        org = json.load(urllib.request.urlopen(sim_base + "/sim/v1/org?family=presence", timeout=10))
        port = free_port()
        config = os.path.join(workdir, "serve.toml")
        with open(config, "w") as f:
            f.write(f"""
[store]
path = "store.db"
[egress]
allow = ["127.0.0.1"]
[admin]
listen = "127.0.0.1:{port}"
[[tenants]]
id = "acme"
api_base = "{sim_base}"
login_base = "{sim_base}"
topics = {json.dumps(org["topics"])}
[[tenants.clients]]
id = "demo"
secret = "secret"
[[sinks]]
name = "events"
kind = "file"
path = "events.jsonl"
[[routes]]
sinks = ["events"]
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        # A master key: tenants are then changed through the API (pause and resume among them).
        key = subprocess.run([binary(), "keys", "generate"], capture_output=True, text=True, check=True).stdout
        env.update({"SWITCHBOARD_ADMIN_TOKEN": ADMIN, "SWITCHBOARD_READ_TOKEN": READER, "RUST_LOG": "warn",
                    "SWITCHBOARD_MASTER_KEY": key.strip()})
        log = open(os.path.join(workdir, "serve.log"), "w")
        serve = subprocess.Popen([binary(), "serve", "--config", config], env=env, stdout=log, stderr=log)
        engine = Engine(f"http://127.0.0.1:{port}", sim_base)

        def live():
            try:
                _, status = engine.api("GET", "/v1/status")
            except OSError:
                return False
            return any(c["state"] == "live" for t in status["tenants"] for c in t["channels"])
        until("acme live", live)
        yield engine
    finally:
        if serve:
            serve.terminate()
            serve.wait(timeout=10)
        sim.terminate()
        sim.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
    profile = tempfile.mkdtemp(prefix="sb-chromium-")
    # The flags keep Chromium from reaching out to the network this machine does not have.
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,900", f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    service = Service(executable_path=os.environ.get("SWITCHBOARD_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
