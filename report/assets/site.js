// guidebench report: sortable and filterable tables (no dependencies; works from file://).
"use strict";

function cellValue(td) {
  // numeric sort key from data-v when present (n/a sorts last), else the text
  if (td.dataset.v !== undefined) {
    const v = parseFloat(td.dataset.v);
    return isNaN(v) ? null : v;
  }
  return td.textContent.trim().toLowerCase();
}

function compareValues(a, b) {
  if (a === null && b === null) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

function sortTable(table, col, th) {
  const body = table.tBodies[0];
  const asc = th.getAttribute("aria-sort") !== "ascending";
  for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  const rows = Array.from(body.rows);
  rows.sort((r1, r2) => {
    const a = cellValue(r1.cells[col]), b = cellValue(r2.cells[col]);
    if (a === null || b === null) return compareValues(a, b);  // n/a last in both directions
    const c = compareValues(a, b);
    return asc ? c : -c;
  });
  for (const r of rows) body.appendChild(r);
}

function makeSortable(table) {
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
    th.classList.add("sort");
    th.tabIndex = 0;
    th.addEventListener("click", () => sortTable(table, col, th));
    th.addEventListener("keydown", (ev) => { if (ev.key === "Enter") sortTable(table, col, th); });
  });
}

function applyFilters(box) {
  const table = document.getElementById(box.dataset.table);
  const selects = Array.from(box.querySelectorAll("select[data-filter]"));
  let shown = 0;
  for (const row of table.tBodies[0].rows) {
    const ok = selects.every((s) => s.value === "" || row.dataset[s.dataset.filter] === s.value);
    row.hidden = !ok;
    shown += ok ? 1 : 0;
  }
  const count = box.querySelector(".count");
  if (count) count.textContent = shown + " of " + table.tBodies[0].rows.length + " rows";
}

function setupFilters(box) {
  for (const s of box.querySelectorAll("select[data-filter]")) s.addEventListener("change", () => applyFilters(box));
  applyFilters(box);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll(".filters").forEach(setupFilters);
});
