/* Clinician page: upload a contract-form CSV (checked server-side by the contract's rules) -> POST
   /v1/patients/risk -> patients ranked by risk -> one patient's SHAP factors as a chart and in words. */
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  const scope = document.getElementById("scope-line");
  const allowed = scope.getAttribute("data-allowed-programs").split(",").filter(Boolean);
  const limited = scope.getAttribute("data-limited") === "yes";
  const state = { scored: [], programOf: {}, baseRates: {} };

  async function loadPrograms() {
    const answer = await CA.api("GET", "/v1/programs");
    if (!answer.ok) { return; }
    const select = document.getElementById("program");
    answer.data.programs.filter(function (p) { return !limited || allowed.indexOf(p.program_id) >= 0; })
      .forEach(function (p) { select.appendChild(CA.el("option", { value: p.program_id, text: p.program_id + " (" + CA.fmt.words(p.modality) + ")" })); });
  }

  function riskCell(risk) { return CA.el("td", { class: "risk", text: CA.fmt.pct(risk, 0) }); }

  function renderRanking() {
    const key = document.getElementById("rank-by").value;
    const program = document.getElementById("program").value;
    const body = document.querySelector("#ranking-table tbody");
    CA.clear(body);
    const rows = state.scored.filter(function (e) { return !program || state.programOf[e.ref] === program; })
      .sort(function (a, b) { return b[key].risk - a[key].risk; });
    if (!rows.length) {
      body.appendChild(CA.el("tr", {}, [CA.el("td", { colspan: 5, class: "text", text: "No scored episodes of this programme in the file." })]));
    }
    rows.forEach(function (e) {
      const button = CA.el("button", { type: "button", "data-ref": e.ref, text: "Explain", "aria-label": "Explain episode " + e.ref });
      button.addEventListener("click", function () { showPatient(e, button); });
      body.appendChild(CA.el("tr", { "data-ref": e.ref }, [CA.el("th", { scope: "row", text: e.ref }),
        CA.el("td", { text: state.programOf[e.ref] || "" }), riskCell(e.dropout.risk), riskCell(e.non_response.risk), CA.el("td", {}, [button])]));
    });
  }

  function showOutcome(name, outcome, label) {
    const compared = outcome.risk > outcome.base_rate ? "above" : "below";
    document.getElementById(name + "-summary").textContent = label + " risk " + CA.fmt.pct(outcome.risk, 0) + ", " + compared +
      " the base rate of " + CA.fmt.pct(outcome.base_rate, 0) + " for an average patient.";
    Charts.factorBars(document.getElementById(name + "-chart"), outcome.factors.map(function (f) {
      return { label: f.label, value: f.contribution };  /* plain words from the service, never feature names */
    }), label + " factors");
    const words = document.getElementById(name + "-words");
    CA.clear(words);
    outcome.factors.forEach(function (f) { words.appendChild(CA.el("li", { text: f.text })); });
  }

  function showPatient(episode, button) {
    document.querySelectorAll("#ranking-table tr.selected").forEach(function (row) { row.classList.remove("selected"); });
    button.closest("tr").classList.add("selected");
    const section = document.getElementById("patient");
    section.hidden = false;
    document.getElementById("patient-title").textContent = "Why episode " + episode.ref + " is flagged";
    showOutcome("dropout", episode.dropout, "Dropout");
    showOutcome("non_response", episode.non_response, "Non-response");
    document.getElementById("patient-title").focus();
  }

  async function submit(event) {
    event.preventDefault();
    const banner = document.getElementById("upload-error");
    CA.clearProblems(form);
    const input = document.getElementById("episodes-file");
    if (!input.files.length) {
      CA.showProblem({ detail: "Choose a file first.", errors: [{ field: "file", message: "Choose a CSV file of episodes." }] }, form, banner);
      return;
    }
    const data = new FormData();
    data.append("file", input.files[0]);
    const button = document.getElementById("score");
    button.disabled = true;
    CA.setStatus("upload-status", "Checking the file…");
    const parsed = await CA.api("POST", "/pages/clinician/episodes", data);
    if (!parsed.ok) {
      button.disabled = false;
      CA.setStatus("upload-status", "");
      /* Contract problems name a column of the file, not a form field: show them all next to the file input. */
      const problem = Object.assign({}, parsed.data);
      problem.errors = (parsed.data.errors || []).map(function (e) { return { field: "file", message: e.message }; });
      if (!problem.errors.length) { problem.errors = [{ field: "file", message: parsed.data.detail || "The file could not be read." }]; }
      CA.showProblem(problem, form, banner);
      return;
    }
    CA.setStatus("upload-status", "Scoring " + parsed.data.count + " episode(s)…");
    const scored = await CA.api("POST", "/v1/patients/risk", { episodes: parsed.data.episodes, top_factors: 5 });
    button.disabled = false;
    CA.setStatus("upload-status", "");
    if (!scored.ok) {
      /* The API names episodes by position (body.episodes[3].payer): point at the file's line instead. */
      const problem = Object.assign({}, scored.data);
      problem.errors = (scored.data.errors || []).map(function (e) {
        const match = /^body\.episodes\[(\d+)\]\.?(.*)$/.exec(e.field || "");
        return match ? { field: "file", message: "line " + (Number(match[1]) + 2) + (match[2] ? ", column " + match[2] : "") + ": " + e.message } : e;
      });
      if (!problem.errors.length) { problem.errors = [{ field: "file", message: scored.data.detail || "The episodes could not be scored." }]; }
      CA.showProblem(problem, form, banner);
      return;
    }
    state.programOf = {};
    parsed.data.episodes.forEach(function (e) { state.programOf[e.episode_id] = e.program_id; });
    state.scored = scored.data.episodes;
    document.getElementById("base-rates").textContent = "Scored " + state.scored.length + " episode(s) with model v" + scored.data.model_version +
      ". Base rates: dropout " + CA.fmt.pct(scored.data.base_rates.dropout, 0) + ", non-response " + CA.fmt.pct(scored.data.base_rates.non_response, 0) + "." +
      (parsed.data.ignored_columns.length ? " Ignored columns: " + parsed.data.ignored_columns.join(", ") + "." : "");
    document.getElementById("ranking").hidden = false;
    document.getElementById("patient").hidden = true;
    renderRanking();
    CA.setStatus("upload-status", "Done.");
    document.getElementById("ranking-title").focus();
  }

  document.getElementById("rank-by").addEventListener("change", renderRanking);
  document.getElementById("program").addEventListener("change", function () { if (state.scored.length) { renderRanking(); } });
  form.addEventListener("submit", submit);
  loadPrograms();
})();
