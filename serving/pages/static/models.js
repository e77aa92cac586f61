/* Models page: GET /v1/models -> version, provenance, holdout metrics, calibration plots, components. */
"use strict";
(function () {
  function fact(list, term, value) {
    list.appendChild(CA.el("dt", { text: term }));
    list.appendChild(CA.el("dd", { text: value }));
  }

  async function load() {
    const line = document.getElementById("models-line");
    const answer = await CA.api("GET", "/v1/models");
    if (!answer.ok) {
      line.textContent = (answer.data && answer.data.detail) || "The model could not be described.";
      line.classList.add("error");
      return;
    }
    const m = answer.data;
    line.textContent = m.model_name + " v" + m.model_version + " (" + (m.aliases.join(", ") || "no alias") + "), source: " +
      m.source + (m.stale ? " (stale copy: the registry was unreachable)" : "") + ".";
    const facts = document.getElementById("facts");
    fact(facts, "Loaded at", new Date(m.loaded_at).toISOString().replace("T", " ").slice(0, 19) + " UTC");
    fact(facts, "Forecast period", m.forecast_period);
    Object.entries(m.data_snapshot).forEach(function ([k, v]) { fact(facts, "Data " + CA.fmt.words(k), Array.isArray(v) ? v.join(", ") : String(v)); });
    Object.entries(m.base_rates).forEach(function ([k, v]) { fact(facts, "Base rate " + CA.fmt.words(k), CA.fmt.pct(v, 1)); });
    Object.entries(m.library_versions).forEach(function ([k, v]) { fact(facts, k, v); });
    if (m.note) { fact(facts, "Note", m.note); }
    const metrics = document.querySelector("#metrics-table tbody");
    const names = Object.keys(m.metrics).sort();
    if (!names.length) { metrics.appendChild(CA.el("tr", {}, [CA.el("td", { colspan: 2, class: "text", text: "This bundle carries no holdout metrics." })])); }
    names.forEach(function (k) {
      metrics.appendChild(CA.el("tr", {}, [CA.el("th", { scope: "row", text: k }), CA.el("td", { text: CA.fmt.metric(m.metrics[k]), title: m.metrics[k] === null ? "" : String(m.metrics[k]) })]));
    });
    const calibration = document.getElementById("calibration");
    const models = Object.keys(m.calibration || {});
    if (!models.length) {
      calibration.appendChild(CA.el("p", { class: "help", text: "This bundle was trained before calibration tables were stored; retrain to see them here (the MLflow run has plots/calibration.png)." }));
    }
    models.forEach(function (name) {
      const chart = CA.el("div", { class: "calibration-chart" });
      calibration.appendChild(CA.el("figure", { "data-model": name }, [CA.el("figcaption", { text: CA.fmt.words(name) + " model" }), chart]));
      Charts.reliability(chart, m.calibration[name], "Calibration of the " + name + " model");
    });
    const components = document.querySelector("#components-table tbody");
    m.components.forEach(function (c) {
      const params = Object.entries(c.params).map(function ([k, v]) { return k + "=" + v; }).join(", ");
      components.appendChild(CA.el("tr", {}, [CA.el("th", { scope: "row", text: c.name }), CA.el("td", { text: c.estimator }), CA.el("td", { class: "text", text: params })]));
    });
  }

  load();
})();
