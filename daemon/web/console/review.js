// Data review page: one station-day at a time, through /api/review (see docs/review.md).
"use strict";

const TOKEN_KEY = "hazwatch.token"; // shared with the duty console
const REASONS = {
  invalidate: ["instrument_fault", "calibration", "maintenance", "power_outage", "communication_loss",
    "interference", "sampling_fault", "other"],
  confirm: ["verified_on_site", "verified_by_comparison", "real_event", "other"],
  qc: ["qc_pass", "qc_fail"],
};
const $ = (id) => document.getElementById(id);
let review = null;

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function percent(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)} %`;
}

function clock(unix) {
  return new Date(unix * 1000).toLocaleString();
}

async function call(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  const token = localStorage.getItem(TOKEN_KEY) || "";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function show(document_) {
  review = document_;
  $("error").textContent = "";
  $("state").textContent = `${review.station} ${review.day}: ${review.state} — tier ${review.tier}`;
  const ratios = $("ratios");
  ratios.replaceChildren();
  const total = document.createElement("tr");
  total.className = "station-ratios";
  cell(total, review.station);
  for (const key of ["capture", "valid_before", "valid_after", "qc_pass"]) cell(total, percent(review.ratios[key]));
  ratios.appendChild(total);
  for (const [sensor, values] of Object.entries(review.sensors)) {
    const row = document.createElement("tr");
    cell(row, sensor);
    for (const key of ["capture", "valid_before", "valid_after"]) cell(row, percent(values[key]));
    cell(row, "");
    ratios.appendChild(row);
  }
  const trail = $("trail");
  trail.replaceChildren();
  for (const action of review.actions) {
    const row = document.createElement("tr");
    cell(row, clock(action.at));
    cell(row, `${action.actor} (${action.role})`);
    cell(row, action.tier);
    cell(row, action.action);
    cell(row, action.sensor_id || "");
    cell(row, action.time_from === null ? "" : `${clock(action.time_from)} – ${clock(action.time_to)}`);
    cell(row, action.reason_code || "");
    cell(row, action.comment);
    trail.appendChild(row);
  }
  const flagged = $("flagged");
  flagged.replaceChildren();
  for (const reading of review.flagged.slice(0, 200)) {
    const row = document.createElement("tr");
    cell(row, clock(reading.time));
    cell(row, reading.sensor_id);
    cell(row, reading.value.toPrecision(4));
    cell(row, reading.flags.join(", "));
    flagged.appendChild(row);
  }
  const sensor = $("sensor");
  sensor.replaceChildren(new Option("全部 all", ""));
  for (const id of Object.keys(review.sensors)) sensor.appendChild(new Option(id, id));
}

async function load() {
  try {
    show(await call(`/api/review/${encodeURIComponent($("station").value)}/${$("day").value}`));
  } catch (error) {
    $("error").textContent = error.message;
  }
}

function minutes(input) {
  const [hours, mins] = input.value.split(":").map(Number);
  return 60 * hours + mins;
}

async function act(event) {
  event.preventDefault();
  if (!review) return;
  const action = $("action").value;
  const body = { comment: $("comment").value };
  if (action in REASONS) body.reason_code = $("reason").value;
  if (action === "invalidate" || action === "confirm") {
    if ($("sensor").value) body.sensor_id = $("sensor").value;
    body.from = review.day_start + 60 * minutes($("from"));
    // "To" is inclusive on the page (23:59 means the end of the day).
    body.to = Math.min(review.day_end, review.day_start + 60 * (minutes($("to")) + 1));
  }
  try {
    show(await call(`/api/review/${encodeURIComponent(review.station)}/${review.day}/${action}`, {
      method: "POST", body: JSON.stringify(body),
    }));
    $("comment").value = "";
  } catch (error) {
    $("error").textContent = error.message;
  }
}

function reasons() {
  const select = $("reason");
  select.replaceChildren();
  for (const code of REASONS[$("action").value] || []) select.appendChild(new Option(code, code));
  select.disabled = !select.options.length;
}

async function start() {
  $("token").value = localStorage.getItem(TOKEN_KEY) || "";
  $("token").addEventListener("change", () => localStorage.setItem(TOKEN_KEY, $("token").value.trim()));
  const yesterday = new Date(Date.now() - 86400 * 1000);
  $("day").value = yesterday.toISOString().slice(0, 10);
  $("action").addEventListener("change", reasons);
  reasons();
  $("pick").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("act").addEventListener("submit", act);
  try {
    const site = await call("/api/site");
    const stations = [...new Set(site.sensors.map((sensor) => sensor.device))];
    for (const station of stations) $("station").appendChild(new Option(station, station));
  } catch (error) {
    $("error").textContent = error.message;
  }
}

start();
