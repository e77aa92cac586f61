/* Shared by every page: calls to the JSON API with the session's CSRF token, safe DOM building, number
   formatting, and showing RFC 9457 problem documents next to the field they name. No framework, no inline code. */
"use strict";
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";

  /* fetch() with the session cookie and CSRF header; always resolves to {ok, status, data, blob}. */
  async function api(method, path, body, options) {
    const opts = options || {};
    const headers = { "X-CSRF-Token": csrf, "Accept": "application/json" };
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, { method: method, headers: headers, body: payload, credentials: "same-origin" });
    } catch (err) {
      return { ok: false, status: 0, data: { title: "Network error", detail: "The service could not be reached; check your connection and try again." } };
    }
    if (response.status === 401) {
      window.location.assign("/signin?next=" + encodeURIComponent(window.location.pathname));
    }
    const type = response.headers.get("content-type") || "";
    if (response.ok && opts.blob) {
      return { ok: true, status: response.status, blob: await response.blob(), data: null };
    }
    let data = null;
    if (type.indexOf("json") >= 0) {
      try { data = await response.json(); } catch (err) { data = null; }
    }
    if (!response.ok && !data) {
      data = { title: response.statusText || "Error", detail: "The service answered " + response.status + "." };
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  /* el("td", {class: "x"}, ["text", child]) - text always goes in as text, never parsed as HTML. */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (value === null || value === undefined || value === false) { return; }
      if (key === "text") { node.textContent = String(value); } else { node.setAttribute(key, value === true ? "" : String(value)); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  /* A page that names a currency (<meta name="currency">, from the service's settings) shows money in it; the
     others show plain whole numbers. */
  const currencyMeta = document.querySelector('meta[name="currency"]');
  const currency = currencyMeta ? currencyMeta.getAttribute("content") : "";
  const moneyFormat = currency ? new Intl.NumberFormat("en-US", { style: "currency", currency: currency, maximumFractionDigits: 0 })
    : new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const signedMoneyFormat = new Intl.NumberFormat("en-US", currency ? { style: "currency", currency: currency, maximumFractionDigits: 0,
    signDisplay: "exceptZero" } : { maximumFractionDigits: 0, signDisplay: "exceptZero" });

  const fmt = {
    currency: currency,
    money: function (x) { return x === null || x === undefined ? "–" : moneyFormat.format(Math.round(x)); },
    signedMoney: function (x) { return x === null || x === undefined ? "–" : signedMoneyFormat.format(Math.round(x)); },
    num: function (x, digits) { return x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US", { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 }); },
    pct: function (x, digits) { return x === null || x === undefined ? "–" : (100 * x).toFixed(digits === undefined ? 0 : digits) + " %"; },
    /* A stated chance stops at 1 % and 99 % (usecases/confidence.py CHANCE_FLOOR says why). */
    chance: function (x) {
      if (x === null || x === undefined) { return "–"; }
      return x > 0.99 ? "> 99 %" : x < 0.01 ? "< 1 %" : (100 * x).toFixed(0) + " %";
    },
    signedPct: function (x) { return x === null || x === undefined ? "–" : (x > 0 ? "+" : "") + (100 * x).toFixed(1) + " %"; },
    words: function (text) { return String(text).replace(/_/g, " "); },
    /* A model metric rounded to two significant digits below 1 (0.6284 -> 0.63, ECE 0.0167 -> 0.017, 0.0122 ->
       0.012: small errors stay distinguishable) and to two decimals above; the full value goes in a title. */
    metric: function (x) {
      if (x === null || x === undefined) { return "–"; }
      const a = Math.abs(x);
      if (a === 0 || a >= 1) { return Number(x).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }
      return String(Number(Number(x).toPrecision(2)));
    },
  };

  /* Remove every message a previous problem put into `scope`. */
  function clearProblems(scope) {
    scope.querySelectorAll(".error").forEach(function (node) { node.hidden = true; clear(node); });
    scope.querySelectorAll('[aria-invalid="true"]').forEach(function (node) { node.removeAttribute("aria-invalid"); });
  }

  /* Where a problem's field path is shown: body.programs.P001.min -> the element with
     data-field="programs.P001.min" if it has a message slot, else the nearest shorter prefix that has one
     (programs.P001, programs). Returns {target: most specific field found, slot: where the text goes}. */
  function fieldPlace(scope, path) {
    const parts = String(path || "").replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean);
    if (parts[0] === "body") { parts.shift(); }
    const fields = Array.from(scope.querySelectorAll("[data-field]"));
    let target = null;
    for (let n = parts.length; n > 0; n -= 1) {
      const name = parts.slice(0, n).join(".");
      const found = fields.find(function (node) { return node.getAttribute("data-field") === name; });
      if (!found) { continue; }
      target = target || found;
      const slot = found.classList.contains("error") ? found : (found.id ? document.getElementById(found.id + "-error") : null);
      if (slot) { return { target: target, slot: slot }; }
    }
    return { target: target, slot: null };
  }

  function appendMessage(slot, text) {
    slot.hidden = false;
    slot.appendChild(el("span", { class: "message" }, [(slot.childNodes.length ? " " : "") + text]));
  }

  /* Show a problem document: each error beside its field, anything unplaced (and the detail) in `banner`. */
  function showProblem(problem, scope, banner) {
    clearProblems(scope);
    const data = problem || {};
    const leftovers = [];
    let placed = 0;
    (data.errors || []).forEach(function (error) {
      const place = fieldPlace(scope, error.field);
      if (place.target && !place.target.classList.contains("error")) { place.target.setAttribute("aria-invalid", "true"); }
      if (place.slot) {
        appendMessage(place.slot, error.message);
        const details = place.slot.closest("details");
        if (details) { details.open = true; }
        placed += 1;
      } else {
        leftovers.push((error.field ? error.field + ": " : "") + error.message);
      }
    });
    if (banner && (placed === 0 || leftovers.length)) {
      banner.hidden = false;
      banner.appendChild(el("span", { text: data.detail || data.title || "Something went wrong." }));
      if (leftovers.length) {
        banner.appendChild(el("ul", {}, leftovers.map(function (text) { return el("li", { text: text }); })));
      }
    }
    const first = scope.querySelector('[aria-invalid="true"]');
    if (first) { first.focus(); }
  }

  /* Sortable columns: each <th data-sort="number|text"> of the table's head becomes a button that sorts the body
     by that column (ascending first, again for descending) and says so in aria-sort. A cell sorts by its
     data-sort-value when it has one (the number behind "$1,234" or "+4.0 %"), else by its text; empty values go
     last either way. Returns {apply}, to sort again after the body is refilled. */
  function sortable(table) {
    const heads = Array.from(table.tHead.rows[0].cells);
    const state = { column: null, ascending: true };
    function valueOf(row, kind) {
      const cell = row.cells[state.column];
      const raw = cell ? (cell.hasAttribute("data-sort-value") ? cell.getAttribute("data-sort-value") : cell.textContent.trim()) : "";
      if (raw === "") { return null; }
      if (kind !== "number") { return raw; }
      const number = Number(raw);
      return Number.isFinite(number) ? number : null;
    }
    function apply() {
      heads.forEach(function (th, i) {
        const mark = th.querySelector(".sort-mark");
        if (!mark) { return; }
        if (i === state.column) { th.setAttribute("aria-sort", state.ascending ? "ascending" : "descending"); } else { th.removeAttribute("aria-sort"); }
        mark.textContent = i === state.column ? (state.ascending ? "▲" : "▼") : "↕";
      });
      if (state.column === null) { return; }
      const kind = heads[state.column].getAttribute("data-sort");
      const body = table.tBodies[0];
      const keyed = Array.from(body.rows).map(function (row, index) { return { row: row, key: valueOf(row, kind), index: index }; });
      keyed.sort(function (a, b) {
        if (a.key === null || b.key === null) { return (a.key === null) - (b.key === null) || a.index - b.index; }
        const order = kind === "number" ? a.key - b.key : String(a.key).localeCompare(String(b.key), "en", { numeric: true });
        return (state.ascending ? order : -order) || a.index - b.index;
      });
      keyed.forEach(function (k) { body.appendChild(k.row); });
    }
    heads.forEach(function (th, i) {
      if (!th.hasAttribute("data-sort")) { return; }
      const button = el("button", { type: "button", class: "sort" }, [th.textContent.trim(), "\u00a0", el("span", { class: "sort-mark", "aria-hidden": "true" })]);
      clear(th);
      th.appendChild(button);
      button.addEventListener("click", function () {
        state.ascending = state.column === i ? !state.ascending : true;
        state.column = i;
        apply();
      });
    });
    apply();
    return { apply: apply };
  }

  function setStatus(id, text) {
    const node = document.getElementById(id);
    if (node) { node.textContent = text; }
  }

  window.CA = { api: api, el: el, clear: clear, fmt: fmt, sortable: sortable, showProblem: showProblem, clearProblems: clearProblems, setStatus: setStatus };
})();
