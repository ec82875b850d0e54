"""What the deployment checks share: a tally of checks, and the switchboard binary as the judge of what exists
(subcommands, flags, environment variables, admin routes, configurations)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GRAFANA = ROOT / "grafana"


class Checks:
    """A tally: each expectation passes, or its failure message is kept for the report."""

    def __init__(self):
        self.passed = 0
        self.failed: list[str] = []

    def expect(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        return ok


class Binary:
    """What the switchboard binary accepts: subcommands, flags, environment variables, admin routes."""

    def __init__(self, path: str):
        self.path = path
        self._help: dict[str, str] = {}
        self.source = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.rs"))

    def help(self, sub: str | None = None) -> str:
        key = sub or ""
        if key not in self._help:
            cmd = [self.path] + ([sub] if sub else []) + ["--help"]
            self._help[key] = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        return self._help[key]

    def has_subcommand(self, sub: str) -> bool:
        return re.search(rf"^\s+{re.escape(sub)}\s", self.help(), re.M) is not None

    def has_flag(self, sub: str, flag: str) -> bool:
        return re.search(rf"(^|[\s,]){re.escape(flag)}([\s=<]|$)", self.help(sub), re.M) is not None

    def reads_env(self, name: str) -> bool:
        return f'"{name}"' in self.source

    def serves(self, path: str) -> bool:
        return f'.route("{path}"' in (ROOT / "src" / "api" / "mod.rs").read_text()

    def check_config(self, text: str, env: dict[str, str]) -> tuple[bool, str]:
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "switchboard.toml"
            f.write_text(text)
            keep = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
            r = subprocess.run(
                [self.path, "check", "--config", str(f)],
                capture_output=True,
                text=True,
                env={**keep, **env},
                check=False,
            )
            return r.returncode == 0, (r.stdout + r.stderr).strip()


def check_command(c: Checks, b: Binary, where: str, argv: list[str]) -> None:
    """A switchboard command line: its subcommand and each of its flags exist."""
    if not c.expect(bool(argv) and b.has_subcommand(argv[0]), f"{where}: {argv[:1]} is not a switchboard subcommand"):
        return
    for a in argv[1:]:
        if a.startswith("--"):
            flag = a.split("=", 1)[0]
            c.expect(b.has_flag(argv[0], flag), f"{where}: `switchboard {argv[0]}` has no flag {flag}")


def config_env_names(text: str) -> set[str]:
    """Environment variables a switchboard configuration reads through secret_env / token_env."""
    return set(re.findall(r'^\s*(?:secret_env|token_env)\s*=\s*"([^"]+)"', text, re.M))


def admin_port(text: str, env: dict[str, str]) -> int | None:
    listen = env.get("SWITCHBOARD_ADMIN_LISTEN") or tomllib.loads(text).get("admin", {}).get("listen")
    return int(listen.rsplit(":", 1)[1]) if listen else None


def metrics_port(text: str, env: dict[str, str]) -> int | None:
    """The port of the metrics listener ([admin] metrics_listen: /metrics without a token), if there is one."""
    listen = env.get("SWITCHBOARD_METRICS_LISTEN") or tomllib.loads(text).get("admin", {}).get("metrics_listen")
    return int(listen.rsplit(":", 1)[1]) if listen else None


def check_env(c: Checks, b: Binary, where: str, env: dict[str, str], config_text: str | None) -> None:
    needed = config_env_names(config_text or "")
    for name in env:
        known = b.reads_env(name) or name in needed or name == "RUST_LOG"
        c.expect(known, f"{where}: environment variable {name} is read neither by switchboard nor by its configuration")
    for name in needed:
        c.expect(name in env, f"{where}: the configuration reads {name} (secret_env/token_env) but it is not set")
