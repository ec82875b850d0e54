"""The web console in a real browser: each page loads with data from a running engine, an admin can pause and
resume a tenant, and a read token sees everything and changes nothing."""
import os

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import ADMIN, READER, until


def sign_in(browser, engine, token):
    browser.get(engine.base + "/console")
    field = browser.find_element(By.ID, "token")
    field.send_keys(token)
    browser.find_element(By.ID, "sign-in").click()


def text_of(browser, element_id):
    return browser.find_element(By.ID, element_id).text


def screenshot(browser, name):
    """Keeps a picture of the page when SWITCHBOARD_CONSOLE_SCREENSHOTS names a directory (the README's)."""
    where = os.environ.get("SWITCHBOARD_CONSOLE_SCREENSHOTS")
    if where:
        os.makedirs(where, exist_ok=True)
        browser.save_screenshot(os.path.join(where, f"console-{name}.png"))


def tenant_rows(browser):
    return browser.find_elements(By.CSS_SELECTOR, "#tenants tbody tr")


def test_each_page_shows_the_engines_data(engine, browser):
    sign_in(browser, engine, READER)
    until("signed in", lambda: "env-read (read)" in text_of(browser, "who"))

    # Tenants: acme's channel, live, with a heartbeat age and its topics.
    def live_row():
        for row in tenant_rows(browser):
            cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
            if cells and cells[0] == "acme" and cells[4] == "live" and cells[5].endswith("ago"):
                return cells
        return None
    cells = until("acme's channel live with a heartbeat age", live_row)
    assert int(cells[6]) > 0, cells
    assert cells[1] == "running", cells
    screenshot(browser, "tenants")

    # Sinks: the file sink with its counters.
    browser.find_element(By.ID, "nav-sinks").click()
    def sink_row():
        rows = browser.find_elements(By.CSS_SELECTOR, "#sinks tbody tr")
        cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
        return next((c for c in cells if c[:2] == ["events", "file"] and int(c[2]) > 0), None)
    cells = until("the events sink with records sent", sink_row)
    assert cells[4].endswith("B"), cells
    screenshot(browser, "sinks")

    # Gaps: a dropped connection shows as a gap with its reason and length.
    import json
    import urllib.request
    req = urllib.request.Request(engine.sim + "/sim/v1/faults", data=json.dumps({"kind": "drop"}).encode(),
                                 method="POST")
    req.add_header("Content-Type", "application/json")
    urllib.request.urlopen(req, timeout=10)
    browser.find_element(By.ID, "nav-gaps").click()
    def gap_row():
        browser.refresh()
        rows = browser.find_elements(By.CSS_SELECTOR, "#gaps tbody tr")
        cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
        return next((c for c in cells if c[0] == "acme"), None)
    cells = until("the gap on the gaps page", gap_row)
    assert cells[1], cells
    assert cells[3].endswith("s"), cells
    screenshot(browser, "gaps")

    # Live tail: records arrive as they are delivered.
    browser.find_element(By.ID, "nav-tail").click()
    until("the tenant list", lambda: browser.find_elements(By.CSS_SELECTOR, "#tail-tenant option"))
    Select(browser.find_element(By.ID, "tail-tenant")).select_by_value("acme")
    browser.find_element(By.ID, "tail-start").click()
    until("records in the live tail",
          lambda: len(browser.find_elements(By.CSS_SELECTOR, "#tail tbody tr")) >= 3)
    kinds = {r.find_elements(By.TAG_NAME, "td")[1].text
             for r in browser.find_elements(By.CSS_SELECTOR, "#tail tbody tr")}
    assert kinds <= {"event", "gap", "backfill"} and kinds, kinds
    screenshot(browser, "tail")
    browser.find_element(By.ID, "tail-stop").click()


def test_a_read_token_cannot_act(engine, browser):
    sign_in(browser, engine, READER)
    until("signed in", lambda: "(read)" in text_of(browser, "who"))
    pause = until("the pause button",
                  lambda: browser.find_elements(By.CSS_SELECTOR, 'button[data-action="pause"][data-tenant="acme"]'))
    assert not pause[0].is_enabled(), "a read token is offered no action"
    # Even forced from the page, the API refuses it and nothing changes.
    status = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/v1/tenants/acme/pause', {method: 'POST', headers: {Authorization: 'Bearer ' + arguments[0]}})
          .then(r => done(r.status));
    """, READER)
    assert status == 403
    _, tenants = engine.api("GET", "/v1/tenants/acme")
    assert tenants["paused"] is False


def test_an_admin_pauses_and_resumes_a_tenant(engine, browser):
    sign_in(browser, engine, ADMIN)
    until("signed in", lambda: "(admin)" in text_of(browser, "who"))
    until("the pause button",
          lambda: browser.find_elements(By.CSS_SELECTOR, 'button[data-action="pause"][data-tenant="acme"]'))
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="pause"][data-tenant="acme"]').click()
    until("acme paused in the API (page says: %r)" % text_of(browser, "error"),
          lambda: engine.api("GET", "/v1/tenants/acme")[1]["paused"] is True)
    resume = until("the resume button",
                   lambda: browser.find_elements(By.CSS_SELECTOR, 'button[data-action="resume"][data-tenant="acme"]'))
    resume[0].click()
    until("acme resumed in the API", lambda: engine.api("GET", "/v1/tenants/acme")[1]["paused"] is False)
    assert text_of(browser, "error") == ""


def test_the_page_is_served_with_a_strict_policy_and_holds_no_data(engine):
    import urllib.request
    with urllib.request.urlopen(engine.base + "/console", timeout=10) as res:
        policy = res.headers["Content-Security-Policy"]
        page = res.read().decode()
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "acme" not in page, "the page itself carries no tenant data"
