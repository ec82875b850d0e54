"""The Python peer that scripts/bench-serve.sh measures beside the engine: the third-party `genesys-notifications`
client (the one tests/clients runs against the simulator) on one channel with the same topics, appending every
event it receives to a file as a JSON line, as a minimal delivery loop of one's own would.

    python bench-peer.py SIMULATOR_URL CLIENT_ID:SECRET TOPICS_FILE OUT_FILE
"""
import asyncio
import base64
import json
import logging
import sys
import urllib.request

import genesys_notifications.channel as gn

_wait = asyncio.wait


async def _wait_tasks(fs, **kw):
    # genesys-notifications 1.3 hands bare coroutines to asyncio.wait, which Python 3.11 refuses.
    return await _wait([asyncio.ensure_future(f) for f in fs], **kw)


gn.asyncio.wait = _wait_tasks


def post(url, headers, data=b""):
    req = urllib.request.Request(url, data=data, method="POST")
    for k, v in headers.items():
        req.add_header(k, v)
    return json.load(urllib.request.urlopen(req, timeout=10))


def main():
    base, client, topics_path, out_path = sys.argv[1:5]
    basic = base64.b64encode(client.encode()).decode()
    token = post(base + "/oauth/token", {"Authorization": "Basic " + basic,
                                          "Content-Type": "application/x-www-form-urlencoded"},
                 b"grant_type=client_credentials")["access_token"]
    channel = post(base + "/api/v2/notifications/channels", {"Authorization": "Bearer " + token})
    with open(topics_path) as f:
        topics = f.read().split()
    # The library logs every message at debug level; a delivery loop would not print them.
    log = logging.getLogger("peer")
    log.setLevel(logging.WARNING)

    async def run():
        c = gn.Channel(channel["connectUri"], topics, logger=log)
        await c
        with open(out_path, "a") as out:
            async for message in c:
                if message.get("topicName") == "channel.metadata":
                    continue
                out.write(json.dumps(message) + "\n")

    asyncio.run(run())


if __name__ == "__main__":
    main()
