//! One test case per tenant validation rule: each broken config yields exactly one error, at the right path.

use super::rule_tests::{SINK, assert_one, client, tenant, tenant_with};

#[test]
fn tenant_rules() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            tenant("").replace("id = \"t\"", "id = \"Acme\""),
            "tenants[0].id",
            "not a valid tenant id",
        ),
        (
            tenant("").replace("id = \"t\"", "id = \"-a\""),
            "tenants[0].id",
            "not a valid tenant id",
        ),
        (
            tenant("").replace("id = \"t\"", &format!("id = \"{}\"", "a".repeat(64))),
            "tenants[0].id",
            "not a valid",
        ),
        (
            tenant("").replace("id = \"t\"\n", ""),
            "tenants[0].id",
            "is required",
        ),
        (
            format!("{}{}", tenant(""), tenant("")),
            "tenants[1].id",
            "duplicate tenant id",
        ),
        (
            tenant("region = \"mars-1\""),
            "tenants[0].region",
            "unknown region",
        ),
        (
            tenant("region = \"eu-west-1\"\napi_base = \"http://h\""),
            "tenants[0].region",
            "not both",
        ),
        (
            tenant("api_base = \"http://h\""),
            "tenants[0].login_base",
            "is required",
        ),
        (
            tenant("login_base = \"http://h\""),
            "tenants[0].api_base",
            "is required",
        ),
        (
            tenant("paused = false").replace("region = \"eu-west-1\"\n", ""),
            "tenants[0].region",
            "is required",
        ),
        (
            tenant("api_base = \"ftp://h\"\nlogin_base = \"http://h\""),
            "tenants[0].api_base",
            "scheme",
        ),
        (
            tenant("api_base = \"https://\"\nlogin_base = \"http://h\""),
            "tenants[0].api_base",
            "host is empty",
        ),
        (
            tenant("api_base = \"http://h\"\nlogin_base = \"https://u:p@h\""),
            "tenants[0].login_base",
            "credentials",
        ),
        (
            tenant("api_base = \"http://h:99999\"\nlogin_base = \"http://h\""),
            "tenants[0].api_base",
            "port",
        ),
        (
            tenant("api_base = \"http://h/?a=1\"\nlogin_base = \"http://h\""),
            "tenants[0].api_base",
            "query",
        ),
        (
            tenant("paused = \"yes\""),
            "tenants[0].paused",
            "true or false",
        ),
        (tenant("name = \"x\""), "tenants[0].name", "unknown key"),
        (
            "[[tenants]]\nid = \"t\"\nregion = \"eu-west-1\"\n".into(),
            "tenants[0].clients",
            "at least one client",
        ),
        (
            "[[tenants]]\nid = \"t\"\nregion = \"eu-west-1\"\nclients = []\n".into(),
            "tenants[0].clients",
            "at least one",
        ),
        ("tenants = 5".into(), "tenants", "array of tables"),
        (
            format!(
                "{}[[tenants.clients]]\nid = \"c\"\nsecret = \"t\"\n",
                tenant("")
            ),
            "tenants[0].clients[1].id",
            "duplicate client id",
        ),
        (
            client("id2 = \"x\""),
            "tenants[0].clients[0].id2",
            "unknown key",
        ),
        (
            tenant_with("", "secret_file = \"\""),
            "tenants[0].clients[0].secret_file",
            "must name a file",
        ),
        (
            tenant_with("", "secret = \"  \""),
            "tenants[0].clients[0].secret",
            "is empty",
        ),
        (
            tenant_with("", "secret = \"a\"\nsecret_env = \"B\""),
            "tenants[0].clients[0].secret_env",
            "only one",
        ),
        (
            tenant("").replace("secret = \"s\"\n", ""),
            "tenants[0].clients[0].secret",
            "is required",
        ),
        (
            tenant("topics = [\"v2.users.u1.nonsense\"]"),
            "tenants[0].topics[0]",
            "not a valid topic",
        ),
        (
            tenant("topics = [{ name = \"v2.bogus\" }]"),
            "tenants[0].topics[0].name",
            "not a valid topic",
        ),
        (
            tenant("topics = [{ priority = 1 }]"),
            "tenants[0].topics[0].name",
            "is required",
        ),
        (
            tenant("topics = [{ name = \"v2.users.u.presence\", prio = 1 }]"),
            "tenants[0].topics[0].prio",
            "unknown key",
        ),
        (
            tenant("topics = [{ name = \"v2.users.u.presence\", priority = \"high\" }]"),
            "tenants[0].topics[0].priority",
            "whole number",
        ),
        (
            tenant("topics = [{ template = \"v2.users.{id}.nothing\", users = \"all\" }]"),
            "tenants[0].topics[0].template",
            "matches no template of the topic catalogue",
        ),
        (
            tenant("topics = [{ template = \"v2.users.{id}.presence\", users = \"some\" }]"),
            "tenants[0].topics[0].users",
            "must be \"all\"",
        ),
        (
            tenant("topics = [{ template = \"v2.users.{id}.presence\", queues = \"all\" }]"),
            "tenants[0].topics[0].template",
            "not a queue topic",
        ),
        (
            tenant(
                "topics = [{ template = \"v2.users.{id}.presence\", users = \"all\" }, \
                 { template = \"v2.users.{id}.presence\", users = \"all\" }]",
            ),
            "tenants[0].topics[1]",
            "listed twice",
        ),
        (
            tenant("template_sync_interval = \"1s\""),
            "tenants[0].template_sync_interval",
            "at least 5s",
        ),
        (
            tenant("topics = [1]"),
            "tenants[0].topics[0]",
            "expected a topic name",
        ),
        (
            tenant("topics = \"v2.users.u.presence\""),
            "tenants[0].topics",
            "expected a list",
        ),
        (
            tenant("topics = [\"v2.users.u.presence\", \"V2.Users.U.Presence\"]"),
            "tenants[0].topics[1]",
            "duplicate topic",
        ),
        (
            tenant(
                "topics = [\"v2.users.u?presence&routingStatus\", { name = \"v2.users.u.routingstatus\" }]",
            ),
            "tenants[0].topics[1].name",
            "already subscribed by tenants[0].topics[0]",
        ),
        (
            tenant(&format!(
                "topics = [\"v2.users.{}?presence&routingStatus\"]",
                "a".repeat(190)
            )),
            "tenants[0].topics[0]",
            "longer than",
        ),
    ];
    for (text, path, fragment) in &cases {
        assert_one(text, path, fragment);
    }
}

#[test]
fn a_route_to_a_tenant_with_other_errors_is_not_reported_twice() {
    // The tenant's region is wrong, but its id exists: only the region is reported.
    let text = format!(
        "{}{SINK}[[routes]]\nsinks = [\"out\"]\ntenants = [\"t\"]\n",
        tenant("region = \"mars-1\"")
    );
    assert_one(&text, "tenants[0].region", "unknown region");
}
