// hazwatch duty console: plain JS, no build step, no network access beyond this service.
"use strict";

const TOKEN_KEY = "hazwatch.token";
const PRIORITY_RANK = { urgent: 0, high: 1, medium: 2, low: 3 };
const STATE_RANK = { alarm: 0, shelved: 1, offline: 2, out_of_service: 3, no_data: 4, ok: 5 };
const TIER_ZH = { blue: "蓝色", yellow: "黄色", orange: "橙色", red: "红色" };
const STATE_TEXT = {
  active_unack: "未确认 / unacknowledged",
  active_acked: "已确认 / acknowledged",
  returned_unack: "已恢复未确认 / returned, unacknowledged",
  latched_unack: "锁存未确认 / latched, unacknowledged",
  latched_acked: "锁存待复位 / latched, needs reset",
  shelved: "已搁置 / shelved",
  suppressed: "已抑制 / suppressed",
  out_of_service: "停用 / out of service",
};

const state = { alarms: [], incidents: [], site: null, selected: null, detail: null, refreshTimer: null };

const $ = (id) => document.getElementById(id);
const token = () => localStorage.getItem(TOKEN_KEY) || "";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function askToken() {
  const dialog = $("token-dialog");
  $("token-input").value = token();
  dialog.showModal();
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    askToken();
  }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function act(path, body = {}) {
  try {
    await api(path, { method: "POST", body: JSON.stringify(body) });
    scheduleRefresh();
  } catch (error) {
    toast(`操作失败 / failed: ${error.message}`);
  }
}

function fmtTime(unix) {
  if (unix === null || unix === undefined) return "–";
  const d = new Date(unix * 1000);
  return d.toLocaleString("zh-CN", { hour12: false });
}

function fmtValue(value) {
  return value === null || value === undefined ? "–" : Number(value).toPrecision(4).replace(/\.?0+$/, "");
}

function countdown(due) {
  const left = Math.round(due - Date.now() / 1000);
  const sign = left < 0 ? "-" : "";
  const abs = Math.abs(left);
  const h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = abs % 60;
  return `${sign}${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

// --- rendering ---------------------------------------------------------------------------------------------

function renderAlarms() {
  const rows = [...state.alarms].sort((a, b) =>
    (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9) || b.raised_at - a.raised_at);
  const unacked = rows.filter((a) => a.state.endsWith("_unack")).length;
  $("alarm-count").textContent = `${rows.length} (${unacked} 未确认 / unacknowledged)`;
  const body = $("alarm-rows");
  body.replaceChildren(...rows.map((alarm) => {
    const unack = alarm.state.endsWith("_unack");
    const actions = el("div", { class: "actions" });
    if (unack) {
      actions.append(el("button", {
        class: "primary", "data-action": "ack", "data-alarm": alarm.id,
        onclick: () => act(`/api/alarms/${alarm.id}/acknowledge`),
      }, "确认 / Ack"));
    }
    if (alarm.state === "shelved") {
      actions.append(el("button", { onclick: () => act(`/api/alarms/${alarm.id}/unshelve`) }, "取消搁置 / Unshelve"));
    } else {
      actions.append(el("button", {
        "data-action": "shelve",
        onclick: () => {
          const minutes = prompt("搁置多少分钟? / Shelve for how many minutes?", "30");
          if (!minutes) return;
          const reason = prompt("原因 / Reason?", "");
          if (reason) act(`/api/alarms/${alarm.id}/shelve`, { duration_s: Number(minutes) * 60, reason });
        },
      }, "搁置 / Shelve"));
    }
    actions.append(el("button", {
      onclick: () => {
        const text = prompt("备注 / Comment", "");
        if (text) act(`/api/alarms/${alarm.id}/comment`, { text });
      },
    }, "备注 / Comment"));
    return el("tr", { id: `alarm-${alarm.id}`, class: `${unack ? "unack" : ""} ${alarm.state}`, "data-state": alarm.state },
      el("td", {}, el("span", { class: `prio ${alarm.priority}` }, alarm.priority), alarm.drill ? el("span", { class: "badge drill" }, "演练") : null),
      el("td", {}, el("div", {}, alarm.sensor_id), el("div", { class: "muted" }, `${alarm.zone} · ${alarm.rule}`)),
      el("td", {}, `${fmtValue(alarm.value)} / ${fmtValue(alarm.level)}`),
      el("td", {}, fmtTime(alarm.raised_at)),
      el("td", {}, STATE_TEXT[alarm.state] || alarm.state),
      el("td", {}, actions));
  }));
}

function renderIncidents() {
  const list = $("incident-list");
  if (!state.incidents.length) {
    list.replaceChildren(el("li", { class: "muted" }, "无事件 / no incidents"));
    return;
  }
  list.replaceChildren(...state.incidents.map((incident) => el("li", {
    class: `card tier-${incident.proposed_tier} ${incident.state}`,
    onclick: () => selectIncident(incident.id),
  },
  el("div", {}, el("span", { class: `badge ${incident.proposed_tier}` }, `${TIER_ZH[incident.proposed_tier] || ""} ${incident.proposed_tier.toUpperCase()}`),
    incident.confirmed_level ? ` 响应 ${incident.confirmed_level} 级` : " 待确认 / to confirm",
    incident.drill ? el("span", { class: "badge drill" }, "DRILL / 演练") : null),
  el("div", { class: "title" }, incident.title),
  el("div", { class: "muted" }, `${incident.zone || ""} · ${fmtTime(incident.opened_at)} · ${incident.state}`),
  ...(incident.deadlines || []).map((d) => el("div", { class: "deadline", "data-due": d.due_at }, `${d.name}: `, el("span", {}, countdown(d.due_at)))))));
}

function renderDetail() {
  const box = $("incident-detail");
  const detail = state.detail;
  if (!detail) return;
  const incident = detail.incident;
  const timeline = el("ul", { class: "timeline" }, ...detail.timeline.map((entry) =>
    el("li", {}, el("span", { class: "muted" }, fmtTime(entry.time)), ` ${entry.type} · ${entry.actor} `,
      el("span", { class: "muted" }, entry.detail && (entry.detail.text || entry.detail.reason || entry.detail.level || "")))));
  const checklist = el("div", { class: "checklist" }, ...detail.checklist.map((item) => el("label", {},
    el("input", {
      type: "checkbox", checked: item.done_at ? "checked" : null, disabled: item.done_at ? "disabled" : null,
      onchange: () => act(`/api/incidents/${incident.id}/checklist/${item.id}/done`),
    }), ` ${item.text} `, item.done_by ? el("span", { class: "muted" }, `(${item.done_by})`) : null,
    item.due_at ? el("span", { class: "deadline", "data-due": item.due_at }, countdown(item.due_at)) : null)));
  const level = el("select", { id: "level-select" }, ...["IV", "III", "II", "I"].map((l) => el("option", { value: l }, `${l} 级`)));
  box.replaceChildren(
    el("h3", {}, el("span", { class: `badge ${incident.proposed_tier}` }, incident.proposed_tier.toUpperCase()), ` ${incident.title}`),
    el("div", { class: "muted" }, `#${incident.id} · ${incident.state} · 响应级别 / level: ${incident.confirmed_level || "–"}`),
    ...(incident.deadlines || []).map((d) => el("div", { class: "deadline", "data-due": d.due_at }, `${d.name}: `, el("span", {}, countdown(d.due_at)))),
    el("div", { class: "detail-grid" },
      el("div", {}, el("h4", {}, "处置清单 / Checklist"), checklist),
      el("div", {}, el("h4", {}, "时间线 / Timeline"), timeline)),
    el("div", { class: "actions" },
      el("button", { onclick: () => { const text = prompt("备注 / Comment", ""); if (text) act(`/api/incidents/${incident.id}/comment`, { text }); } }, "备注 / Comment"),
      level,
      el("button", { onclick: () => act(`/api/incidents/${incident.id}/confirm-level`, { level: level.value }) }, "确认级别 / Confirm level"),
      el("button", { onclick: () => { if (confirm("关闭事件? / Close incident?")) act(`/api/incidents/${incident.id}/close`, {}); } }, "关闭 / Close")));
}

function renderMap() {
  const site = state.site;
  if (!site) return;
  $("site-name").textContent = site.name;
  const banner = $("drill-banner");
  banner.hidden = !site.drill;
  $("drill-source").textContent = site.drill ? site.drill.source : "";
  // Group sensors by device (same position); a device shows its worst state.
  const devices = new Map();
  for (const sensor of site.sensors) {
    const current = devices.get(sensor.device);
    if (!current) devices.set(sensor.device, { ...sensor, sensors: [sensor] });
    else {
      current.sensors.push(sensor);
      if ((STATE_RANK[sensor.state] ?? 9) < (STATE_RANK[current.state] ?? 9)) current.state = sensor.state;
    }
  }
  const points = [...devices.values()];
  const lat0 = site.center.lat * Math.PI / 180;
  const xs = points.map((p) => p.lon * Math.cos(lat0)), ys = points.map((p) => p.lat);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const width = 1000, height = 700, margin = 50;
  const scale = Math.min((width - 2 * margin) / Math.max(maxX - minX, 1e-6), (height - 2 * margin) / Math.max(maxY - minY, 1e-6));
  const project = (p) => [margin + (p.lon * Math.cos(lat0) - minX) * scale, height - margin - (p.lat - minY) * scale];
  const ns = "http://www.w3.org/2000/svg";
  const svg = $("site-map");
  svg.replaceChildren();
  const north = document.createElementNS(ns, "text");
  north.setAttribute("x", 970); north.setAttribute("y", 30); north.setAttribute("fill", "#8b97a6"); north.textContent = "N↑";
  svg.append(north);
  for (const device of points.sort((a, b) => (STATE_RANK[b.state] ?? 9) - (STATE_RANK[a.state] ?? 9))) {
    const [x, y] = project(device);
    const circle = document.createElementNS(ns, "circle");
    circle.setAttribute("cx", x.toFixed(1)); circle.setAttribute("cy", y.toFixed(1)); circle.setAttribute("r", 9);
    circle.setAttribute("class", `sensor ${device.state}`);
    circle.setAttribute("data-device", device.device);
    const title = document.createElementNS(ns, "title");
    title.textContent = `${device.device} (${device.zone})\n` + device.sensors.map((s) => `${s.id}: ${fmtValue(s.value)} ${s.unit} [${s.state}]`).join("\n");
    circle.append(title);
    svg.append(circle);
    if (device.state !== "ok" && device.state !== "no_data") {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", (x + 12).toFixed(1)); label.setAttribute("y", (y + 4).toFixed(1));
      label.setAttribute("fill", "#e8edf3"); label.setAttribute("font-size", "16");
      label.textContent = device.device;
      svg.append(label);
    }
  }
}

function tick() {
  $("clock").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false });
  for (const node of document.querySelectorAll(".deadline[data-due]")) {
    const due = Number(node.dataset.due);
    const target = node.querySelector("span") || node;
    target.textContent = countdown(due);
    node.classList.toggle("overdue", due < Date.now() / 1000);
  }
}

// --- data --------------------------------------------------------------------------------------------------

async function selectIncident(id) {
  state.selected = id;
  try {
    state.detail = await api(`/api/incidents/${id}`);
    renderDetail();
  } catch (error) {
    toast(error.message);
  }
}

async function refresh() {
  try {
    const [alarms, incidents, site] = await Promise.all([
      api("/api/alarms?state=active"), api("/api/incidents"), api("/api/site"),
    ]);
    state.alarms = alarms.alarms;
    state.incidents = incidents.incidents;
    state.site = site;
    renderAlarms();
    renderIncidents();
    renderMap();
    if (state.selected === null && state.incidents.length) state.selected = state.incidents[0].id;
    if (state.selected !== null) await selectIncident(state.selected);
    document.body.dataset.loaded = "true";
  } catch (error) {
    toast(`加载失败 / load failed: ${error.message}`);
  }
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, 100);
}

function connectEvents() {
  const url = token() ? `/api/events?token=${encodeURIComponent(token())}` : "/api/events";
  const source = new EventSource(url);
  source.addEventListener("hello", () => { $("live").className = "live on"; });
  for (const type of ["alarm.raised", "alarm.updated", "incident.updated", "notification.updated", "sensor.updated"]) {
    source.addEventListener(type, scheduleRefresh);
  }
  source.onerror = () => { $("live").className = "live off"; };
  connectEvents.source = source;
}

async function showUser() {
  if (!token()) { $("user").textContent = "未登录 / read-only"; return; }
  try {
    const me = await api("/api/me");
    $("user").textContent = `${me.name} (${me.role})`;
  } catch (error) {
    $("user").textContent = "令牌无效 / invalid token";
  }
}

$("login").addEventListener("click", askToken);
$("token-save").addEventListener("click", () => {
  localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  if (connectEvents.source) connectEvents.source.close();
  connectEvents();
  showUser();
  refresh();
});
setInterval(tick, 1000);
showUser();
connectEvents();
refresh();
