"""The CSS and JavaScript that ``report.html`` carries inline, so that it works offline.

The script needs no library: it sorts a table when a header is clicked (by each cell's ``data-v``
number when it has one, else by its text, numbers inside text compared as numbers, empty cells last
either way), and hides the rows that do not hold every word typed in the table's filter box.
"""

from __future__ import annotations

STYLE = """
:root { --line: #d0d4da; --head: #eef1f5; --best: #d5f0d5; --bad: #a00; --link: #1a56a0; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1em 2em 4em;
  max-width: 1500px; color: #1d2329; }
h1 { font-size: 1.5em; font-weight: 600; margin-bottom: 0.2em; word-break: break-all; }
h2 { font-size: 1.2em; font-weight: 600; margin-top: 2em; border-bottom: 1px solid var(--line);
  padding-bottom: 0.2em; }
a { color: var(--link); }
pre.command { background: #f6f8fa; border: 1px solid var(--line); padding: 0.6em 0.8em;
  white-space: pre-wrap; word-break: break-all; font-size: 13px; }
nav#toc { background: #f6f8fa; border: 1px solid var(--line); padding: 0.4em 1em;
  display: inline-block; }
nav#toc ol { margin: 0.3em 0; padding-left: 1.4em; }
dl.settings { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1.2em; }
dl.settings dt { font-family: monospace; color: #555; }
dl.settings dd { margin: 0; font-family: monospace; }
.scroll { overflow-x: auto; max-width: 100%; }
table.table { border-collapse: collapse; font-size: 12.5px; margin: 0.4em 0 1em; }
table.table th, table.table td { border: 1px solid var(--line); padding: 3px 7px;
  text-align: left; vertical-align: top; }
table.table td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.table th { background: var(--head); position: sticky; top: 0; z-index: 1; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th:hover { background: #dde3ea; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 0.8em; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; font-size: 0.8em; }
table.table tbody tr:nth-child(even) { background: #fafbfc; }
table.table tbody tr:hover { background: #fff6d8; }
table.table td.best, .best-key { background: var(--best); font-weight: 600; }
.filterbar { margin: 0.8em 0 0; font-size: 12.5px; color: #555; }
.filterbar input { font: inherit; padding: 2px 6px; width: 22em; margin-right: 0.8em; }
td.figs { min-width: 400px; }
td.figs a { display: inline-block; margin: 0 3px 3px 0; }
td.figs a.thumb { width: 66px; text-align: center; vertical-align: top; font-size: 10px;
  line-height: 1.15; overflow-wrap: anywhere; text-decoration: none; }
img.thumb { height: 48px; width: 64px; object-fit: contain; border: 1px solid var(--line);
  background: #fff; }
td.files a { margin-right: 0.5em; white-space: nowrap; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr));
  gap: 1.2em; }
figure { margin: 0; }
figure img { max-width: 100%; max-height: 560px; border: 1px solid var(--line);
  background: #fff; }
figcaption { font-size: 12.5px; color: #444; }
.bad { color: var(--bad); }
.note { color: #555; font-size: 12.5px; }
"""

SCRIPT = """
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v !== null) {
      return v === "" ? null : Number(v);
    }
    var text = cell.textContent.trim();
    return text === "" ? null : text;
  }
  function sortBy(table, index, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row) { return key(row.cells[index]); });
    var numeric = keys.every(function (k) { return k === null || typeof k === "number"; });
    var order = rows.map(function (row, i) { return i; });
    order.sort(function (a, b) {
      var x = keys[a], y = keys[b];
      if (x === null || y === null) {
        return (x === null) - (y === null);  // empty cells last, in either direction
      }
      var c = numeric ? x - y : collator.compare(String(x), String(y));
      return descending ? -c : c;
    });
    order.forEach(function (i) { body.appendChild(rows[i]); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, index) {
      th.tabIndex = 0;
      th.title = "sort by this column (click again to reverse)";
      function go() {
        var descending = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortBy(table, index, descending);
      }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); }
      });
    });
  });
  // A filter box per table: a row stays shown when its text holds every word typed.
  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    var count = input.nextElementSibling;
    function apply() {
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var rows = table.tBodies[0].rows, shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var text = row.textContent.toLowerCase();
        var keep = words.every(function (w) { return text.indexOf(w) >= 0; });
        row.hidden = !keep;
        shown += keep ? 1 : 0;
      });
      count.textContent = shown + " of " + rows.length + " rows";
    }
    input.addEventListener("input", apply);
    apply();
  });
})();
"""
