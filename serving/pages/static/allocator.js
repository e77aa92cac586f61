/* Allocator page: constraints form -> POST /v1/recommendations -> chart, table, reasons, baselines;
   POST /v1/forecasts for the outcome curves; POST /v1/scenarios for the scenario panel; CSV and XLSX downloads.
   window.Allocator lets saved-scenarios.js read the request behind the shown result and put a saved one back into
   the form; an "allocator:recommended" event on document says a new result is shown. */
"use strict";
(function () {
  const form = document.getElementById("recommend-form");
  const state = { programs: [], groups: {}, request: null, result: null };
  const OBJECTIVES = {
    reliable_improvements: { kind: "reliable_improvements" },
    risk_averse: { kind: "risk_averse" },
    weighted: { kind: "weighted", weights: { reliable_improvements: 1, dropouts: 1 } },
  };
  const FLAG_WORDS = { at_lower_limit: "at its lower limit", at_upper_limit: "at its upper limit",
    outside_observed_range: "outside the funding it has been observed at", locked: "locked" };

  function numberOrNull(input) {
    const text = input.value.trim();
    return text === "" ? null : Number(text);
  }

  async function loadPrograms() {
    const answer = await CA.api("GET", "/v1/programs");
    const line = document.getElementById("model-line");
    if (!answer.ok) {
      line.textContent = (answer.data && answer.data.detail) || "The programmes could not be loaded.";
      line.classList.add("error");
      return;
    }
    state.programs = answer.data.programs;
    const total = state.programs.reduce(function (s, p) { return s + p.current_funding; }, 0);
    line.textContent = state.programs.length + " programmes, current total spend " + CA.fmt.money(total) +
      "; forecasts for " + answer.data.forecast_period + " from model v" + answer.data.model_version + ".";
    document.getElementById("budget").setAttribute("placeholder", String(Math.round(total)));
    state.programs.forEach(function (p) {
      Object.entries(p.groups || {}).forEach(function ([column, value]) {
        (state.groups[column] = state.groups[column] || new Set()).add(value);
      });
    });
    const body = document.querySelector("#bounds-table tbody");
    state.programs.forEach(function (p) {
      const minId = "bound-" + p.program_id + "-min", maxId = "bound-" + p.program_id + "-max";
      body.appendChild(CA.el("tr", {}, [
        CA.el("th", { scope: "row", text: p.program_id + " (" + CA.fmt.words(p.modality) + ")" }),
        CA.el("td", { text: CA.fmt.money(p.current_funding) }),
        CA.el("td", {}, [CA.el("input", { id: minId, type: "number", min: 0, step: 1000, "data-program": p.program_id, "data-bound": "min",
            "data-field": "programs." + p.program_id + ".min", "aria-label": "Minimum for " + p.program_id })]),
        CA.el("td", {}, [CA.el("input", { id: maxId, type: "number", min: 0, step: 1000, "data-program": p.program_id, "data-bound": "max",
          "data-field": "programs." + p.program_id + ".max", "aria-label": "Maximum for " + p.program_id })]),
        CA.el("td", {}, [CA.el("input", { id: "bound-" + p.program_id + "-step", type: "number", min: 0, step: 1000, "data-program": p.program_id,
          "data-bound": "step", "data-field": "programs." + p.program_id + ".step", "aria-label": "Step (one unit's cost) for " + p.program_id })]),
        CA.el("td", {}, [CA.el("input", { id: "bound-" + p.program_id + "-unit", type: "text", maxlength: 40, "data-program": p.program_id,
          "data-unit": "", "data-field": "programs." + p.program_id + ".unit", "aria-label": "Unit name (e.g. FTE) for " + p.program_id })]),
      ]));
    });
  }

  function addGroupRow() {
    const rows = document.getElementById("group-rows");
    const index = rows.children.length;
    const columns = Object.keys(state.groups).sort();
    const columnId = "group-" + index + "-column", valueId = "group-" + index + "-value", shareId = "group-" + index + "-min_share";
    const valueSelect = CA.el("select", { id: valueId, "data-field": "groups." + index + ".value" });
    function fillValues(column) {
      CA.clear(valueSelect);
      Array.from(state.groups[column] || []).sort().forEach(function (v) { valueSelect.appendChild(CA.el("option", { value: v, text: v })); });
    }
    const columnSelect = CA.el("select", { id: columnId, "data-field": "groups." + index + ".column" },
      columns.map(function (c) { return CA.el("option", { value: c, text: c }); }));
    columnSelect.addEventListener("change", function () { fillValues(columnSelect.value); });
    fillValues(columns[0]);
    const remove = CA.el("button", { type: "button", text: "Remove" });
    const row = CA.el("div", { class: "group-row", "data-group-row": "" }, [
      CA.el("div", { class: "field" }, [CA.el("label", { for: columnId, text: "Column" }), columnSelect]),
      CA.el("div", { class: "field" }, [CA.el("label", { for: valueId, text: "Value" }), valueSelect]),
      CA.el("div", { class: "field" }, [CA.el("label", { for: shareId, text: "Minimum share (%)" }),
        CA.el("input", { id: shareId, type: "number", min: 0, max: 100, step: 1, value: 5, "data-field": "groups." + index + ".min_share",
          "aria-describedby": shareId + "-error" }),
        CA.el("p", { id: shareId + "-error", class: "error", role: "alert", hidden: true })]),
      remove,
    ]);
    remove.addEventListener("click", function () { row.remove(); });
    rows.appendChild(row);
    columnSelect.focus();
  }

  function buildRequest() {
    const request = { budget_mode: document.getElementById("budget_mode").value,
      objective: OBJECTIVES[document.getElementById("objective").value],
      within_observed_range: document.getElementById("within_observed_range").checked, programs: {}, groups: [] };
    const budget = numberOrNull(document.getElementById("budget"));
    if (budget !== null) { request.budget = budget; }
    const change = numberOrNull(document.getElementById("max_change"));
    if (change !== null) { request.max_change = change / 100; }
    document.querySelectorAll("#bounds-table input[data-bound]").forEach(function (input) {
      const value = numberOrNull(input);
      if (value === null) { return; }
      const id = input.getAttribute("data-program");
      (request.programs[id] = request.programs[id] || {})[input.getAttribute("data-bound")] = value;
    });
    document.querySelectorAll("#bounds-table input[data-unit]").forEach(function (input) {
      const id = input.getAttribute("data-program");
      if (input.value.trim() !== "" && request.programs[id] && request.programs[id].step !== undefined) { request.programs[id].unit = input.value.trim(); }
    });
    document.querySelectorAll("[data-group-row]").forEach(function (row) {
      const selects = row.querySelectorAll("select");
      const share = numberOrNull(row.querySelector("input"));
      request.groups.push({ column: selects[0].value, value: selects[1].value, min_share: share === null ? null : share / 100 });
    });
    return request;
  }

  /* Put a request (as buildRequest makes it) back into the form; returns the parts the form cannot show. */
  function fillForm(request) {
    const unshown = [];
    document.getElementById("budget").value = request.budget === null || request.budget === undefined ? "" : String(request.budget);
    document.getElementById("budget_mode").value = request.budget_mode || "exact";
    const change = request.max_change;
    document.getElementById("max_change").value = change === null || change === undefined ? "" : String(Math.round(change * 10000) / 100);
    const objective = request.objective || { kind: "reliable_improvements" };
    document.getElementById("objective").value = OBJECTIVES[objective.kind] ? objective.kind : "reliable_improvements";
    if (objective.kind === "weighted" && JSON.stringify(objective.weights) !== JSON.stringify(OBJECTIVES.weighted.weights)) {
      unshown.push("the objective's own weights");
    }
    document.getElementById("within_observed_range").checked = Boolean(request.within_observed_range);
    document.querySelectorAll("#bounds-table input").forEach(function (input) { input.value = ""; });
    Object.entries(request.programs || {}).forEach(function ([id, limits]) {
      ["min", "max", "step"].forEach(function (bound) {
        const input = document.querySelector('#bounds-table input[data-program="' + CSS.escape(id) + '"][data-bound="' + bound + '"]');
        if (limits[bound] === null || limits[bound] === undefined) { return; }
        if (input) { input.value = String(limits[bound]); } else { unshown.push("bounds of " + id + " (not in the loaded model)"); }
      });
      const unit = document.querySelector('#bounds-table input[data-program="' + CSS.escape(id) + '"][data-unit]');
      if (unit && limits.unit) { unit.value = limits.unit; }
      if (limits.locked || limits.no_decrease || limits.min_viable) { unshown.push("other limits of " + id); }
    });
    CA.clear(document.getElementById("group-rows"));
    (request.groups || []).forEach(function (group) {
      if (!state.groups[group.column] || !state.groups[group.column].has(group.value)) {
        unshown.push("the group " + group.column + " = " + group.value);
        return;
      }
      addGroupRow();
      const row = document.querySelector("[data-group-row]:last-child");
      const selects = row.querySelectorAll("select");
      selects[0].value = group.column;
      selects[0].dispatchEvent(new Event("change"));
      selects[1].value = group.value;
      row.querySelector("input").value = group.min_share === null || group.min_share === undefined ? "" : String(Math.round(group.min_share * 10000) / 100);
      if (group.max_share !== null && group.max_share !== undefined) { unshown.push("the maximum share of " + group.column + " = " + group.value); }
    });
    if ((request.resources || []).length) { unshown.push("resource limits"); }
    if (Object.keys(request.scenarios || {}).length) { unshown.push("named scenarios"); }
    return unshown;
  }

  function explain(result) {
    const list = document.getElementById("explanation");
    CA.clear(list);
    const plan = result.totals.plan, now = result.totals.status_quo;
    const gain = plan.reliable_improvements - now.reliable_improvements;
    list.appendChild(CA.el("li", { text: "The plan is expected to give " + CA.fmt.num(plan.reliable_improvements, 1) +
      " reliable improvements next period, " + (gain >= 0 ? CA.fmt.num(gain, 1) + " more" : CA.fmt.num(-gain, 1) + " fewer") +
      " than keeping today's split (" + CA.fmt.num(now.reliable_improvements, 1) + "); it beats the status quo in " +
      CA.fmt.chance(result.probability_beats_status_quo) + " of forecast-error draws." }));
    if (result.shadow_price !== null) {
      list.appendChild(CA.el("li", { text: "Each extra " + CA.fmt.money(1000) + " of budget would add about " + CA.fmt.num(result.shadow_price, 3) +
        " of the objective; that is what the budget constraint costs." }));
    }
    const ranked = result.allocations.filter(function (a) { return a.marginal_gain_per_1000 !== null; })
      .sort(function (a, b) { return b.marginal_gain_per_1000 - a.marginal_gain_per_1000; });
    if (ranked.length > 1) {
      const best = ranked[0], worst = ranked[ranked.length - 1];
      list.appendChild(CA.el("li", { text: "At the recommended split, the next " + CA.fmt.money(1000) + " does most in " + best.program_id + " (+" +
        CA.fmt.num(best.marginal_gain_per_1000, 3) + ") and least in " + worst.program_id + " (+" + CA.fmt.num(worst.marginal_gain_per_1000, 3) +
        "); where these differ, a limit stops the money moving further." }));
    }
    if (result.binding_constraints.length) {
      list.appendChild(CA.el("li", {}, ["Limits the plan sits on (relaxing them could do better):",
        CA.el("ul", {}, result.binding_constraints.map(function (text) { return CA.el("li", { text: text }); }))]));
    } else {
      list.appendChild(CA.el("li", { text: "No limit is binding: the split is where the marginal gains balance." }));
    }
    if (result.outside_observed_range.length) {
      list.appendChild(CA.el("li", { class: "error", text: "Funding outside what has been observed (forecasts less certain): " +
        result.outside_observed_range.join(", ") + "." }));
    }
  }

  /* Sum of the programmes' funding increases: the money the plan takes from some programmes and gives to others
     (with an exact budget equal to today's spend, also the sum of the cuts). */
  function moneyMoved(result) {
    return result.allocations.reduce(function (sum, a) { return sum + Math.max(0, a.change); }, 0);
  }

  function tile(key, label, value, note) {
    return CA.el("div", { class: "kpi", "data-kpi": key }, [CA.el("p", { class: "kpi-label", text: label }),
      CA.el("p", { class: "kpi-value", text: value }), note ? CA.el("p", { class: "kpi-note" }, [].concat(note)) : null]);
  }

  function improvementsTile(key, label, totals) {
    return tile(key, label, CA.fmt.num(totals.reliable_improvements, 1), ["reliable improvements, ",
      CA.el("span", { class: "nowrap", text: CA.fmt.num(totals.reliable_improvements_lower, 1) + " – " + CA.fmt.num(totals.reliable_improvements_upper, 1) })]);
  }

  function renderTiles(result) {
    const holder = document.getElementById("kpis");
    CA.clear(holder);
    const plan = result.totals.plan, now = result.totals.status_quo;
    const gain = plan.reliable_improvements - now.reliable_improvements;
    holder.appendChild(tile("budget", "Total budget", CA.fmt.money(result.budget), CA.fmt.words(result.budget_mode) +
      (CA.fmt.currency ? ", " + CA.fmt.currency : "")));
    holder.appendChild(improvementsTile("plan", "The plan", plan));
    holder.appendChild(improvementsTile("status_quo", "Status quo", now));
    holder.appendChild(tile("gain", "Gain over the status quo", (gain > 0 ? "+" : "") + CA.fmt.num(gain, 1),
      "beats it in " + CA.fmt.chance(result.probability_beats_status_quo) + " of forecast-error draws"));
    holder.appendChild(tile("moved", "Money moved", CA.fmt.money(moneyMoved(result)), "sum of the increases"));
  }

  function renderResult(result) {
    state.result = result;
    document.getElementById("results").hidden = false;
    renderTiles(result);
    document.getElementById("summary").textContent = "Budget " + CA.fmt.money(result.budget) + " (" + CA.fmt.words(result.budget_mode) +
      "), objective: " + CA.fmt.words(result.objective.description || result.objective.kind) + ". Model v" + result.model_version +
      ", forecasts for " + result.provenance.forecast_period + ".";
    Charts.pairedBars(document.getElementById("allocation-chart"), result.allocations.map(function (a) {
      return { label: a.program_id, current: a.current_funding, recommended: a.recommended_funding };
    }), "Current and recommended funding per programme");
    document.getElementById("moves-detail").textContent = "";
    Charts.divergingBars(document.getElementById("moves-chart"), result.allocations.map(function (a) {
      return { label: a.program_id, value: a.change, title: a.program_id + ": " + CA.fmt.signedMoney(a.change) + " (" +
        CA.fmt.signedPct(a.change_pct) + "), " + CA.fmt.money(a.current_funding) + " → " + CA.fmt.money(a.recommended_funding) };
    }), { label: "Change in funding per programme, sorted by change", axisTitle: "Change in funding (" + (CA.fmt.currency || "money") + ")" });
    const body = document.querySelector("#allocation-table tbody");
    CA.clear(body);
    result.allocations.forEach(function (a) {
      const ri = a.expected_reliable_improvements;
      body.appendChild(CA.el("tr", { "data-program": a.program_id }, [
        CA.el("th", { scope: "row", text: a.program_id }),
        CA.el("td", { "data-sort-value": a.current_funding, text: CA.fmt.money(a.current_funding) }),
        CA.el("td", { "data-sort-value": a.recommended_funding, text: CA.fmt.money(a.recommended_funding) }),
        CA.el("td", { "data-sort-value": a.units === null || a.units === undefined ? "" : a.units, text: a.units_label || "" }),
        CA.el("td", { class: a.change > 0 ? "up" : a.change < 0 ? "down" : "", "data-sort-value": a.change_pct, text: CA.fmt.signedPct(a.change_pct) }),
        CA.el("td", { "data-sort-value": ri.value, text: CA.fmt.num(ri.value, 1) }),
        CA.el("td", { "data-sort-value": ri.lower, text: CA.fmt.num(ri.lower, 1) + " – " + CA.fmt.num(ri.upper, 1) }),
        CA.el("td", { "data-sort-value": a.marginal_gain_per_1000, text: CA.fmt.num(a.marginal_gain_per_1000, 3) }),
        CA.el("td", { class: "text", text: a.flags.map(function (f) { return FLAG_WORDS[f] || CA.fmt.words(f); }).join("; ") }),
      ]));
    });
    allocationSort.apply();
    renderBreakdown(result);
    explain(result);
    const baselines = document.querySelector("#baselines-table tbody");
    CA.clear(baselines);
    baselines.appendChild(CA.el("tr", {}, [CA.el("th", { scope: "row", text: "recommended" }),
      CA.el("td", { "data-sort-value": result.objective_value, text: CA.fmt.num(result.objective_value, 1) }), CA.el("td", { class: "text", text: "this page's plan" })]));
    result.baselines.forEach(function (b) {
      baselines.appendChild(CA.el("tr", {}, [CA.el("th", { scope: "row", text: CA.fmt.words(b.name) }),
        CA.el("td", b.feasible ? { "data-sort-value": b.objective_value, text: CA.fmt.num(b.objective_value, 1) } : { "data-sort-value": "", text: "not feasible" }),
        CA.el("td", { class: "text", text: (b.adjusted ? "moved onto the constraints. " : "") + b.notes.join(" ") })]));
    });
    baselinesSort.apply();
    renderScenarioInputs(result);
    loadCurves(result);
  }

  async function loadCurves(result) {
    const section = document.getElementById("curves-section");
    const holder = document.getElementById("curves");
    const multiples = [];
    for (let i = 0; i <= 30; i += 1) { multiples.push(i / 10); }
    const ids = result.allocations.slice(0, 100).map(function (a) { return a.program_id; });
    const answer = await CA.api("POST", "/v1/forecasts", { programs: ids.map(function (id) { return { program_id: id, multiples: multiples }; }) });
    section.hidden = false;
    CA.clear(holder);
    if (!answer.ok) {
      holder.appendChild(CA.el("p", { class: "error", role: "alert", text: answer.data.detail || "The curves could not be loaded." }));
      return;
    }
    const byId = {};
    result.allocations.forEach(function (a) { byId[a.program_id] = a; });
    answer.data.forecasts.forEach(function (f) {
      const a = byId[f.program_id];
      const chart = CA.el("div", { class: "chart" });
      holder.appendChild(CA.el("figure", { class: "curve", "data-program": f.program_id }, [CA.el("h4", { text: f.program_id }), chart]));
      Charts.outcomeCurve(chart, {
        label: "Outcome curve of " + f.program_id,
        points: f.points.map(function (p) { return { funding: p.funding, value: p.reliable_improvements.value, lower: p.reliable_improvements.lower, upper: p.reliable_improvements.upper }; }),
        observedMin: f.observed_min_funding, observedMax: f.observed_max_funding,
        current: a.current_funding, currentValue: a.metrics_current.reliable_improvements,
        recommended: a.recommended_funding, recommendedValue: a.metrics_recommended.reliable_improvements,
      });
    });
  }

  /* A clinic x category plan read by clinic: one row per value of a grouping column (site_id first when some
     site holds several programmes), one column per category (modality) with its recommended funding and change,
     then the group's total and its whole units per unit name. Offered only when some group holds several cells. */
  function breakdownColumns() {
    return Object.keys(state.groups).sort(function (a, b) { return (b === "site_id") - (a === "site_id") || a.localeCompare(b); })
      .filter(function (column) { return state.groups[column].size < state.programs.length; });
  }

  function renderBreakdown(result) {
    const holder = document.getElementById("breakdown");
    const select = document.getElementById("breakdown-column");
    const columns = breakdownColumns();
    holder.hidden = columns.length === 0;
    if (!columns.length) { return; }
    if (select.options.length !== columns.length) {
      const chosen = select.value;
      CA.clear(select);
      columns.forEach(function (c) { select.appendChild(CA.el("option", { value: c, text: CA.fmt.words(c) })); });
      if (columns.includes(chosen)) { select.value = chosen; }
    }
    const column = select.value;
    document.getElementById("breakdown-name").textContent = CA.fmt.words(column);
    const byId = {};
    state.programs.forEach(function (p) { byId[p.program_id] = p; });
    const categories = Array.from(new Set(state.programs.map(function (p) { return p.modality; }))).sort();
    const groups = {};
    result.allocations.forEach(function (a) {
      const p = byId[a.program_id];
      if (!p) { return; }
      const key = (p.groups || {})[column];
      const g = groups[key] = groups[key] || { cells: {}, current: 0, recommended: 0, units: {} };
      const cell = g.cells[p.modality] = g.cells[p.modality] || { current: 0, recommended: 0 };
      cell.current += a.current_funding; cell.recommended += a.recommended_funding;
      g.current += a.current_funding; g.recommended += a.recommended_funding;
      if (a.units !== null && a.units !== undefined) { g.units[a.unit || "units"] = (g.units[a.unit || "units"] || 0) + a.units; }
    });
    const table = document.getElementById("breakdown-table");
    CA.clear(table.tHead);
    table.tHead.appendChild(CA.el("tr", {}, [CA.el("th", { scope: "col", "data-sort": "text", text: CA.fmt.words(column) })]
      .concat(categories.map(function (c) { return CA.el("th", { scope: "col", "data-sort": "number", text: CA.fmt.words(c) }); }))
      .concat([CA.el("th", { scope: "col", "data-sort": "number", text: "Total" }), CA.el("th", { scope: "col", "data-sort": "number", text: "Change" }),
        CA.el("th", { scope: "col", class: "text", text: "Whole units" })])));
    const body = table.tBodies[0];
    CA.clear(body);
    Object.keys(groups).sort().forEach(function (key) {
      const g = groups[key];
      const change = g.current > 0 ? g.recommended / g.current - 1 : null;
      body.appendChild(CA.el("tr", { "data-group": key }, [CA.el("th", { scope: "row", text: key })]
        .concat(categories.map(function (c) {
          const cell = g.cells[c];
          if (!cell) { return CA.el("td", { "data-sort-value": "", text: "" }); }
          const moved = cell.current > 0 ? cell.recommended / cell.current - 1 : null;
          return CA.el("td", { "data-sort-value": cell.recommended, "data-category": c, text: CA.fmt.money(cell.recommended) + " (" + CA.fmt.signedPct(moved) + ")" });
        }))
        .concat([CA.el("td", { "data-sort-value": g.recommended, text: CA.fmt.money(g.recommended) }),
          CA.el("td", { class: change > 0 ? "up" : change < 0 ? "down" : "", "data-sort-value": change === null ? "" : change, text: CA.fmt.signedPct(change) }),
          CA.el("td", { class: "text", text: Object.entries(g.units).map(function ([unit, n]) { return n + " " + unit; }).join(", ") })])));
    });
    CA.sortable(table);
  }

  function renderScenarioInputs(result) {
    document.getElementById("scenario-section").hidden = false;
    document.getElementById("comparison-table").hidden = true;
    const body = document.querySelector("#scenario-table tbody");
    CA.clear(body);
    result.allocations.forEach(function (a) {
      const id = "scenario-" + a.program_id;
      body.appendChild(CA.el("tr", {}, [
        CA.el("th", { scope: "row" }, [CA.el("label", { for: id, text: a.program_id })]),
        CA.el("td", { text: CA.fmt.money(a.recommended_funding) }),
        CA.el("td", {}, [CA.el("input", { id: id, type: "number", min: 0, step: 1000, value: Math.round(a.recommended_funding),
          "data-program": a.program_id, "data-field": "scenarios.your_scenario." + a.program_id })]),
      ]));
    });
  }

  async function compare(event) {
    event.preventDefault();
    const scope = document.getElementById("scenario-form");
    const banner = document.getElementById("scenario-error");
    CA.clearProblems(scope);
    const mine = {}, recommended = {};
    let blank = null;
    document.querySelectorAll("#scenario-table input").forEach(function (input) {
      const value = numberOrNull(input);
      if (value === null && !blank) { blank = input; }
      if (value !== null) { mine[input.getAttribute("data-program")] = value; }
    });
    if (blank) {
      CA.showProblem({ detail: "Every programme needs an amount.", errors: [{ field: blank.getAttribute("data-field"), message: "enter an amount for " + blank.getAttribute("data-program") }] }, scope, banner);
      return;
    }
    state.result.allocations.forEach(function (a) { recommended[a.program_id] = a.recommended_funding; });
    CA.setStatus("scenario-status", "Comparing…");
    const answer = await CA.api("POST", "/v1/scenarios", { scenarios: { recommended: recommended, your_scenario: mine }, objective: state.request.objective });
    CA.setStatus("scenario-status", "");
    if (!answer.ok) { CA.showProblem(answer.data, scope, banner); return; }
    const table = document.getElementById("comparison-table");
    const body = table.querySelector("tbody");
    CA.clear(body);
    [["status_quo", "status quo"], ["recommended", "recommended"], ["your_scenario", "your scenario"]].forEach(function ([key, label]) {
      const plan = answer.data.scenarios[key];
      body.appendChild(CA.el("tr", { "data-plan": key }, [CA.el("th", { scope: "row", text: label }),
        CA.el("td", { "data-sort-value": plan.totals.funding, text: CA.fmt.money(plan.totals.funding) }),
        CA.el("td", { "data-sort-value": plan.totals.reliable_improvements, text: CA.fmt.num(plan.totals.reliable_improvements, 1) }),
        CA.el("td", { "data-sort-value": plan.totals.dropouts, text: CA.fmt.num(plan.totals.dropouts, 1) }),
        CA.el("td", { "data-sort-value": plan.totals.episodes, text: CA.fmt.num(plan.totals.episodes, 0) })]));
    });
    comparisonSort.apply();
    const yours = answer.data.scenarios.your_scenario, rec = answer.data.scenarios.recommended;
    const diff = yours.totals.reliable_improvements - rec.totals.reliable_improvements;
    table.querySelector("caption").textContent = "Your scenario gives " + CA.fmt.num(Math.abs(diff), 1) + (diff >= 0 ? " more" : " fewer") +
      " expected reliable improvements than the recommendation, for " + CA.fmt.money(yours.totals.funding - rec.totals.funding) + " more funding.";
    table.hidden = false;
    CA.setStatus("scenario-status", "Compared.");
  }

  async function submit(event) {
    event.preventDefault();
    const banner = document.getElementById("form-error");
    CA.clearProblems(form);
    const request = buildRequest();
    const button = document.getElementById("recommend");
    button.disabled = true;
    CA.setStatus("recommend-status", "Working out the best split…");
    const answer = await CA.api("POST", "/v1/recommendations", request);
    button.disabled = false;
    CA.setStatus("recommend-status", "");
    if (!answer.ok) {
      if (answer.data && answer.data.conflicts) {
        answer.data.errors = (answer.data.errors || []).concat(answer.data.conflicts.map(function (c) { return { field: "", message: c }; }));
      }
      CA.showProblem(answer.data, form, banner);
      return;
    }
    state.request = request;
    renderResult(answer.data);
    CA.setStatus("recommend-status", "Done.");
    document.dispatchEvent(new CustomEvent("allocator:recommended"));
    document.getElementById("results-title").focus();
  }

  /* The CSV, the XLSX and the report (the same plan, rendered by the service as `carealloc report` renders it). */
  async function download(path, extension) {
    CA.setStatus("download-status", "Preparing…");
    const answer = await CA.api("POST", path, state.request, { blob: true });
    if (!answer.ok) { CA.setStatus("download-status", (answer.data && answer.data.detail) || "Download failed."); return; }
    const url = URL.createObjectURL(answer.blob);
    const link = CA.el("a", { href: url, download: "allocation-v" + state.result.model_version + extension, hidden: true });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    CA.setStatus("download-status", "Downloaded " + Math.round(answer.blob.size / 100) / 10 + " kB.");
  }

  const allocationSort = CA.sortable(document.getElementById("allocation-table"));
  const baselinesSort = CA.sortable(document.getElementById("baselines-table"));
  const comparisonSort = CA.sortable(document.getElementById("comparison-table"));
  /* A bar's hover title never shows on a touch screen; a tap writes it under the chart instead. */
  document.getElementById("moves-chart").addEventListener("click", function (event) {
    const bar = event.target.closest("rect[data-label]");
    if (bar) { document.getElementById("moves-detail").textContent = bar.querySelector("title").textContent; }
  });
  document.getElementById("results-title").setAttribute("tabindex", "-1");
  document.getElementById("add-group").addEventListener("click", addGroupRow);
  document.getElementById("breakdown-column").addEventListener("change", function () { if (state.result) { renderBreakdown(state.result); } });
  document.getElementById("scenario-form").addEventListener("submit", compare);
  document.getElementById("download-csv").addEventListener("click", function () {
    download("/pages/allocator/allocation.csv", ".csv");
  });
  document.getElementById("download-xlsx").addEventListener("click", function () {
    download("/pages/allocator/allocation.xlsx", ".xlsx");
  });
  document.getElementById("download-report").addEventListener("click", function () {
    download("/v1/reports?format=pdf", "-report.pdf");
  });
  form.addEventListener("submit", submit);
  window.Allocator = {
    currentRequest: function () { return state.request; },
    fillForm: fillForm,
    ready: loadPrograms(),  /* the form can be filled once the programmes and their groups are known */
  };
})();
