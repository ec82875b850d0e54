"""The third-party `genesys-notifications` socket client runs against the simulator."""
import asyncio
import base64
import json
import urllib.request

import genesys_notifications.channel as gn
from genesys_notifications.exceptions import ChannelExpiring

_wait = asyncio.wait


async def _wait_tasks(fs, **kw):
    # genesys-notifications 1.3 hands bare coroutines to asyncio.wait, which Python 3.11 refuses.
    return await _wait([asyncio.ensure_future(f) for f in fs], **kw)


gn.asyncio.wait = _wait_tasks


def token(sim):
    req = urllib.request.Request(sim.base + "/oauth/token", data=b"grant_type=client_credentials", method="POST")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"demo:secret").decode())
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    return json.load(urllib.request.urlopen(req, timeout=10))["access_token"]


def create_channel(sim):
    req = urllib.request.Request(sim.base + "/api/v2/notifications/channels", method="POST")
    req.add_header("Authorization", "Bearer " + token(sim))
    return json.load(urllib.request.urlopen(req, timeout=10))


def subscribed(sim, channel_id):
    """The channel's topics as the REST API lists them."""
    req = urllib.request.Request(sim.base + f"/api/v2/notifications/channels/{channel_id}/subscriptions")
    req.add_header("Authorization", "Bearer " + token(sim))
    return [t["id"] for t in json.load(urllib.request.urlopen(req, timeout=10))["entities"]]


async def until_subscribed(sim, channel_id, topic):
    # The client's connect returns before the simulator has read its subscribe frame: events made earlier
    # would go to nobody, so the test waits for the subscription itself (bounded by the test's timeout).
    while topic.lower() not in [t.lower() for t in subscribed(sim, channel_id)]:
        await asyncio.sleep(0.05)


def test_subscribes_on_the_socket_and_receives_events(sim):
    channel = create_channel(sim)
    topic = f"v2.users.{sim.a_user()}.presence"

    async def run():
        c = gn.Channel(channel["connectUri"], [topic])
        await c
        await until_subscribed(sim, channel["id"], topic)
        seqs = sim.post("/sim/v1/events", {"topic": topic, "count": 3})["seqs"]
        got = []
        async for message in c:
            got.append(message)
            if len(got) == 3:
                break
        await c.close()
        return seqs, got

    seqs, got = asyncio.run(asyncio.wait_for(run(), 20))
    assert [m["topicName"] for m in got] == [topic] * 3
    ledger = sim.get(f"/sim/v1/ledger?topic={topic}")["entries"]
    assert [e["seq"] for e in ledger] == seqs
    assert [m["metadata"]["CorrelationId"] for m in got] == [e["correlationId"] for e in ledger]
    assert all(e["channels"] == [channel["id"]] for e in ledger)


def test_socket_closing_is_reported_as_channel_expiring(sim):
    channel = create_channel(sim)

    async def run():
        c = gn.Channel(channel["connectUri"], [f"v2.users.{sim.a_user()}.presence"])
        await c
        sim.post("/sim/v1/faults", {"kind": "socket_closing", "channel": channel["id"], "graceSeconds": 5})
        try:
            async for _ in c:
                pass
        except ChannelExpiring as e:
            return e.reason.name
        finally:
            await c.close()

    assert asyncio.run(asyncio.wait_for(run(), 20)) == "ChannelClosing"
