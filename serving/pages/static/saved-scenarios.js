/* Allocator page, saved scenarios: save the request behind the shown recommendation under a name
   (POST /v1/saved-scenarios), list one's own and the shared ones, load one back into the form, share, unshare or
   delete one's own. Names are the user's text: they only ever go in as textContent (CA.el). */
"use strict";
(function () {
  const form = document.getElementById("save-form");
  const button = document.getElementById("save-scenario");

  function when(iso) {
    const date = new Date(iso);
    return isNaN(date.getTime()) ? iso : date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  }

  function actionButton(text, label, handler) {
    const node = CA.el("button", { type: "button", text: text, "aria-label": label });
    node.addEventListener("click", handler);
    return node;
  }

  async function list() {
    const answer = await CA.api("GET", "/v1/saved-scenarios");
    if (!answer.ok) { CA.setStatus("save-status", (answer.data && answer.data.detail) || "Saved scenarios could not be listed."); return; }
    const table = document.getElementById("saved-table");
    const body = table.querySelector("tbody");
    CA.clear(body);
    answer.data.scenarios.forEach(function (s) {
      const actions = [actionButton("Load", "Load " + s.name + " into the form", function () { load(s); })];
      if (s.mine) {
        actions.push(actionButton(s.shared ? "Stop sharing" : "Share", (s.shared ? "Stop sharing " : "Share ") + s.name,
          function () { share(s, !s.shared); }));
        actions.push(actionButton("Delete", "Delete " + s.name, function () { remove(s); }));
      }
      body.appendChild(CA.el("tr", { "data-scenario": s.scenario_id }, [
        CA.el("th", { scope: "row", class: "text", text: s.name }),
        CA.el("td", { text: when(s.saved_at) }),
        CA.el("td", { text: s.mine ? (s.shared ? "yes" : "no") : "shared with you" }),
        CA.el("td", { class: "row-actions" }, actions),
      ]));
    });
    table.hidden = answer.data.scenarios.length === 0;
    document.getElementById("saved-empty").hidden = answer.data.scenarios.length > 0;
  }

  async function save(event) {
    event.preventDefault();
    const banner = document.getElementById("save-error");
    CA.clearProblems(form);
    const request = window.Allocator.currentRequest();
    if (!request) { CA.setStatus("save-status", "Recommend first: the scenario saved is the one shown."); return; }
    const name = document.getElementById("scenario-name").value.trim();
    if (!name) {
      CA.showProblem({ detail: "Give the scenario a name.", errors: [{ field: "body.name", message: "enter a name" }] }, form, banner);
      return;
    }
    button.disabled = true;
    CA.setStatus("save-status", "Saving…");
    const answer = await CA.api("POST", "/v1/saved-scenarios", { name: name, request: request,
      shared: document.getElementById("scenario-shared").checked });
    button.disabled = false;
    CA.setStatus("save-status", "");
    if (!answer.ok) { CA.showProblem(answer.data, form, banner); return; }
    document.getElementById("scenario-name").value = "";
    document.getElementById("scenario-shared").checked = false;
    CA.setStatus("save-status", "Saved “" + answer.data.name + "”.");
    await list();
  }

  async function load(summary) {
    const answer = await CA.api("GET", "/v1/saved-scenarios/" + encodeURIComponent(summary.scenario_id));
    if (!answer.ok) { CA.setStatus("save-status", (answer.data && answer.data.detail) || "The scenario could not be loaded."); await list(); return; }
    await window.Allocator.ready;
    const unshown = window.Allocator.fillForm(answer.data.request);
    CA.setStatus("save-status", "Loaded “" + answer.data.name + "” into the form; Recommend to run it." +
      (unshown.length ? " The form cannot show " + unshown.join(", ") + ": they are left out." : ""));
    document.getElementById("budget").focus();
  }

  async function share(summary, shared) {
    const answer = await CA.api("PATCH", "/v1/saved-scenarios/" + encodeURIComponent(summary.scenario_id), { shared: shared });
    CA.setStatus("save-status", answer.ok ? (shared ? "Shared “" : "Stopped sharing “") + summary.name + "”."
      : (answer.data && answer.data.detail) || "Sharing could not be changed.");
    await list();
  }

  async function remove(summary) {
    const answer = await CA.api("DELETE", "/v1/saved-scenarios/" + encodeURIComponent(summary.scenario_id));
    CA.setStatus("save-status", answer.ok ? "Deleted “" + summary.name + "”."
      : (answer.data && answer.data.detail) || "The scenario could not be deleted.");
    await list();
  }

  document.addEventListener("allocator:recommended", function () { button.disabled = false; });
  form.addEventListener("submit", save);
  list();
})();
