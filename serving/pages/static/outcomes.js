/* Outcomes page: GET /v1/review/latest (alerts, proposal), /v1/review/kpis (trends) and the plans issued for each
   quarter (/v1/review/plans), whose forecasts are drawn over what was then measured. */
"use strict";
(function () {
  const RATE_FORECASTS = { reliable_improvement_rate: "reliable_improvements", dropout_rate: "dropouts" };
  const SHARES = new Set(["reliable_improvement_rate", "dropout_rate", "recovery_rate", "reach"]);
  let plans = null;  // forecast_period -> plan (the newest issued for that quarter)

  function row(cells) { return CA.el("tr", {}, cells.map(function (c) { return CA.el("td", { class: c[1] || "", text: c[0] }); })); }

  async function loadPlans() {
    if (plans !== null) { return plans; }
    plans = {};
    const listing = await CA.api("GET", "/v1/review/plans");
    if (!listing.ok) { return plans; }
    const newest = {};
    listing.data.forEach(function (p) { if (!newest[p.forecast_period]) { newest[p.forecast_period] = p.plan_id; } });
    const periods = Object.keys(newest).sort().slice(-8);
    const answers = await Promise.all(periods.map(function (period) { return CA.api("GET", "/v1/review/plans/" + encodeURIComponent(newest[period])); }));
    answers.forEach(function (a) { if (a.ok) { plans[a.data.forecast_period] = a.data; } });
    return plans;
  }

  function forecastFor(plan, programId, kpi) {
    if (!plan) { return null; }
    const of = function (metric) { return plan.forecasts.find(function (f) { return f.program_id === programId && f.metric === metric; }); };
    if (kpi === "episodes") {
      const e = of("episodes");
      return e && e.value !== null ? { value: e.value, lower: e.lower === null ? e.value : e.lower, upper: e.upper === null ? e.value : e.upper } : null;
    }
    const counted = RATE_FORECASTS[kpi];
    const episodes = of("episodes");
    const f = counted ? of(counted) : null;
    if (!f || f.value === null || !episodes || !(episodes.value > 0)) { return null; }
    const n = episodes.value;
    return { value: f.value / n, lower: (f.lower === null ? f.value : f.lower) / n, upper: (f.upper === null ? f.value : f.upper) / n };
  }

  async function drawTrends() {
    const kpi = document.getElementById("kpi").value;
    const box = document.getElementById("trends");
    const answer = await CA.api("GET", "/v1/review/kpis?kpi=" + encodeURIComponent(kpi));
    CA.clear(box);
    if (!answer.ok) { box.appendChild(CA.el("p", { class: "error", text: (answer.data && answer.data.detail) || "The KPI history could not be read." })); return; }
    const byProgramme = {};
    answer.data.kpis.forEach(function (r) { (byProgramme[r.program_id] = byProgramme[r.program_id] || []).push(r); });
    const issued = await loadPlans();
    const ids = Object.keys(byProgramme).sort();
    if (!ids.length) { box.appendChild(CA.el("p", { class: "help", text: "No quarter is in the KPI history yet: carealloc review loads one." })); return; }
    const share = SHARES.has(kpi);
    const format = share ? function (v) { return CA.fmt.pct(v, 0); } : function (v) { return CA.fmt.money(v); };
    ids.forEach(function (id) {
      const measured = byProgramme[id].slice().sort(function (a, b) { return a.period < b.period ? -1 : 1; });
      const periods = measured.map(function (r) {
        const f = forecastFor(issued[r.period], id, kpi);
        return { period: r.period, value: r.value, lower: r.lower, upper: r.upper,
                 forecast: f ? f.value : null, forecastLower: f ? f.lower : null, forecastUpper: f ? f.upper : null };
      });
      const figure = CA.el("figure", { "data-program": id }, [CA.el("figcaption", { text: "Programme " + id })]);
      const chart = CA.el("div");
      figure.appendChild(chart);
      box.appendChild(figure);
      Charts.trend(chart, { label: CA.fmt.words(kpi) + " of programme " + id + " by quarter", periods: periods, share: share, format: format });
    });
  }

  async function drawProposal(planId) {
    const line = document.getElementById("proposal-line");
    const body = document.querySelector("#proposal-table tbody");
    if (!planId) { line.textContent = "The latest review proposed no plan (see its notes in the MLflow run)."; return; }
    const answer = await CA.api("GET", "/v1/review/plans/" + encodeURIComponent(planId));
    if (!answer.ok) { line.textContent = "The proposed plan could not be read."; return; }
    const seen = new Set();
    const rows = answer.data.forecasts.filter(function (f) { if (seen.has(f.program_id)) { return false; } seen.add(f.program_id); return true; });
    rows.sort(function (a, b) { return Math.abs(b.recommended_funding - b.current_funding) - Math.abs(a.recommended_funding - a.current_funding); });
    line.textContent = "Plan " + planId + " for " + answer.data.forecast_period + ", model " + answer.data.model_version + ": largest moves first.";
    rows.forEach(function (f) {
      const change = f.current_funding > 0 ? (f.recommended_funding - f.current_funding) / f.current_funding : null;
      body.appendChild(row([[f.program_id, "text"], [CA.fmt.money(f.current_funding)], [CA.fmt.money(f.recommended_funding)], [CA.fmt.signedPct(change)]]));
    });
  }

  async function load() {
    const line = document.getElementById("review-line");
    const latest = await CA.api("GET", "/v1/review/latest");
    const alerts = document.querySelector("#alerts-table tbody");
    if (latest.ok) {
      const r = latest.data;
      line.textContent = "Latest review: " + r.period + " (model " + r.model_version + ", run " + r.reviewed_at.replace("T", " ").slice(0, 16) + " UTC), " +
        r.alerts.length + (r.alerts.length === 1 ? " alert." : " alerts.");
      if (!r.alerts.length) { alerts.appendChild(CA.el("tr", {}, [CA.el("td", { colspan: 5, class: "text", text: "Nothing moved beyond its limits." })])); }
      r.alerts.forEach(function (a) {
        alerts.appendChild(row([[CA.fmt.words(a.kind), "text"], [a.subject, "text"], [a.what_moved, "text"], [a.since, "text"], [a.action, "text"]]));
      });
      await drawProposal(r.proposal_plan_id);
    } else {
      line.textContent = (latest.data && latest.data.detail) || "The latest review could not be read.";
      document.getElementById("proposal-line").textContent = "No review yet.";
    }
    await drawTrends();
    document.getElementById("kpi").addEventListener("change", drawTrends);
    document.documentElement.setAttribute("data-outcomes-ready", "1");
  }

  load();
})();
