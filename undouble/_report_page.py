"""The HTML, CSS and JavaScript of the report page (:mod:`undouble.report` fills in the data).

Placeholders: ``%%MARKER%%`` (first line, so that only reports get overwritten),
``%%TITLE%%`` (escaped text) and ``%%DATA%%`` (JSON safe inside a script element).
No network, no framework: the page works from a file on any machine.
"""

PAGE_TEMPLATE = r"""%%MARKER%%
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%%TITLE%%</title>
<style>
body { font: 14px/1.35 system-ui, sans-serif; margin: 0 1.2em 2em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: .6em 0 .2em; }
#summary { display: flex; flex-wrap: wrap; gap: .3em 1.6em; margin: .3em 0; }
#summary b { font-variant-numeric: tabular-nums; }
details { margin: .2em 0 .6em; }
#controls { position: sticky; top: 0; background: #eee; padding: .5em; border-radius: 4px; z-index: 1;
            display: flex; flex-wrap: wrap; gap: .4em 1em; align-items: center; }
#controls input[type=number] { width: 4em; }
.group { background: #fff; border: 1px solid #ddd; border-radius: 4px; margin: .8em 0; padding: .4em .6em; }
.group h2 { font-size: 1em; margin: 0 0 .3em; font-weight: 600; }
.group h2 .why { font-weight: normal; color: #1a7a3a; }
.row { display: flex; flex-wrap: wrap; gap: .6em; align-items: flex-start; }
figure { margin: 0; padding: 4px; border: 2px solid #ccc; border-radius: 4px; width: min-content; }
figure.keeper { border: 4px solid #1a9641; }
figure img { display: block; height: 160px; width: auto; max-width: 320px; background: #ddd; }
figure .noimg { height: 160px; width: 160px; display: flex; align-items: center; justify-content: center;
                background: #eee; color: #a00; text-align: center; font-size: 12px; }
figcaption { font-size: 12px; min-width: 150px; max-width: 320px; overflow-wrap: anywhere; }
figcaption .badge { background: #1a9641; color: #fff; padding: 0 .4em; border-radius: 3px; font-weight: 600; }
figcaption .folder { color: #666; }
figcaption .name { font-weight: 600; }
figcaption .rel { color: #8a4b00; }
figcaption .reason { color: #555; font-style: italic; }
.pager button { min-width: 5em; }
figure.item { cursor: pointer; }
figure.chosen { border-color: #2b6cb0; }
.group.untouched { opacity: .55; }
.group .leave { margin-left: 1em; font-size: 12px; }
#save { margin-left: auto; }
</style>
</head>
<body>
<h1>%%TITLE%%</h1>
<div id="summary"></div>
<details id="skipped"><summary></summary><ul></ul></details>
<div id="controls">
  <label>Filter <input id="filter" type="search" placeholder="folder or file name"></label>
  <label>At least <input id="min" type="number" min="2" value="2"> images</label>
  <label>Distance at least <input id="dist" type="number" min="0" value="0"></label>
  <label>Sort <select id="sort">
    <option value="order">as found</option>
    <option value="size">group size</option>
    <option value="distance">largest distance</option>
    <option value="folder">keeper's folder</option>
  </select></label>
  <span class="pager"><button id="prev">&larr; previous</button> <span id="status"></span>
  <button id="next">next &rarr;</button></span>
  <a id="save" download="undouble-choices.json" href="#">save choices (0 changed)</a>
</div>
<p id="howto">Click an image to make it the keeper of its group; "leave untouched" keeps the whole group as it is.
Save the choices as JSON for <code>undouble.report.read_choices</code>.</p>
<main id="groups"></main>
<script id="report-data" type="application/json">%%DATA%%</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("report-data").textContent);
const GROUPS = DATA.groups;
const $ = (id) => document.getElementById(id);
const state = { filter: "", min: 2, dist: 0, sort: "order", page: 1, per: 50 };
const choices = new Map();  // group id -> index of the chosen keeper, or -1: leave the group untouched
function pathOf(item) { return item.folder ? item.folder + "/" + item.name : item.name; }
function updateSave() {
  const out = GROUPS.map((g) => {
    const c = choices.has(g.id) ? choices.get(g.id) : 0;
    return { group: g.id, members: g.items.map(pathOf), keep: c < 0 ? [] : [pathOf(g.items[c])] };
  });
  const text = JSON.stringify({ undouble_choices: 1, groups: out });
  const link = $("save");
  link.href = "data:application/json;charset=utf-8," + encodeURIComponent(text);
  link.textContent = "save choices (" + choices.size + " changed)";
  link.dataset.changed = choices.size;
}
function choose(id, index) {
  if (index === 0 || index === undefined) choices.delete(id); else choices.set(id, index);
  updateSave();
  render();
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
function bytes(n) {
  if (n < 0) return "?";
  const units = ["B", "KB", "MB", "GB"];
  let k = 0;
  while (n >= 1024 && k < 3) { n /= 1024; k++; }
  return k ? n.toFixed(1) + " " + units[k] : n + " B";
}
for (const g of GROUPS) {  // precomputed once: what filter and sort look at
  g.maxDist = Math.max(0, ...g.items.map((it) => it.distance));
  g.text = g.items.map((it) => (it.folder + "/" + it.name).toLowerCase()).join("\n");
  g.keeperFolder = g.items.length ? g.items[0].folder : "";
}

function summary() {
  const s = DATA.summary;
  const facts = [["folder", s.root || "-"], ["files scanned", s.scanned], ["skipped", s.skipped.length], ["groups", s.groups],
                 ["files in groups", s.grouped], ["files that would move", s.would_move],
                 ["method", s.method + " (hash size " + s.hash_size + ")"], ["threshold", s.threshold],
                 ["made", s.created]];
  for (const [label, value] of facts) {
    const span = el("span", null, label + ": ");
    span.appendChild(el("b", null, String(value)));
    $("summary").appendChild(span);
  }
  const box = $("skipped");
  if (!s.skipped.length) { box.remove(); return; }
  box.querySelector("summary").textContent = "Skipped files: " +
    s.skipped_reasons.map(([why, n]) => n + " " + why).join("; ");
  const list = box.querySelector("ul");
  for (const item of s.skipped) list.appendChild(el("li", null, item.path + ": " + item.reason));
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.filter = params.get("filter") || "";
  state.min = Math.max(2, parseInt(params.get("min") || "2", 10) || 2);
  state.dist = Math.max(0, parseInt(params.get("dist") || "0", 10) || 0);
  state.sort = ["order", "size", "distance", "folder"].includes(params.get("sort")) ? params.get("sort") : "order";
  state.page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  state.per = Math.max(1, parseInt(params.get("per") || "50", 10) || 50);
  for (const pair of (params.get("choose") || "").split(",").filter(Boolean)) {  // e.g. choose=3:1,7:-1
    const [id, k] = pair.split(":").map((v) => parseInt(v, 10));
    const g = GROUPS.find((x) => x.id === id);
    if (g && k >= -1 && k < g.items.length) { if (k === 0) choices.delete(id); else choices.set(id, k); }
  }
  $("filter").value = state.filter; $("min").value = state.min; $("dist").value = state.dist;
  $("sort").value = state.sort;
}
function writeHash() {
  const params = new URLSearchParams();
  if (state.filter) params.set("filter", state.filter);
  if (state.min !== 2) params.set("min", state.min);
  if (state.dist) params.set("dist", state.dist);
  if (state.sort !== "order") params.set("sort", state.sort);
  if (state.page !== 1) params.set("page", state.page);
  if (state.per !== 50) params.set("per", state.per);
  history.replaceState(null, "", "#" + params.toString());
}

function selected() {
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const chosen = GROUPS.filter((g) => g.items.length >= state.min && g.maxDist >= state.dist &&
                                      words.every((w) => g.text.includes(w)));
  const by = {
    size: (a, b) => b.items.length - a.items.length || a.id - b.id,
    distance: (a, b) => b.maxDist - a.maxDist || a.id - b.id,
    folder: (a, b) => a.keeperFolder.localeCompare(b.keeperFolder) || a.id - b.id,
  }[state.sort];
  return by ? chosen.sort(by) : chosen;
}

function figure(item, keeper, chosen) {
  const fig = el("figure", keeper ? "item keeper" : chosen ? "item chosen" : "item");
  fig.dataset.path = item.folder + "/" + item.name;
  if (item.src) {
    const img = el("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.width = item.tw; img.height = item.th;
    img.alt = item.name;
    img.src = item.src;
    fig.appendChild(img);
  } else {
    fig.appendChild(el("div", "noimg", item.error || "no thumbnail"));
  }
  const cap = el("figcaption");
  const line = (cls, text) => { const d = el("div", cls, text); cap.appendChild(d); return d; };
  if (keeper) line(null, "").appendChild(el("span", "badge", "KEEP"));
  if (chosen) line(null, "").appendChild(el("span", "badge", "KEEP (your choice)"));
  const root = DATA.summary.root;  // folders shown relative to the one in the summary
  const shown = root && item.folder.startsWith(root) ? "." + item.folder.slice(root.length) + "/" : item.folder;
  line("folder", shown).title = item.folder;
  line("name", item.name);
  line(null, item.width + "\u00d7" + item.height + " \u00b7 " + bytes(item.bytes));
  line(null, "sharpness " + (item.sharpness === null ? "?" : item.sharpness) +
       (keeper ? "" : " \u00b7 distance " + item.distance));
  if (item.relation) line("rel", item.relation);
  if (item.reason) line("reason", item.reason);
  fig.appendChild(cap);
  return fig;
}

function render() {
  const chosen = selected();
  const pages = Math.max(1, Math.ceil(chosen.length / state.per));
  state.page = Math.min(state.page, pages);
  const main = $("groups");
  main.replaceChildren();
  for (const g of chosen.slice((state.page - 1) * state.per, state.page * state.per)) {
    const section = el("section", "group");
    section.dataset.id = g.id;
    section.dataset.size = g.items.length;
    const head = el("h2", null, "Group " + g.id + " \u00b7 " + g.items.length + " images \u00b7 largest distance " +
                    g.maxDist + " \u00b7 ");
    head.appendChild(el("span", "why", "kept: " + (g.reason || "first of the group")));
    section.appendChild(head);
    const choice = choices.has(g.id) ? choices.get(g.id) : 0;
    if (choice < 0) section.classList.add("untouched");
    const leave = el("label", "leave");
    const box = el("input");
    box.type = "checkbox";
    box.checked = choice < 0;
    box.addEventListener("change", () => choose(g.id, box.checked ? -1 : 0));
    leave.append(box, " leave untouched");
    head.appendChild(leave);
    const row = el("div", "row");
    g.items.forEach((item, k) => {
      const fig = figure(item, k === 0 && choice === 0, k === choice && k > 0);
      fig.addEventListener("click", () => choose(g.id, k));
      row.appendChild(fig);
    });
    section.appendChild(row);
    main.appendChild(section);
  }
  const status = $("status");
  status.textContent = "page " + state.page + " of " + pages + " \u00b7 " + chosen.length + " of " +
                       GROUPS.length + " groups";
  status.dataset.shown = chosen.length;
  status.dataset.page = state.page;
  status.dataset.pages = pages;
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  writeHash();
  document.body.dataset.rendered = "1";
}

function fromControls() {
  state.filter = $("filter").value.trim();
  state.min = Math.max(2, parseInt($("min").value, 10) || 2);
  state.dist = Math.max(0, parseInt($("dist").value, 10) || 0);
  state.sort = $("sort").value;
  state.page = 1;
  render();
}
for (const id of ["filter", "min", "dist"]) $(id).addEventListener("input", fromControls);
$("sort").addEventListener("change", fromControls);
$("prev").addEventListener("click", () => { state.page--; render(); window.scrollTo(0, 0); });
$("next").addEventListener("click", () => { state.page++; render(); window.scrollTo(0, 0); });
window.addEventListener("hashchange", () => { readHash(); render(); });
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  if (e.key === "ArrowRight" && !$("next").disabled) $("next").click();
  if (e.key === "ArrowLeft" && !$("prev").disabled) $("prev").click();
});
summary();
readHash();
updateSave();
render();
</script>
</body>
</html>
"""
