"""The retraining job end to end against a throwaway MLflow store: register, gate, aliases, artefacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from core.settings import Settings
from synthetic.reference import SyntheticTruth
from tracking.registry import DIGEST_TAG, ModelRegistry, bundle_digest, load_bundle
from training.gate import apply_gate
from training.train import resolve_params, train

FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 40}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("mlflow"), tracking_uri=None)


def test_first_train_becomes_champion_second_is_gated(world_dir: Path, store: Settings,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = train(world_dir, store, FAST, show_progress=False)
    assert first.gate.promoted and first.gate.reason == "no champion yet"
    second = train(world_dir, store, FAST, show_progress=False, truth=SyntheticTruth.beside(world_dir))
    assert second.model_version != first.model_version
    assert second.gate.champion_version == first.model_version
    assert second.gate.promoted, second.gate.reason  # same data, same seed: not worse
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(store.model_name, "champion").version) == second.model_version
    assert str(client.get_model_version_by_alias(store.model_name, "challenger").version) == second.model_version

    run = client.get_run(second.run_id)
    for key in ("response_auc", "response_log_loss", "response_ece", "dropout_brier", "response_prior_log_loss",
                "response_logistic_auc", "holdout_score", "reach_episodes_mape", "truth_curve_relative_mae",
                "gate_challenger_holdout_score", "gate_champion_holdout_score", "interval_model_spread",
                "interval_cells"):
        assert key in run.data.metrics, key
    assert run.data.tags["git_commit"] and run.data.tags["version.lightgbm"]
    assert run.info.run_name.startswith("train 20") and "data " in run.info.run_name
    assert "Fits the response, dropout and reach models" in run.data.tags["mlflow.note.content"]
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"programs", "episodes"}
    assert inputs["programs"].dataset.digest == run.data.tags["data.sha256"][:16]
    assert "funding" in inputs["programs"].dataset.schema and str(world_dir) in inputs["episodes"].dataset.source
    assert [t.value for t in inputs["programs"].tags if t.key == "mlflow.data.context"] == ["training"]
    version = client.get_model_version(store.model_name, second.model_version)
    assert f"by run {second.run_id}" in version.description and "promoted to @champion" in version.description
    assert "outcome curves" in client.get_registered_model(store.model_name).description
    assert int(run.data.params["data_episodes_rows"]) > 0
    artifacts = {a.path for a in client.list_artifacts(second.run_id)} | {
        a.path for a in client.list_artifacts(second.run_id, "plots")}
    assert {"data_snapshot.json", "plots/calibration.png", "plots/shap_response.png",
            "plots/outcome_curves.png"} <= artifacts

    champion = client.get_model_version_by_alias(store.model_name, "champion")
    downloaded = Path(mlflow.artifacts.download_artifacts(f"models:/{store.model_name}/{champion.version}"))
    assert champion.tags[DIGEST_TAG] == bundle_digest(downloaded)  # what the service checks before unpickling
    bundle = load_bundle(f"models:/{store.model_name}@champion")
    assert set(bundle.programs) and bundle.curves["reliable_improvements"].notna().all()
    assert set(bundle.calibration) == {"response", "dropout"}  # holdout reliability bins for the models page
    assert sum(b["count"] for b in bundle.calibration["response"]) > 0
    example = mlflow.models.Model.load(f"models:/{store.model_name}@champion").load_input_example(
        mlflow.artifacts.download_artifacts(f"models:/{store.model_name}@champion"))
    assert all(str(p).startswith("SYNTHETIC-") for p in example["patient_id"])  # never a real patient row


def test_worse_challenger_does_not_replace_the_champion(world_dir: Path, store: Settings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = train(world_dir, store, FAST, show_progress=False)
    client = MlflowClient()
    champion = client.get_model_version_by_alias(store.model_name, "champion").version
    decision = apply_gate(ModelRegistry(store.resolved_tracking_uri, store.model_name), result.model_version,
                          result.metrics["holdout_score"] * 1.2, store.gate_tolerance,
                          lambda params: result.metrics["holdout_score"], set(FAST))
    assert not decision.promoted and "worse" in decision.reason
    assert str(client.get_model_version_by_alias(store.model_name, "champion").version) == str(champion)
    assert str(client.get_model_version_by_alias(store.model_name, "challenger").version) == result.model_version


def test_tuned_parameters_are_picked_up(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert resolve_params(settings)["num_leaves"] == 15
    settings.best_params_path.parent.mkdir(parents=True)
    settings.best_params_path.write_text(json.dumps({"params": {"num_leaves": 7}, "holdout_score": 1.0}))
    assert resolve_params(settings)["num_leaves"] == 7
    assert resolve_params(settings, {"num_leaves": 9})["num_leaves"] == 9


@pytest.fixture
def cli(store: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`carealloc` in-process, reading the trained store's champion (and no tracking URI from the environment)."""
    from typer.testing import CliRunner

    from carealloc.cli import app

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CAREALLOC_DATA_DIR", str(store.data_dir))
    runner = CliRunner()
    return lambda args: runner.invoke(app, args)


def test_cli_recommend_and_evaluate_use_the_champion(world_dir: Path, store: Settings, tmp_path: Path,
                                                     cli: Any) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"max_change": 0.3, "objective": {"kind": "reliable_improvements"}}))
    done = cli(["recommend", "--constraints", str(request), "--data", str(world_dir), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    current = sum(a["current_funding"] for a in result["allocations"])
    assert sum(a["recommended_funding"] for a in result["allocations"]) == pytest.approx(current, abs=1.0)
    assert all(abs(a["change_pct"]) <= 0.3 + 1e-9 for a in result["allocations"])
    assert result["provenance"]["model_version"].startswith(f"{store.model_name}/")
    assert result["totals"]["plan"]["reliable_improvements"] >= result["totals"]["status_quo"][
        "reliable_improvements"] - 1e-6

    request.write_text(json.dumps({"budget": 1000, "programs": {"P001": {"min": 5000}}}))
    infeasible = cli(["recommend", "--constraints", str(request)])
    assert infeasible.exit_code == 1 and "cannot all hold" in infeasible.output
    assert "5,000" in infeasible.output and "Traceback" not in infeasible.output

    request.write_text(json.dumps({"budget": -5, "max_chnage": 0.3}))
    invalid = cli(["recommend", "--constraints", str(request)])
    assert invalid.exit_code == 2 and "budget:" in invalid.output and "max_chnage:" in invalid.output

    evaluated = cli(["evaluate", "--data", str(world_dir)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "truth_captured_share" in evaluated.output and "truth_curve_relative_mae" in evaluated.output


def test_cli_report_plans_for_money_with_contracts(world_dir: Path, tmp_path: Path, cli: Any) -> None:
    contracts = tmp_path / "contracts.json"
    contracts.write_text(json.dumps({"contracts": [{
        "contract_id": "MCD-KEEP", "payer": "Medicaid", "population": {"payer": "medicaid"}, "metric": "retention",
        "target": 0.0, "tiers": [{"threshold": 0.0, "per_point": 200_000}], "min_sample": 1}]}))
    out = tmp_path / "report"
    alone = cli(["report", "--data", str(world_dir), "--out", str(out), "--value-per-improvement", "1"])
    assert alone.exit_code == 2 and "needs --contracts" in alone.output
    done = cli(["report", "--data", str(world_dir), "--out", str(out), "--contracts", str(contracts),
                               "--value-per-improvement", "0"])
    assert done.exit_code == 0, done.output
    assert "locally, not globally, optimal" in done.stdout and "money value" in done.stdout
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert "MCD-KEEP" in (out / "report.html").read_text()


def test_cli_review_stores_the_review_for_the_service_and_logs_it(world_dir: Path, store: Settings, cli: Any,
                                                                  small_world: Any) -> None:
    from records.reviews import ReviewLog

    _, programs, _ = small_world
    period = str(sorted(programs["period"].astype(str).unique())[-1])
    done = cli(["review", "--data", str(world_dir), "--period", period, "--json"])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    assert printed["period"] == period and printed["kpi_load"]["added"] > 0
    reviews = ReviewLog(store.resolved_outcomes_url)
    latest = reviews.latest()
    reviews.close()
    assert latest is not None and latest.period == period and len(latest.alerts) == len(printed["alerts"])
    runs = MlflowClient(store.resolved_tracking_uri).search_runs(
        [e.experiment_id for e in MlflowClient(store.resolved_tracking_uri).search_experiments()],
        filter_string="tags.job = 'review'")
    assert [r.data.tags["review.started_by"] for r in runs] == ["carealloc review"]
