// The claude-orchestrator dashboard: reads the JSON API, listens to the live stream
// (/api/stream) and redraws. Written for this project: no library, no CDN.
// Every text that came from an agent or a commit is put in with textContent (the el()
// helper below); this file never assigns innerHTML.
"use strict";

const EVENT_LIMIT = 200;
const REFRESH_MS = 150;
const COLUMNS = {
  "reopened": "todo", "in-progress": "in-progress", "blocked": "blocked",
  "completed": "done", "merged": "merged",
};

const state = {
  spec: "",            // "" is the overview of all features
  readOnly: true,
  features: [],        // rows of /api/features
  events: [],          // newest first
  seen: new Set(),     // event ids shown
  lastId: 0,
  timer: null,
  source: null,
  detail: 0,           // the conflict cell last opened (a late answer for another is dropped)
};

// ------------------------------------------------------------------------ helpers
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("data-")) node.dataset[camel(key.slice(5))] = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function camel(name) {
  return name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
}

function $(id) {
  return document.getElementById(id);
}

function rows(tableId, list) {
  $(tableId).tBodies[0].replaceChildren(...list);
}

function short(commit) {
  return commit ? String(commit).slice(0, 7) : "";
}

function when(stamp) {
  return stamp ? String(stamp).replace("T", " ").replace(/\.\d+Z?$|Z$/, "") : "";
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d";
}

function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) q.set(key, String(value));
  }
  const text = q.toString();
  return text ? "?" + text : "";
}

function say(text, isError) {
  const line = $("status-line");
  line.textContent = text;
  line.className = isError ? "error" : "";
}

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error;
    } catch (_) { /* not JSON */ }
    throw new Error(path + ": " + message);
  }
  return response.json();
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    // the server sends Referrer-Policy: no-referrer, under which a POST's Origin would be
    // "null"; the actions' same-origin check needs the real one
    referrerPolicy: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch (_) { /* empty */ }
  if (!response.ok) throw new Error((data && data.error) || response.status + " " + response.statusText);
  return data;
}

// -------------------------------------------------------------------------- views
function drawFeatureSelect() {
  const select = $("feature-select");
  const specs = [...new Set(state.features.map((r) => r.spec_id))];
  const options = [el("option", { value: "", text: "All features (overview)" })];
  for (const spec of specs) options.push(el("option", { value: spec, text: spec }));
  select.replaceChildren(...options);
  select.value = state.spec;
}

function drawOverview() {
  const bySpec = new Map();
  for (const row of state.features) {
    const item = bySpec.get(row.spec_id) || {
      spec: row.spec_id, name: row.name, status: row.feature_status, agents: 0,
      progress: 0, blocked: 0, done: 0, merged: 0, conflicts: 0, blockers: 0, events: 0,
    };
    if (row.role) item.agents += 1;
    item.progress += row.tasks_in_progress;
    item.blocked += row.tasks_blocked;
    item.done += row.tasks_completed;
    item.merged += row.tasks_merged;
    item.conflicts += row.active_conflicts;
    item.blockers += row.active_blockers;
    item.events += row.events;
    bySpec.set(row.spec_id, item);
  }
  rows("features-table", [...bySpec.values()].map((f) => el("tr", { "data-spec": f.spec },
    el("td", {}, el("a", { href: "#spec=" + encodeURIComponent(f.spec), text: f.spec }),
      f.name && f.name !== f.spec ? el("span", { class: "muted", text: " " + f.name }) : null),
    el("td", { text: f.status }), el("td", { text: f.agents }),
    el("td", { text: f.progress }), el("td", { text: f.blocked, class: f.blocked ? "warn" : "" }),
    el("td", { text: f.done }), el("td", { text: f.merged }),
    el("td", { text: f.conflicts, class: f.conflicts ? "warn" : "" }),
    el("td", { text: f.blockers, class: f.blockers ? "warn" : "" }), el("td", { text: f.events }))));
}

function drawAgents(agents) {
  rows("agents-table", agents.map((a) => {
    const waiting = a.state === "waiting";
    const stateCell = el("td", { class: "state state-" + a.state },
      el("span", { class: "badge", text: a.state }));
    if (a.detail) stateCell.append(el("div", { class: waiting ? "question" : "detail", text: a.detail }));
    return el("tr", { class: waiting ? "agent waiting" : "agent", "data-role": a.role, "data-state": a.state },
      el("td", { text: a.role }), el("td", { class: "mono", text: a.branch }), stateCell,
      el("td", { text: a.task || "" }), el("td", { text: duration(a.seconds_in_state) }),
      el("td", { text: when(a.last_signal) }));
  }));
  const select = $("tell-role");
  const chosen = select.value;
  select.replaceChildren(...agents.map((a) => el("option", { value: a.role, text: a.role })));
  if (chosen) select.value = chosen;
}

function drawBoard(tasks) {
  const lists = {};
  for (const column of document.querySelectorAll("#board-columns .column")) {
    lists[column.dataset.column] = [];
  }
  for (const t of tasks) {
    const column = COLUMNS[t.status] || "todo";
    lists[column].push(el("li", { class: "card", "data-task": t.task_id, "data-status": t.status },
      el("strong", { text: t.task_id }), " ", el("span", { class: "agent-name", text: t.role || "" }),
      el("div", { class: "title", text: t.title || "" }),
      el("div", { class: "muted", text: t.updated_at ? when(t.updated_at) : "" })));
  }
  for (const column of document.querySelectorAll("#board-columns .column")) {
    const list = lists[column.dataset.column];
    column.querySelector("ul").replaceChildren(...list);
    column.querySelector("h3").dataset.count = String(list.length);
  }
  const done = lists.done.length + lists.merged.length;
  const share = tasks.length ? Math.round((100 * done) / tasks.length) : 0;
  $("progress-bar").style.width = share + "%";
  $("progress-text").textContent = done + " of " + tasks.length + " tasks done (" + share + "%)";
}

function sideOf(conflict) {
  return conflict.branch || conflict.role;
}

function otherOf(conflict) {
  return conflict.other_branch || conflict.other_role || "(overseer branch)";
}

function drawConflicts(conflicts) {
  const names = [...new Set(conflicts.flatMap((c) => [sideOf(c), otherOf(c)]))].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  const cells = new Map();
  for (const c of conflicts) {
    let [a, b] = [index.get(sideOf(c)), index.get(otherOf(c))];
    if (a > b) [a, b] = [b, a];
    const key = a + "," + b;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key).push(c);
  }
  const table = $("conflict-matrix");
  if (!names.length) {
    table.replaceChildren(el("tr", {}, el("td", { class: "muted", text: "no open conflicts" })));
    $("conflict-detail").hidden = true;
    return;
  }
  const head = el("tr", {}, el("th", {}), ...names.map((n) => el("th", { class: "mono", text: n })));
  const body = names.map((row, i) => el("tr", {}, el("th", { class: "mono", text: row }),
    ...names.map((col, j) => {
      const found = i < j ? cells.get(i + "," + j) || [] : i === j ? cells.get(i + "," + i) || [] : [];
      if (i > j) return el("td", { class: "mirror" });
      if (!found.length) return el("td", { class: "cell" });
      const level = Math.min(4, found.length);
      return el("td", {
        class: "cell hot heat-" + level, "data-count": found.length, tabindex: "0",
        title: found.length + " open conflict(s)",
        onclick: () => showConflict(row, col, found),
        onkeydown: (e) => { if (e.key === "Enter") showConflict(row, col, found); },
      }, String(found.length));
    })));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
}

function showConflict(row, col, found) {
  const ticket = ++state.detail;
  const list = $("conflict-detail-list");
  $("conflict-detail-title").textContent = row + " × " + col;
  delete list.dataset.loaded;
  const items = found.map((c) => el("li", { class: "conflict", "data-conflict": c.id },
    el("span", { class: "badge sev-" + c.severity, text: c.severity }), " ",
    el("span", { text: c.role + (c.other_role ? " vs " + c.other_role : "") + ": " }),
    ...c.files.map((f) => el("code", { class: "file", text: f })),
    el("span", { class: "muted", text: " " + when(c.detected_at) }),
    el("div", { class: "sides muted", text: "loading the commits…" })));
  list.replaceChildren(...items);
  $("conflict-detail").hidden = false;
  const spec = encodeURIComponent(state.spec);
  Promise.all(found.map((c, i) => api("/api/features/" + spec + "/conflicts/" + c.id)
    .then((detail) => drawSides(detail.sides), (error) => el("div", { class: "error", text: error.message }))
    .then((sides) => {
      if (ticket === state.detail) items[i].querySelector(".sides").replaceWith(sides);
    }))).then(() => {
    if (ticket === state.detail) list.dataset.loaded = "1";
  });
}

// each side of a conflict: its branch and role, then its commits (newest first) since the
// merge base that touched the conflict's files, with the tasks they name
function drawSides(sides) {
  return el("div", { class: "sides" }, ...sides.map((side) => el("div", {
    class: "side", "data-branch": side.branch, "data-role": side.role || "",
  },
  el("h4", {}, el("span", { class: "mono", text: side.branch }),
    el("span", { class: "muted", text: (side.role ? " " + side.role : "") + (side.tip ? "" : " (branch gone)") })),
  side.commits.length
    ? el("ul", { class: "commits" }, ...side.commits.map((k) => el("li", { class: "commit", "data-commit": k.commit },
      el("code", { class: "hash", title: k.commit, text: short(k.commit) }), " ",
      el("span", { class: "subject", text: k.subject }), " ",
      ...k.tasks.map((t) => el("span", { class: "badge task", text: t })),
      ...k.files.map((f) => el("code", { class: "file", text: f })))))
    : el("div", { class: "muted none", text: "no commit since the merge base touched these files" }))));
}

function drawPrs(prs) {
  rows("prs-table", prs.map((p) => el("tr", { class: "pr-" + p.status },
    el("td", { text: p.pr_number !== null && p.pr_number !== undefined ? p.pr_number : "local " + p.id }),
    el("td", { text: p.role }), el("td", { text: p.title }),
    el("td", {}, el("span", { class: "badge", text: p.status })),
    el("td", { class: "mono", text: p.head_branch }))));
}

function drawTests(results) {
  const latest = new Map();
  for (const r of results) {          // newest first: the first of each kind is the latest
    const key = r.spec_id + " " + r.role + " " + r.test_type;
    if (!latest.has(key)) latest.set(key, r);
  }
  rows("tests-table", [...latest.values()].map((r) => {
    const red = r.status !== "passed" && r.status !== "skipped";
    const overseerRed = red && r.role === "overseer";
    return el("tr", { class: (red ? "red" : "green") + (overseerRed ? " overseer-red" : ""),
      "data-role": r.role },
    el("td", { text: r.role }), el("td", { text: r.test_type }),
    el("td", {}, el("span", { class: "badge", text: r.status })),
    el("td", { class: "mono", text: short(r.commit_hash) }), el("td", { text: when(r.created_at) }));
  }));
}

function drawBlockers(blockers) {
  rows("blockers-table", blockers.map((b) => {
    const notes = el("input", { type: "text", placeholder: "notes", class: "notes" });
    const button = el("button", { type: "button", text: "Unblock",
      onclick: () => act("/api/actions/unblock", { blocker_id: b.id, notes: notes.value },
        "blocker " + b.id + " resolved") });
    return el("tr", { "data-blocker": b.id },
      el("td", { text: b.id }), el("td", { text: b.spec_id }), el("td", { text: b.role }),
      el("td", { text: b.blocker_type }), el("td", { text: b.description }),
      el("td", { text: when(b.created_at) }),
      el("td", { class: "action-col" }, notes, button));
  }));
}

function drawDenials() {
  const denials = state.events.filter((e) => e.event_type === "guard_decision"
    && e.metadata && e.metadata.decision === "deny" && (!state.spec || e.spec_id === state.spec));
  rows("denials-table", denials.map((e) => el("tr", { class: "denial", "data-id": e.id },
    el("td", { text: when(e.created_at) }), el("td", { text: e.role }),
    el("td", {}, el("span", { class: "badge", text: e.metadata.tool || "tool" }), " ",
      el("code", { text: e.metadata.input || e.message }),
      e.metadata.reason ? el("div", { class: "reason", text: e.metadata.reason }) : null))));
}

function drawInbox(messages) {
  rows("inbox-table", messages.map((m) => el("tr", { class: "message-" + m.status },
    el("td", { text: when(m.sent_at) }), el("td", { text: m.sender }), el("td", { text: m.to }),
    el("td", { text: m.text }), el("td", { text: m.status }))));
}

function drawCharts() {
  const stamp = String(state.lastId);
  for (const img of document.querySelectorAll("img[data-chart]")) {
    img.src = "/api/charts/" + img.dataset.chart + ".svg" + query({ spec: state.spec, v: stamp });
  }
}

// ---------------------------------------------------------------------- the stream
function eventMatches(e) {
  const type = $("filter-type").value;
  const agent = $("filter-agent").value;
  const task = $("filter-task").value.trim().toUpperCase();
  if (state.spec && e.spec_id !== state.spec) return false;
  if (type && e.event_type !== type) return false;
  if (agent && e.role !== agent) return false;
  if (task && String(e.task_id || "").toUpperCase() !== task) return false;
  return true;
}

function eventRow(e) {
  return el("tr", { class: "event type-" + e.event_type, "data-id": e.id },
    el("td", { text: e.id }), el("td", { text: when(e.created_at) }), el("td", { text: e.spec_id }),
    el("td", { text: e.role }), el("td", { text: e.event_type }), el("td", { text: e.task_id || "" }),
    el("td", { class: "mono", text: short(e.commit_hash) }), el("td", { class: "message", text: e.message }));
}

function drawEvents() {
  rows("events-table", state.events.filter(eventMatches).map(eventRow));
  fillFilter("filter-type", state.events.map((e) => e.event_type));
  fillFilter("filter-agent", state.events.map((e) => e.role));
}

function fillFilter(id, values) {
  const select = $(id);
  const chosen = select.value;
  const known = [...new Set(values)].sort();
  if (chosen && !known.includes(chosen)) known.push(chosen);
  select.replaceChildren(el("option", { value: "", text: "all" }),
    ...known.map((v) => el("option", { value: v, text: v })));
  select.value = chosen;
}

function addEvent(e) {
  if (state.seen.has(e.id)) return;
  state.seen.add(e.id);
  state.lastId = Math.max(state.lastId, e.id);
  state.events.unshift(e);
  state.events.sort((a, b) => b.id - a.id);
  if (state.events.length > EVENT_LIMIT) {
    for (const old of state.events.splice(EVENT_LIMIT)) state.seen.delete(old.id);
  }
  const body = $("events-table").tBodies[0];
  if (eventMatches(e)) body.insertBefore(eventRow(e), body.firstChild);
}

function listen() {
  if (state.source) state.source.close();
  const source = new EventSource("/api/stream" + query({ after: state.lastId }));
  state.source = source;
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));
  source.addEventListener("event", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    addEvent(event);
    scheduleRefresh();
  });
}

function setLive(on) {
  const live = $("live");
  live.textContent = on ? "live" : "reconnecting";
  live.className = on ? "live on" : "live off";
}

function scheduleRefresh() {
  if (state.timer !== null) return;
  state.timer = setTimeout(() => {
    state.timer = null;
    refresh().catch((error) => say(error.message, true));
  }, REFRESH_MS);
}

// ------------------------------------------------------------------------ actions
async function act(path, body, done) {
  try {
    await post(path, body);
    say(done, false);
    scheduleRefresh();
  } catch (error) {
    say(error.message, true);
  }
}

function wireActions() {
  $("detect-conflicts").addEventListener("click", () =>
    act("/api/actions/detect-conflicts", state.spec ? { spec: state.spec } : {}, "detect-conflicts ran"));
  $("tell-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const text = $("tell-text");
    act("/api/actions/tell", { spec: state.spec, role: $("tell-role").value, text: text.value },
      "message sent to " + $("tell-role").value).then(() => { text.value = ""; });
  });
  for (const id of ["filter-type", "filter-agent", "filter-task"]) {
    $(id).addEventListener("input", drawEvents);
  }
  $("feature-select").addEventListener("change", (change) => {
    const spec = change.target.value;
    history.pushState(null, "", spec ? "#spec=" + encodeURIComponent(spec) : location.pathname);
    choose(spec);
  });
  window.addEventListener("hashchange", () => choose(specFromHash()));
}

// ------------------------------------------------------------------------ loading
function specFromHash() {
  const match = /(?:^#|&)spec=([^&]*)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : "";
}

async function refresh() {
  const spec = state.spec;
  const s = encodeURIComponent(spec);
  const [features, events, blockers, tests, prs] = await Promise.all([
    api("/api/features"), api("/api/events" + query({ limit: EVENT_LIMIT, spec })),
    api("/api/blockers" + query({ spec })), api("/api/tests" + query({ spec })),
    api("/api/prs" + query({ spec })),
  ]);
  state.features = features;
  for (const e of events) {
    if (!state.seen.has(e.id)) {
      state.seen.add(e.id);
      state.events.push(e);
    }
    state.lastId = Math.max(state.lastId, e.id);
  }
  state.events.sort((a, b) => b.id - a.id);
  drawFeatureSelect();
  drawOverview();
  drawBlockers(blockers);
  drawTests(tests);
  drawPrs(prs);
  drawDenials();
  drawEvents();
  drawCharts();
  if (spec) {
    const [agents, tasks, conflicts, inbox] = await Promise.all([
      api("/api/features/" + s + "/agents"), api("/api/features/" + s + "/tasks"),
      api("/api/features/" + s + "/conflicts"), api("/api/inbox" + query({ spec })),
    ]);
    if (spec !== state.spec) return;
    drawAgents(agents);
    drawBoard(tasks);
    drawConflicts(conflicts);
    drawInbox(inbox);
  }
  document.body.dataset.loaded = String(state.lastId);
}

async function choose(spec) {
  state.spec = spec;
  state.events = [];
  state.seen = new Set();
  document.body.classList.toggle("overview", !spec);
  await refresh().catch((error) => say(error.message, true));
}

async function start() {
  if (new URLSearchParams(location.search).has("token")) {
    // the server answered ?token= with its cookie: keep the token out of the address bar
    history.replaceState(null, "", location.pathname + location.hash);
  }
  wireActions();
  try {
    const config = await api("/api/config");
    state.readOnly = Boolean(config.read_only);
    $("version").textContent = "v" + config.version + (state.readOnly ? " · read-only" : "");
  } catch (error) {
    say(error.message, true);
  }
  document.body.classList.toggle("read-only", state.readOnly);
  let spec = specFromHash();
  if (!spec) {
    try {
      const specs = [...new Set((await api("/api/features")).map((r) => r.spec_id))];
      if (specs.length === 1) spec = specs[0];
    } catch (_) { /* refresh() says it */ }
  }
  await choose(spec);
  listen();
}

document.addEventListener("DOMContentLoaded", start);
