// hazwatch duty console: plain JS, no build step, nothing loaded from outside this service (Leaflet, uPlot and the
// CJK font are vendored under /console/vendor/). It answers: what is happening, where, what to do and by when.
"use strict";

const TOKEN_KEY = "hazwatch.token";
const SOUND_KEY = "hazwatch.sound";
const PRIORITY_TEXT = { urgent: "紧急 URGENT", high: "高 HIGH", medium: "中 MEDIUM", low: "低 LOW" };
const ALERT_PRIORITIES = new Set(["urgent", "high"]); // these sound, notify and flash the title when new
const STATE_RANK = { alarm: 0, shelved: 1, offline: 2, out_of_service: 3, no_data: 4, ok: 5 };
const TIER_ZH = { blue: "蓝色 IV", yellow: "黄色 III", orange: "橙色 II", red: "红色 I", none: "未分级" };
const KIND_TEXT = {
  gas: "有毒气体 / toxic gas", gamma_dose_rate: "环境γ辐射 / gamma dose rate", source_dose_rate: "放射源 / sealed source",
  tamper: "放射源拆动 / tamper", battery_voltage: "电池 / battery", mains_power: "市电 / mains", latitude: "位置 / position",
  longitude: "位置 / position", hdop: "定位 / GNSS", wind_speed: "风速 / wind", wind_direction: "风向 / wind",
  rain_rate: "降雨 / rain", temperature: "气温 / temperature", service: "系统 / service",
};
const STATE_TEXT = {
  active_unack: "报警未确认 / active, unacknowledged",
  active_acked: "报警已确认 / active, acknowledged",
  returned_unack: "已恢复未确认 / returned, unacknowledged",
  latched_unack: "锁存未确认 / latched, unacknowledged",
  latched_acked: "锁存待复位 / latched, needs reset",
  shelved: "已搁置 / shelved",
};
const ACTION = {
  acknowledge: { label: "确认 / Ack", path: "acknowledge", may: "acknowledge", primary: true },
  reset: { label: "复位 / Reset", path: "reset", may: "reset", primary: true },
  unshelve: { label: "取消搁置 / Unshelve", path: "unshelve", may: "unshelve", primary: false },
};
const ROUTINE_EVENTS = new Set(["alarm", "alarm_grouped", "notification"]);

const params = new URLSearchParams(location.search);
const DRILL_RUN = params.get("drill_run") || "";

const state = {
  alarms: [], incidents: [], site: null, duty: [], mapInfo: null, selected: null, detail: null,
  me: null, pages: [], refreshTimer: null, seenAlerts: null, flashTimer: null, plumes: new Map(), plumeCheckedAt: 0,
};

const $ = (id) => document.getElementById(id);
const token = () => localStorage.getItem(TOKEN_KEY) || "";
const may = (action) => Boolean(state.me && state.me.may && state.me.may[action]);
const scoped = (path) => (DRILL_RUN ? `${path}${path.includes("?") ? "&" : "?"}drill_run=${encodeURIComponent(DRILL_RUN)}` : path);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

function askToken() {
  $("token-input").value = token();
  if (!$("token-dialog").open) $("token-dialog").showModal();
}

function authHeaders() {
  return token() ? { Authorization: `Bearer ${token()}` } : {};
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...authHeaders() };
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) askToken();
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
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

// --- formatting ------------------------------------------------------------------------------------------------

function fmtTime(unix) {
  if (unix === null || unix === undefined) return "–";
  return new Date(unix * 1000).toLocaleString("zh-CN", { hour12: false });
}

function fmtValue(value) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en");
  return Number(value).toPrecision(3).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

function withUnit(value, unit) {
  if (value === null || value === undefined) return "–";
  return unit ? `${fmtValue(value)} ${unit}` : fmtValue(value);
}

function ago(unix) {
  if (unix === null || unix === undefined) return "–";
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (s < 60) return `${s} 秒前 / ${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} 分钟前 / ${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} 小时 ${Math.floor((s % 3600) / 60)} 分前 / ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86400)} 天前 / ${Math.floor(s / 86400)} d ago`;
}

function countdown(due) {
  const left = Math.round(due - Date.now() / 1000);
  const abs = Math.abs(left);
  const h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = abs % 60;
  const text = `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return left < 0 ? `超时 / overdue ${text}` : `剩余 / left ${text}`;
}

function roleName(id) {
  const role = state.duty.find((r) => r.role === id);
  return role ? role.role_name : id;
}

function deadlineName(deadline) {
  if (deadline.kind === "acknowledge") {
    return deadline.next_role ? `确认时限，超时升级至 ${roleName(deadline.next_role)} / acknowledge by, else escalates` : "确认时限 / acknowledge by";
  }
  return `${deadline.name}${deadline.to ? ` → ${deadline.to}` : ""}`;
}

function deadlineNode(deadline) {
  if (deadline.done_at) {
    return el("div", { class: "deadline done" }, `✔ ${deadline.name}: 已完成 / done ${fmtTime(deadline.done_at)}`);
  }
  const overdue = deadline.due_at < Date.now() / 1000;
  return el("div", { class: `deadline${overdue ? " overdue" : ""}`, "data-due": deadline.due_at, "data-kind": deadline.kind },
    el("span", { class: "deadline-name" }, deadlineName(deadline)),
    el("span", { class: "deadline-left" }, countdown(deadline.due_at)),
    el("span", { class: "muted" }, ` (${fmtTime(deadline.due_at)})`));
}

// --- alarm board -----------------------------------------------------------------------------------------------

function alarmActions(alarm) {
  const actions = el("div", { class: "actions" });
  if (!state.me) return actions; // read-only: nothing to press
  for (const name of alarm.actions || []) {
    const spec = ACTION[name];
    if (!spec || !may(spec.may)) continue;
    actions.append(el("button", {
      class: spec.primary ? "primary" : "", "data-action": name, "data-alarm": alarm.id, type: "button",
      onclick: () => act(`/api/alarms/${alarm.id}/${spec.path}`),
    }, spec.label));
  }
  if (alarm.state !== "shelved" && may("shelve")) {
    actions.append(el("button", {
      "data-action": "shelve", type: "button",
      onclick: () => {
        const minutes = prompt("搁置多少分钟? / Shelve for how many minutes?", "30");
        if (!minutes) return;
        const reason = prompt("原因 / Reason?", "");
        if (reason) act(`/api/alarms/${alarm.id}/shelve`, { duration_s: Number(minutes) * 60, reason });
      },
    }, "搁置 / Shelve"));
  }
  // A detector fault may hold "reading not credible" (GM fold-back, dead probe): after checking the probe an
  // operator ends it, so the hazard alarms it holds can clear on the readings again. The server refuses (409) when
  // the sensor holds nothing, and records who and why.
  if (/detector-fault/.test(alarm.rule || "") && may("reset")) {
    actions.append(el("button", {
      "data-action": "reset-credibility", type: "button",
      onclick: () => {
        const reason = prompt("核查了什么? 读数将重新可信 / What was checked at the probe? Its readings count again", "");
        if (reason) act(`/api/sensors/${encodeURIComponent(alarm.sensor_id)}/reset-credibility`, { reason });
      },
    }, "探头已核查 / Probe checked"));
  }
  if (may("comment")) {
    actions.append(el("button", {
      "data-action": "comment", type: "button",
      onclick: () => { const text = prompt("备注 / Comment", ""); if (text) act(`/api/alarms/${alarm.id}/comment`, { text }); },
    }, "备注 / Comment"));
  }
  return actions;
}

function renderAlarms() {
  const rows = state.alarms;
  const unacked = rows.filter((a) => a.state.endsWith("_unack")).length;
  $("alarm-count").textContent = `${rows.length} 条 · ${unacked} 未确认 / ${rows.length} · ${unacked} unacknowledged`;
  const list = $("alarm-list");
  if (!rows.length) {
    list.replaceChildren(el("div", { class: "muted empty" }, "无需处置的报警 / nothing needs action"));
    return;
  }
  list.replaceChildren(...rows.map((alarm) => {
    const unack = alarm.state.endsWith("_unack");
    const what = alarm.substance ? `${alarm.substance} · ` : "";
    const limit = alarm.level !== null && alarm.level !== undefined ? ` / 限值 limit ${withUnit(alarm.level, alarm.unit)}` : "";
    return el("article", {
      id: `alarm-${alarm.id}`, role: "listitem", class: `alarm-row prio-${alarm.priority} ${unack ? "unack" : ""} ${alarm.state}`,
      "data-state": alarm.state, "data-sensor": alarm.sensor_id,
    },
    el("div", { class: "a-prio" }, el("span", { class: `prio ${alarm.priority}` }, PRIORITY_TEXT[alarm.priority] || alarm.priority),
      alarm.drill ? el("span", { class: "badge drill" }, "演练 DRILL") : null),
    el("div", { class: "a-what" },
      el("div", { class: "a-message" }, alarm.message_zh || alarm.message),
      alarm.message_zh && alarm.message && alarm.message !== alarm.message_zh ? el("div", { class: "a-message-en" }, alarm.message) : null,
      el("div", { class: "muted" }, `${what}${alarm.device_name} · ${alarm.zone_name}`)),
    el("div", { class: "a-value" }, el("strong", {}, withUnit(alarm.value, alarm.unit)), el("span", { class: "muted" }, limit)),
    el("div", { class: "a-since" }, el("span", { class: "ago", "data-since": alarm.raised_at }, ago(alarm.raised_at)),
      alarm.reraised_at ? el("div", { class: "reraised" }, "再次报警 / raised again ", el("span", { class: "ago", "data-since": alarm.reraised_at }, ago(alarm.reraised_at))) : null,
      alarm.state === "shelved" && alarm.shelved_until ? el("div", { class: "muted" }, "搁置至 / shelved until ", fmtTime(alarm.shelved_until)) : null),
    el("div", { class: "a-state" }, STATE_TEXT[alarm.state] || alarm.state),
    alarmActions(alarm));
  }));
}

// --- incidents ---------------------------------------------------------------------------------------------

function zoneName(id) {
  const zone = state.site && state.site.zones.find((z) => z.id === id);
  return zone ? zone.name : id;
}

function renderIncidents() {
  const list = $("incident-list");
  if (!state.incidents.length) {
    list.replaceChildren(el("li", { class: "muted" }, "无事件 / no incidents"));
    return;
  }
  list.replaceChildren(...state.incidents.map((incident) => {
    const open = incident.deadlines.filter((d) => !d.done_at);
    return el("li", {
      class: `card tier-${incident.proposed_tier} ${incident.state} ${state.selected === incident.id ? "selected" : ""}`,
      tabindex: "0", "data-incident": incident.id,
      onclick: () => selectIncident(incident.id),
      onkeydown: (event) => { if (event.key === "Enter") selectIncident(incident.id); },
    },
    el("div", {}, el("span", { class: `badge ${incident.proposed_tier}` }, TIER_ZH[incident.proposed_tier] || incident.proposed_tier),
      incident.confirmed_level ? ` 已确认 ${incident.confirmed_level} 级 / level confirmed` : " 待确认级别 / level to confirm",
      incident.drill ? el("span", { class: "badge drill" }, "演练 DRILL") : null),
    el("div", { class: "title" }, incident.title),
    el("div", { class: "places" }, ...(incident.zones.length ? incident.zones : ["–"]).map((z) => el("span", { class: "chip" }, zoneName(z))),
      ...incident.kinds.map((k) => el("span", { class: "chip kind" }, KIND_TEXT[k] || k))),
    el("div", { class: "muted" }, `${incident.state === "closed" ? "已关闭 / closed" : "处置中 / open"} · 开始 / opened ${ago(incident.opened_at)}`),
    open.length ? deadlineNode(open[0]) : null);
  }));
}

function renderDetail() {
  const box = $("incident-detail");
  const detail = state.detail;
  if (!detail) return;
  const incident = detail.incident;
  const timeline = el("ol", { class: "timeline", reversed: "reversed", tabindex: "0", "aria-label": "时间线 / timeline" }, ...detail.timeline.map((entry) =>
    el("li", { class: ROUTINE_EVENTS.has(entry.type) ? "routine" : `event-${entry.type}` },
      el("span", { class: "muted" }, fmtTime(entry.time)), ` ${entry.type} · ${entry.actor} `,
      el("div", {}, entry.detail && (entry.detail.text || entry.detail.reason || entry.detail.level || "")))));
  const checklist = el("div", { class: "checklist" }, ...detail.checklist.map((item) => el("label", {},
    el("input", {
      type: "checkbox", checked: item.done_at ? "checked" : null,
      disabled: item.done_at || !may("tick_checklist") ? "disabled" : null,
      onchange: () => act(`/api/incidents/${incident.id}/checklist/${item.id}/done`),
    }), ` ${item.text} `, item.done_by ? el("span", { class: "muted" }, `(${item.done_by})`) : null)));
  const buttons = el("div", { class: "actions" });
  if (may("comment")) {
    buttons.append(el("button", { type: "button", "data-action": "incident-comment",
      onclick: () => { const text = prompt("备注 / Comment", ""); if (text) act(`/api/incidents/${incident.id}/comment`, { text }); } }, "备注 / Comment"));
  }
  if (may("confirm_level") && incident.state !== "closed") {
    const level = el("select", { id: "level-select", "aria-label": "响应级别 / response level" },
      ...["IV", "III", "II", "I"].map((l) => el("option", { value: l }, `${l} 级`)));
    buttons.append(level, el("button", { type: "button", "data-action": "confirm-level",
      onclick: () => act(`/api/incidents/${incident.id}/confirm-level`, { level: level.value }) }, "确认级别 / Confirm level"));
  }
  if (may("close_incident") && incident.state !== "closed") {
    buttons.append(el("button", { type: "button", "data-action": "close",
      onclick: () => { if (confirm("关闭事件? / Close incident?")) act(`/api/incidents/${incident.id}/close`, {}); } }, "关闭 / Close"));
  }
  box.replaceChildren(
    el("h3", {}, el("span", { class: `badge ${incident.proposed_tier}` }, TIER_ZH[incident.proposed_tier] || incident.proposed_tier), ` ${incident.title}`),
    el("div", { class: "places" }, ...incident.zones.map((z) => el("span", { class: "chip" }, zoneName(z))),
      ...incident.kinds.map((k) => el("span", { class: "chip kind" }, KIND_TEXT[k] || k))),
    el("div", { class: "muted" }, `#${incident.id} · ${incident.state} · 响应级别 / level: ${incident.confirmed_level || "–"} · 开始 / opened ${fmtTime(incident.opened_at)}`),
    el("div", { class: "deadlines" }, el("h4", {}, "时限 / Deadlines"),
      ...(incident.deadlines.length ? incident.deadlines.map(deadlineNode) : [el("div", { class: "muted" }, "无 / none")])),
    el("div", { class: "detail-grid" },
      el("div", {}, el("h4", {}, "处置清单 / Checklist"), checklist),
      el("div", {}, el("h4", {}, "时间线（最新在上）/ Timeline, newest first"), timeline)),
    buttons);
}

function renderDuty() {
  const list = $("duty-list");
  const roles = state.duty.filter((r) => r.people.length);
  list.replaceChildren(...roles.map((role) => el("li", {},
    el("div", { class: "role" }, role.role_name),
    ...role.people.map((person) => el("div", { class: "person" }, el("strong", {}, person.name), " ",
      ...person.channels.map((c) => (c.address && c.type === "phone"
        ? el("a", { href: `tel:${c.address}`, class: "chip" }, `☎ ${c.address}`)
        : el("span", { class: "chip" }, `${c.type}${c.address ? `: ${c.address}` : ""}`))))))));
}

// --- console pages: pages addressed to this person; the browser tells the service which ones are on screen ---------

const PAGE_STATE_TEXT = {
  pending: "新呼叫 / new", delivered: "已显示，待确认 / shown, to acknowledge", acknowledged: "已确认 / acknowledged",
  superseded: "已转其他渠道 / moved on", failed: "失败 / failed", given_up: "已放弃 / given up",
};

function renderPages() {
  const box = $("pages-box");
  box.hidden = !state.me;
  if (!state.me) return;
  const open = state.pages.filter((p) => p.state === "pending" || p.state === "delivered");
  $("page-count").textContent = `${open.length} 待确认 / to acknowledge`;
  const list = $("page-list");
  if (!state.pages.length) { list.replaceChildren(el("li", { class: "muted" }, "无 / none")); return; }
  list.replaceChildren(...state.pages.map((page) => el("li", {
    class: `card page-row tier-${page.tier || "none"} ${page.state}`, "data-page": page.id, "data-state": page.state,
  },
  el("div", {}, el("span", { class: `badge ${page.tier || ""}` }, TIER_ZH[page.tier] || page.tier || ""), " ", page.subject),
  el("div", { class: "muted" }, `${page.person}${page.role ? ` · ${roleName(page.role)}` : ""} · ${fmtTime(page.created_at)} · ${PAGE_STATE_TEXT[page.state] || page.state}`,
    page.acknowledged_by ? ` · ${page.acknowledged_by}` : ""),
  page.ack_deadline && (page.state === "pending" || page.state === "delivered") ? deadlineNode({ name: "确认时限 / acknowledge by", due_at: page.ack_deadline, kind: "page" }) : null,
  (page.state === "pending" || page.state === "delivered") && may("acknowledge")
    ? el("div", { class: "actions" }, el("button", { type: "button", class: "primary", "data-action": "page-ack",
      onclick: () => act(`/api/pages/${page.id}/acknowledge`) }, "我已收到 / Acknowledge"))
    : null)));
}

// Only what is on a visible screen counts as shown: a tab in the background has shown nothing to anybody.
async function reportShown() {
  if (document.visibilityState !== "visible" || !state.me) return;
  const ids = state.pages.filter((p) => p.state === "pending").map((p) => p.id);
  if (!ids.length) return;
  try {
    await api("/api/pages/shown", { method: "POST", body: JSON.stringify({ ids }) });
    for (const page of state.pages) if (ids.includes(page.id)) page.state = "delivered";
    renderPages();
  } catch (error) { /* shown again on the next refresh */ }
}

async function refreshPages() {
  if (!state.me) { state.pages = []; renderPages(); return; }
  try {
    state.pages = (await api("/api/pages")).pages;
  } catch (error) { return; }
  const fresh = state.pages.some((p) => p.state === "pending");
  renderPages();
  if (fresh) { beep(); flashTitle("新呼叫 NEW PAGE"); }
  await reportShown();
}

// --- map ---------------------------------------------------------------------------------------------------

const map = { leaflet: null, sensors: null, wind: null, zones: null, receptors: null, lines: null, plume: null, fitted: false, tileOk: false };

const LAYER_STYLE = {
  zone: { color: "#8fa3bf", weight: 2, dashArray: "6 4", fill: false },
  plant: { color: "#e0b000", weight: 2, fillColor: "#e0b000", fillOpacity: 0.12 },
  residential: { color: "#4fc3f7", weight: 1, fillColor: "#4fc3f7", fillOpacity: 0.15 },
  school: { color: "#ff8a65", weight: 1, fillColor: "#ff8a65", fillOpacity: 0.25 },
  hospital: { color: "#ef5350", weight: 1, fillColor: "#ef5350", fillOpacity: 0.25 },
  nursing_home: { color: "#ba68c8", weight: 1, fillColor: "#ba68c8", fillOpacity: 0.25 },
  workplace: { color: "#90a4ae", weight: 1, fillColor: "#90a4ae", fillOpacity: 0.15 },
  road: { color: "#b0b8c4", weight: 3 },
  river: { color: "#3d8bfd", weight: 5, opacity: 0.8 },
};

function initMap(info) {
  if (map.leaflet || typeof L === "undefined") return;
  const leaflet = L.map("map", { zoomControl: true, attributionControl: true, preferCanvas: false })
    .setView([info.center.lat, info.center.lon], info.zoom);
  map.leaflet = leaflet;
  const bases = {};
  for (const source of info.tiles) {
    const layer = L.tileLayer(source.url, { attribution: source.attribution, maxZoom: source.max_zoom, subdomains: source.subdomains || "abc" });
    layer.on("tileload", () => { if (!map.tileOk) { map.tileOk = true; $("tile-state").textContent = `· ${source.name}`; document.body.dataset.tiles = "loaded"; } });
    layer.on("tileerror", () => { if (!map.tileOk) { $("tile-state").textContent = "· 底图不可用，显示离线图层 / tiles unreachable: offline layers"; document.body.dataset.tiles = "failed"; } });
    bases[source.name] = layer;
  }
  const first = Object.values(bases)[0];
  if (first) first.addTo(leaflet);
  else { $("tile-state").textContent = "· 离线图层 / offline layers"; document.body.dataset.tiles = "none"; }
  const features = info.layers.features;
  const pick = (layers) => ({ type: "FeatureCollection", features: features.filter((f) => layers.includes(f.properties.layer)) });
  const label = (feature, layer) => layer.bindTooltip(feature.properties.name, { sticky: true });
  map.zones = L.geoJSON(pick(["zone", "plant"]), { style: (f) => LAYER_STYLE[f.properties.layer], onEachFeature: label, className: "geo-zone" }).addTo(leaflet);
  map.lines = L.geoJSON(pick(["road", "river"]), { style: (f) => LAYER_STYLE[f.properties.layer], onEachFeature: label }).addTo(leaflet);
  // Populated places are the site's receptors (the same areas the release assessment counts people in); sensitive
  // ones also get an icon at their centre.
  const RECEPTOR_ICON = { school: "校", hospital: "医", nursing_home: "老" };
  const receptorIcons = [];
  map.receptors = L.geoJSON({ type: "FeatureCollection", features: features.filter((f) => f.properties.receptor) }, {
    style: (f) => LAYER_STYLE[f.properties.layer] || LAYER_STYLE.residential,
    onEachFeature: (f, layer) => {
      label(f, layer);
      const html = RECEPTOR_ICON[f.properties.layer];
      if (html) receptorIcons.push(L.marker(layer.getBounds().getCenter(), { icon: L.divIcon({ className: `receptor ${f.properties.layer}`, html, iconSize: [24, 24] }), title: f.properties.name, keyboard: false }));
    },
  }).addTo(leaflet);
  for (const icon of receptorIcons) map.receptors.addLayer(icon);
  map.plume = L.layerGroup().addTo(leaflet);
  map.wind = L.layerGroup().addTo(leaflet);
  map.sensors = L.layerGroup().addTo(leaflet);
  L.control.layers(bases, {
    "区域 / zones": map.zones, "道路河流 / roads, rivers": map.lines, "受体 / receptors": map.receptors,
    "传感器 / sensors": map.sensors, "风向 / wind": map.wind, "烟羽 / plume": map.plume,
  }, { collapsed: window.innerWidth < 900 }).addTo(leaflet);
  L.control.scale({ imperial: false }).addTo(leaflet);
  document.body.dataset.map = "ready";
}

function deviceGroups(site) {
  const devices = new Map();
  for (const sensor of site.sensors) {
    let device = devices.get(sensor.device);
    if (!device) {
      device = { id: sensor.device, name: sensor.device_name, type: sensor.device_type, zone: sensor.zone_name, lat: sensor.lat, lon: sensor.lon, state: sensor.state, sensors: [] };
      devices.set(sensor.device, device);
    }
    device.sensors.push(sensor);
    if ((STATE_RANK[sensor.state] ?? 9) < (STATE_RANK[device.state] ?? 9)) device.state = sensor.state;
  }
  return [...devices.values()];
}

// The reading a marker labels: the gas concentrations, the dose rate, or wind speed; never battery or position.
function headline(device) {
  const shown = device.sensors.filter((s) => s.value !== null && ["gas", "gamma_dose_rate", "source_dose_rate", "wind_speed"].includes(s.kind));
  return shown.map((s) => `${s.substance ? `${s.substance} ` : ""}${withUnit(s.value, s.unit)}`).join(" · ");
}

function renderMap() {
  const site = state.site;
  if (!site || !map.leaflet) return;
  map.sensors.clearLayers();
  map.wind.clearLayers();
  const devices = deviceGroups(site).sort((a, b) => (STATE_RANK[b.state] ?? 9) - (STATE_RANK[a.state] ?? 9));
  for (const device of devices) {
    const text = headline(device);
    const icon = L.divIcon({
      className: "device-icon",
      html: `<span class="dot ${device.state}" data-device="${device.id}" data-state="${device.state}"></span>${text ? `<span class="value ${device.state}">${text}</span>` : ""}`,
      iconSize: null, iconAnchor: [9, 9],
    });
    // Leaflet stacks markers by latitude; a device in alarm must never hide under a quiet neighbour.
    const marker = L.marker([device.lat, device.lon], {
      icon, title: `${device.name} (${device.zone}) ${device.state}`, riseOnHover: true, alt: device.name,
      zIndexOffset: 1000 * (5 - (STATE_RANK[device.state] ?? 5)),
    });
    marker.on("click", () => openSensorPanel(device));
    marker.addTo(map.sensors);
    const speed = device.sensors.find((s) => s.kind === "wind_speed");
    const direction = device.sensors.find((s) => s.kind === "wind_direction");
    if (direction && direction.value !== null) {
      // Meteorological direction is where the wind comes FROM; the arrow points where it blows (and a plume goes).
      const arrow = L.divIcon({
        className: "wind-icon",
        html: `<span class="wind-arrow" style="transform: rotate(${(direction.value + 180) % 360}deg)">➜</span>`,
        iconSize: [36, 36], iconAnchor: [18, 18],
      });
      L.marker([device.lat, device.lon], { icon: arrow, interactive: false, keyboard: false,
        title: `风 / wind ${fmtValue(direction.value)}° ${speed ? withUnit(speed.value, speed.unit) : ""}` }).addTo(map.wind);
    }
  }
  if (!map.fitted) {
    const bounds = L.latLngBounds(devices.map((d) => [d.lat, d.lon]));
    if (map.zones.getLayers().length) bounds.extend(map.zones.getBounds());
    if (bounds.isValid()) map.leaflet.fitBounds(bounds, { padding: [20, 20] });
    map.fitted = true;
  }
}

// The gamma point-source search is a search area (where to send the survey team), not a plume: drawn apart.
function assessmentStyle(feature) {
  const kind = feature.properties.feature;
  if (kind === "gamma_search_area") {
    return { className: "gamma-search-area", color: "#ffd600", weight: 2, dashArray: "6 4", fillColor: "#ffd600", fillOpacity: 0.2 };
  }
  if (kind === "gamma_source_estimate") {
    return { className: "gamma-source-estimate", color: "#ffd600", weight: 3, fillColor: "#ffd600", fillOpacity: 0.8 };
  }
  return { className: `assessment-${kind}`, color: "#ff5252", weight: 2, fillColor: "#ff5252", fillOpacity: 0.25 };
}

function assessmentPoint(feature, latlng) {
  const gamma = feature.properties.feature === "gamma_source_estimate";
  const marker = L.circleMarker(latlng, {
    className: gamma ? "gamma-source-estimate" : "assessment-source-estimate",
    radius: 7, color: gamma ? "#ffd600" : "#ff5252", weight: 3, fillOpacity: 0.8,
  });
  if (feature.properties.summary) marker.bindTooltip(feature.properties.summary);
  return marker;
}

async function refreshPlumes() {
  if (!map.leaflet || Date.now() - state.plumeCheckedAt < 60000) return;
  state.plumeCheckedAt = Date.now();
  map.plume.clearLayers();
  for (const incident of state.incidents.filter((i) => i.state !== "closed")) {
    try {
      const response = await fetch(`/api/incidents/${incident.id}/assessment`, { headers: authHeaders() });
      if (!response.ok) continue; // 404: no assessment (yet, or the threat-zone work is not installed)
      const geojson = await response.json();
      L.geoJSON(geojson, { style: assessmentStyle, pointToLayer: assessmentPoint }).addTo(map.plume);
    } catch (error) { /* an assessment is an extra; the map works without it */ }
  }
}

async function openSensorPanel(device) {
  const panel = $("sensor-panel");
  $("sensor-title").textContent = `${device.name} · ${device.zone}`;
  const body = $("sensor-body");
  body.replaceChildren(el("div", { class: "muted" }, "加载中 / loading…"));
  panel.hidden = false;
  const charted = device.sensors.filter((s) => !["latitude", "longitude", "hdop"].includes(s.kind));
  const parts = [];
  for (const sensor of charted) {
    let history;
    try {
      history = await api(scoped(`/api/sensors/${encodeURIComponent(sensor.id)}/history?hours=24`));
    } catch (error) {
      parts.push(el("div", { class: "muted" }, `${sensor.id}: ${error.message}`));
      continue;
    }
    const chart = el("div", { class: "chart", "data-sensor": sensor.id });
    parts.push(el("section", { class: "sensor-block" },
      el("h3", {}, `${sensor.substance || KIND_TEXT[sensor.kind] || sensor.kind}: `, el("strong", {}, withUnit(sensor.value, sensor.unit)),
        el("span", { class: `dot ${sensor.state}` })),
      el("div", { class: "muted" }, `${sensor.id} · ${ago(sensor.time)}`),
      chart,
      ...history.alarms.map((a) => el("div", { class: `chip prio-${a.priority}` }, `${PRIORITY_TEXT[a.priority] || a.priority}: ${a.message_zh || a.message} (${STATE_TEXT[a.state] || a.state})`))));
    parts[parts.length - 1].history = history;
  }
  body.replaceChildren(...parts);
  const width = Math.min(460, panel.clientWidth - 32);
  for (const block of parts) {
    const history = block.history;
    if (!history) continue;
    const target = block.querySelector(".chart");
    if (!history.times.length) { target.append(el("div", { class: "muted" }, "24 小时内无数据 / no readings in 24 h")); continue; }
    new uPlot({
      width, height: 160, legend: { show: false },
      scales: { x: { time: true } },
      axes: [{ stroke: "#c5cfdb", grid: { stroke: "#2b3545" } }, { stroke: "#c5cfdb", grid: { stroke: "#2b3545" }, label: history.unit }],
      series: [{}, { stroke: "#4fc3f7", width: 1.5, label: history.unit }],
    }, [history.times, history.values], target);
  }
  document.body.dataset.chart = "open";
}

// --- alerting ----------------------------------------------------------------------------------------------

let audio = null;
function beep() {
  if (localStorage.getItem(SOUND_KEY) === "off") return;
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const now = audio.currentTime;
    for (let i = 0; i < 3; i++) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.25, now + i * 0.35);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.35 + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.35);
      osc.stop(now + i * 0.35 + 0.3);
    }
  } catch (error) { /* no audio device: the title and notification still alert */ }
}

function flashTitle(text) {
  const base = document.title.replace(/^【.*?】 /, "");
  clearInterval(state.flashTimer);
  let on = false;
  state.flashTimer = setInterval(() => {
    on = !on;
    document.title = on ? `【${text}】 ${base}` : base;
  }, 800);
}

function stopFlash() {
  clearInterval(state.flashTimer);
  state.flashTimer = null;
  document.title = document.title.replace(/^【.*?】 /, "");
}

function alertOnNew() {
  const alerting = state.alarms.filter((a) => ALERT_PRIORITIES.has(a.priority) && a.state.endsWith("_unack"));
  const keys = new Set(alerting.map((a) => `${a.id}:${a.reraised_at || a.raised_at}`));
  if (state.seenAlerts === null) { state.seenAlerts = keys; if (alerting.length) flashTitle(`${alerting.length} 未确认报警`); return; }
  const fresh = alerting.filter((a) => !state.seenAlerts.has(`${a.id}:${a.reraised_at || a.raised_at}`));
  state.seenAlerts = keys;
  if (!alerting.length) { stopFlash(); return; }
  if (!fresh.length) return;
  beep();
  flashTitle(`新报警 NEW ALARM ×${fresh.length}`);
  document.body.dataset.alerted = String(Number(document.body.dataset.alerted || 0) + 1);
  if ("Notification" in window && Notification.permission === "granted") {
    const first = fresh[0];
    new Notification(`${DRILL_RUN ? "[演练 DRILL] " : ""}${PRIORITY_TEXT[first.priority]} ${first.device_name}`, {
      body: `${first.message_zh || first.message}\n${withUnit(first.value, first.unit)} · ${first.zone_name}`, tag: `alarm-${first.id}`,
    });
  }
}

function setupAlertControls() {
  const sound = $("sound");
  const paint = () => {
    const off = localStorage.getItem(SOUND_KEY) === "off";
    sound.textContent = off ? "声音关 / Sound off" : "声音开 / Sound on";
    sound.setAttribute("aria-pressed", String(!off));
  };
  sound.addEventListener("click", () => {
    localStorage.setItem(SOUND_KEY, localStorage.getItem(SOUND_KEY) === "off" ? "on" : "off");
    paint();
    if (localStorage.getItem(SOUND_KEY) !== "off") beep(); // a click also unlocks audio for later alerts
  });
  paint();
  const ask = $("notify-permission");
  if ("Notification" in window && Notification.permission === "default") {
    ask.hidden = false;
    ask.addEventListener("click", () => Notification.requestPermission().then(() => { ask.hidden = true; }));
  }
  window.addEventListener("focus", () => { if (!state.alarms.some((a) => a.state.endsWith("_unack"))) stopFlash(); });
}

// --- data --------------------------------------------------------------------------------------------------

function tick() {
  $("clock").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false });
  const now = Date.now() / 1000;
  for (const node of document.querySelectorAll(".deadline[data-due]")) {
    const due = Number(node.dataset.due);
    node.querySelector(".deadline-left").textContent = countdown(due);
    node.classList.toggle("overdue", due < now);
  }
  for (const node of document.querySelectorAll(".ago[data-since]")) node.textContent = ago(Number(node.dataset.since));
}

async function selectIncident(id) {
  state.selected = id;
  try {
    state.detail = await api(`/api/incidents/${id}`);
    renderDetail();
    renderIncidents();
  } catch (error) {
    toast(error.message);
  }
}

async function refresh() {
  try {
    const [alarms, incidents, site, duty] = await Promise.all([
      api(scoped("/api/alarms?state=needs_action")), api(scoped("/api/incidents")), api(scoped("/api/site")),
      api("/api/duty").catch(() => ({ roles: [] })),
    ]);
    state.alarms = alarms.alarms;
    state.incidents = incidents.incidents;
    state.site = site;
    state.duty = duty.roles;
    if (!state.mapInfo) {
      state.mapInfo = await api("/api/map");
      initMap(state.mapInfo);
    }
    renderHeader();
    renderAlarms();
    renderIncidents();
    renderDuty();
    renderMap();
    alertOnNew();
    const open = state.incidents.filter((i) => i.state !== "closed");
    if (state.selected === null && state.incidents.length) state.selected = (open[0] || state.incidents[0]).id;
    if (state.selected !== null) await selectIncident(state.selected);
    refreshPlumes();
    await refreshPages();
    document.body.dataset.loaded = "true";
  } catch (error) {
    toast(`加载失败 / load failed: ${error.message}`);
  }
}

function renderHeader() {
  const site = state.site;
  $("site-name").textContent = site.name;
  $("drill-running").hidden = Boolean(DRILL_RUN) || !site.drill;
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, 150);
}

// Server-Sent Events read with fetch, so the token goes in the Authorization header and never into a URL
// (EventSource cannot send headers; a URL token would land in proxy and access logs).
async function connectEvents() {
  const controller = new AbortController();
  connectEvents.controller = controller;
  try {
    const response = await fetch("/api/events", { headers: { Accept: "text/event-stream", ...authHeaders() }, signal: controller.signal, cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = (block.match(/^event: (.*)$/m) || [])[1];
        if (type === "hello") $("live").className = "live on";
        else if (type) scheduleRefresh();
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  $("live").className = "live off";
  if (!controller.signal.aborted) setTimeout(connectEvents, 2000);
}

function reconnectEvents() {
  if (connectEvents.controller) connectEvents.controller.abort();
  connectEvents();
}

async function showUser() {
  state.me = null;
  if (!token()) { $("user").textContent = "只读 / read-only"; return; }
  try {
    state.me = await api("/api/me");
    $("user").textContent = `${state.me.name} (${state.me.role})`;
  } catch (error) {
    $("user").textContent = "令牌无效 / invalid token";
  }
}

async function setupViews() {
  const select = $("view-select");
  try {
    const runs = await api("/api/drill-runs");
    for (const run of runs.drill_runs) {
      select.append(el("option", { value: run.id }, `演练 DRILL #${run.id} ${run.source.split("/").pop()} (${run.status})`));
    }
  } catch (error) { /* the live view works without the list */ }
  select.value = DRILL_RUN;
  select.addEventListener("change", () => {
    const url = new URL(location.href);
    if (select.value) url.searchParams.set("drill_run", select.value); else url.searchParams.delete("drill_run");
    location.href = url.toString();
  });
  if (DRILL_RUN) {
    document.body.classList.add("drill-view");
    $("drill-banner").hidden = false;
    const option = [...select.options].find((o) => o.value === DRILL_RUN);
    $("drill-source").textContent = option ? option.textContent : `#${DRILL_RUN}`;
    document.title = `[演练 DRILL] ${document.title}`;
  }
}

$("login").addEventListener("click", askToken);
$("sensor-close").addEventListener("click", () => { $("sensor-panel").hidden = true; delete document.body.dataset.chart; });
$("token-dialog").addEventListener("close", async () => {
  const choice = $("token-dialog").returnValue;
  if (choice === "ok") localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  else if (choice === "clear") localStorage.removeItem(TOKEN_KEY);
  else return;
  await showUser();
  reconnectEvents();
  refresh();
});
setInterval(tick, 1000);
setInterval(refreshPages, 5000); // pages must show even when no event arrives
document.addEventListener("visibilitychange", reportShown);
setupAlertControls();
(async () => {
  await Promise.all([showUser(), setupViews()]);
  connectEvents();
  await refresh();
})();
