"""The official Genesys Cloud Python SDK, pointed at the simulator, works unchanged."""
import json

import PureCloudPlatformClientV2 as pc
import pytest


def topic(name):
    t = pc.ChannelTopic()
    t.id = name
    return t


def client(sim):
    pc.configuration.host = sim.base
    return pc.api_client.ApiClient().get_client_credentials_token("demo", "secret")


def test_channels_subscriptions_and_topics(sim):
    api = pc.NotificationsApi(client(sim))
    channel = api.post_notifications_channels()
    assert channel.id.startswith("streaming-0-")
    assert channel.connect_uri == sim.base.replace("http://", "ws://") + "/channels/" + channel.id
    assert channel.expires is not None

    user = sim.a_user()
    combined = f"v2.users.{user}?presence&routingStatus"
    result = api.put_notifications_channel_subscriptions(channel.id, [topic(combined)], ignore_errors=True)
    assert [(e.id, e.state) for e in result.entities] == [(combined, "Permitted")]
    listed = api.get_notifications_channel_subscriptions(channel.id)
    assert [e.id for e in listed.entities] == [combined]

    api.head_notifications_channel(channel.id)
    with pytest.raises(pc.rest.ApiException) as missing:
        api.head_notifications_channel("streaming-0-missing")
    assert missing.value.status == 404

    with pytest.raises(pc.rest.ApiException) as invalid:
        api.post_notifications_channel_subscriptions(channel.id, [topic("v2.not.a.topic")])
    assert invalid.value.status == 400
    assert json.loads(invalid.value.body)["code"] == "notification.invalid.topic"

    assert len(api.get_notifications_channels(includechannels="oauthclient").entities) == 1
    assert len(api.get_notifications_availabletopics().entities) == 237
    api.delete_notifications_channel_subscriptions(channel.id)
    assert api.get_notifications_channel_subscriptions(channel.id).entities == []


def test_rejected_topics_come_back_per_topic(sim):
    sim.post("/sim/v1/clients", {"clientId": "limited", "clientSecret": "s", "deniedTopicPatterns": ["v2.analytics.*"]})
    pc.configuration.host = sim.base
    api = pc.NotificationsApi(pc.api_client.ApiClient().get_client_credentials_token("limited", "s"))
    channel = api.post_notifications_channels()
    result = api.put_notifications_channel_subscriptions(
        channel.id, [topic("v2.users.u1.presence"), topic("v2.analytics.queues.q1.observations")], ignore_errors=True)
    states = {e.id: e.state for e in result.entities}
    assert states == {"v2.users.u1.presence": "Permitted", "v2.analytics.queues.q1.observations": "Rejected"}


def test_conversation_details_query(sim):
    sim.post("/sim/v1/workload", {"ratePerSecond": 2000})
    import time
    deadline = time.monotonic() + 10
    while sim.get("/sim/v1/org")["conversations"] < 10:
        assert time.monotonic() < deadline, "the workload made no conversations"
        time.sleep(0.05)
    sim.post("/sim/v1/workload", {"ratePerSecond": 0})
    api = pc.ConversationsApi(client(sim))
    query = pc.ConversationQuery()
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    query.interval = f"{(now - timedelta(days=1)).strftime(fmt)}/{(now + timedelta(days=1)).strftime(fmt)}"
    query.order = "asc"
    query.order_by = "conversationStart"
    query.paging = pc.PagingSpec()
    query.paging.page_size = 5
    query.paging.page_number = 1
    result = api.post_analytics_conversations_details_query(query)
    assert result.total_hits >= 10
    assert len(result.conversations) == 5
    starts = [c.conversation_start for c in result.conversations]
    assert starts == sorted(starts)
