// switchboard's web console: reads the admin API with the token typed into the page (kept in this tab's
// session storage) and refreshes the view shown every 2 s. Text from the API is only ever set as text, never
// as markup.
"use strict";

const REFRESH_MS = 2000;
const TAIL_ROWS = 100;
const VIEWS = ["tenants", "gaps", "sinks", "tail"];

let token = sessionStorage.getItem("switchboard-token") || "";
let role = null;
let tail = null;

const $ = (id) => document.getElementById(id);

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

async function api(method, path) {
  const res = await fetch(path, {
    method,
    headers: token ? { Authorization: "Bearer " + token } : {},
  });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!res.ok) {
    const message = body && body.message ? body.message : res.statusText;
    const hint = res.status === 401 ? " (type a token of [[admin.tokens]] above)" :
      res.status === 403 ? " (this needs a token with role \"admin\")" : "";
    throw new Error(res.status + " " + message + hint);
  }
  return body;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (className) td.className = className;
  return td;
}

function ago(time) {
  if (!time) return "-";
  const secs = Math.round((Date.now() - Date.parse(time)) / 1000);
  if (secs < 0) return "now";
  if (secs < 60) return secs + "s ago";
  if (secs < 3600) return Math.floor(secs / 60) + "m ago";
  if (secs < 86400) return Math.floor(secs / 3600) + "h ago";
  return Math.floor(secs / 86400) + "d ago";
}

function length(from, to) {
  const ms = Date.parse(to) - Date.parse(from);
  if (!(ms >= 0)) return "-";
  if (ms < 1000) return ms + "ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + "s";
  return Math.floor(ms / 60000) + "m" + Math.floor((ms % 60000) / 1000) + "s";
}

function bytes(n) {
  if (!n) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function replaceRows(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
}

function actionButton(label, tenant, path) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.tenant = tenant;
  b.dataset.action = label.toLowerCase();
  b.disabled = role !== "admin";
  b.title = role === "admin" ? label + " " + tenant : "needs a token with role \"admin\"";
  b.addEventListener("click", async () => {
    try {
      await api("POST", path);
      showError("");
      refresh();
    } catch (e) {
      showError(label + " " + tenant + ": " + e.message);
    }
  });
  return b;
}

async function showTenants() {
  const status = await api("GET", "/v1/status");
  const rows = [];
  for (const t of status.tenants) {
    const channels = t.channels.length ? t.channels : [null];
    channels.forEach((c, i) => {
      const tr = document.createElement("tr");
      tr.dataset.tenant = t.id;
      tr.append(cell(i === 0 ? t.id : ""), cell(i === 0 ? t.state : "", i === 0 ? "state-" + t.state : ""));
      if (c) {
        tr.append(
          cell(c.channelId),
          cell(c.clientId),
          cell(c.state, "state-" + c.state),
          cell(ago(c.lastFrameAt), "heartbeat"),
          cell(c.topics, "num"),
          cell(c.rejected.length, "num"),
        );
      } else {
        tr.append(cell("-"), cell("-"), cell("-"), cell("-"), cell("-"), cell("-"));
      }
      tr.append(
        cell(i === 0 ? t.unplaced.length : "", "num"),
        cell(c ? c.restarts : "", "num"),
        cell(c ? c.lastError : t.lastError, "error"),
      );
      const actions = document.createElement("td");
      if (i === 0) {
        const base = "/v1/tenants/" + encodeURIComponent(t.id);
        actions.append(
          t.state === "paused"
            ? actionButton("Resume", t.id, base + "/resume")
            : actionButton("Pause", t.id, base + "/pause"),
          " ",
          actionButton("Restart", t.id, base + "/restart"),
        );
      }
      tr.append(actions);
      rows.push(tr);
    });
  }
  replaceRows("tenants", rows);
  $("tenants-updated").textContent = "as of " + new Date().toLocaleTimeString();
  const select = $("tail-tenant");
  const chosen = select.value;
  select.replaceChildren(...status.tenants.map((t) => {
    const o = document.createElement("option");
    o.value = t.id;
    o.textContent = t.id;
    return o;
  }));
  if (chosen) select.value = chosen;
}

async function showGaps() {
  const gaps = await api("GET", "/v1/gaps?limit=50");
  replaceRows("gaps", gaps.map((g) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(g.tenant),
      cell(g.reason),
      cell(g.from),
      cell(length(g.from, g.to), "num"),
      cell(ago(g.to)),
      cell(g.topics.length, "num"),
      cell(g.backfill ? g.backfill.status : "-"),
    );
    return tr;
  }));
}

async function showSinks() {
  const sinks = await api("GET", "/v1/sinks");
  replaceRows("sinks", sinks.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.sink = s.name;
    tr.append(
      cell(s.name),
      cell(s.kind),
      cell(s.sent, "num"),
      cell(s.queued, "num"),
      cell(bytes(s.spoolBytes) + (s.spoolFull ? " (full)" : ""), "num"),
      cell(s.deadLetters, "num"),
    );
    return tr;
  }));
}

function addTailRow(id, record) {
  const body = $("tail").querySelector("tbody");
  const tr = document.createElement("tr");
  tr.append(
    cell(id),
    cell(record.kind),
    cell(record.receivedAt || record.to),
    cell(record.topic || record.reason),
  );
  body.prepend(tr);
  while (body.rows.length > TAIL_ROWS) body.deleteRow(body.rows.length - 1);
}

async function startTail() {
  stopTail();
  const tenant = $("tail-tenant").value;
  if (!tenant) return;
  const controller = new AbortController();
  tail = { controller, count: 0 };
  $("tail-start").disabled = true;
  $("tail-stop").disabled = false;
  $("tail").querySelector("tbody").replaceChildren();
  try {
    const res = await fetch("/v1/tenants/" + encodeURIComponent(tenant) + "/events", {
      headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
      signal: controller.signal,
    });
    if (!res.ok) throw new Error(res.status + " " + res.statusText);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = null;
        const data = [];
        for (const line of event.split("\n")) {
          if (line.startsWith("id:")) id = line.slice(3).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (!data.length) continue;
        try {
          addTailRow(id, JSON.parse(data.join("\n")));
          tail.count++;
          $("tail-count").textContent = tail.count + " record(s)";
        } catch (_) { /* a comment or keep-alive */ }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") showError("Live tail: " + e.message);
  } finally {
    $("tail-start").disabled = false;
    $("tail-stop").disabled = true;
  }
}

function stopTail() {
  if (tail) tail.controller.abort();
  tail = null;
}

function currentView() {
  const name = location.hash.replace("#", "");
  return VIEWS.includes(name) ? name : "tenants";
}

async function refresh() {
  if (!token) {
    showError("Type an admin API token (role read or admin) above.");
    return;
  }
  const view = currentView();
  try {
    if (view === "tenants" || view === "tail") await showTenants();
    if (view === "gaps") await showGaps();
    if (view === "sinks") await showSinks();
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

function show() {
  const view = currentView();
  for (const v of VIEWS) {
    $("view-" + v).hidden = v !== view;
    $("nav-" + v).classList.toggle("current", v === view);
  }
  if (view !== "tail") stopTail();
  refresh();
}

async function signIn(event) {
  if (event) event.preventDefault();
  const typed = $("token").value.trim();
  if (typed) {
    token = typed;
    sessionStorage.setItem("switchboard-token", token);
    $("token").value = "";
  }
  role = null;
  $("who").textContent = "";
  if (!token) return show();
  try {
    const me = await api("GET", "/v1/whoami");
    role = me.role;
    $("who").textContent = "signed in as " + me.name + " (" + me.role + ")";
  } catch (e) {
    showError(e.message);
    return;
  }
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("tail-start").addEventListener("click", startTail);
  $("tail-stop").addEventListener("click", stopTail);
  window.addEventListener("hashchange", show);
  setInterval(() => { if (currentView() !== "tail") refresh(); }, REFRESH_MS);
  signIn();
});
