"""The nightly workflow: actionlint- and zizmor-clean, hardened, scheduled, and calling only options that exist."""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from tests.conftest import ROOT, invoke

WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"


def test_actionlint_passes() -> None:
    actionlint = shutil.which("actionlint")
    assert actionlint, "actionlint comes with the test extra (pip install -e '.[test]')"
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schedule_dispatch_and_the_pipeline_jobs() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["schedule"][0]["cron"] == "17 3 * * *"
    assert "workflow_dispatch" in triggers
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"versions", "shards", "native_arm64"}
    jobs = doc["jobs"]
    assert list(jobs) == ["plan", "shard", "arm64-native", "merge", "publish"]
    assert jobs["shard"]["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    assert jobs["arm64-native"]["runs-on"] == "ubuntu-24.04-arm"
    assert jobs["publish"]["permissions"] == {"contents": "write"}


def test_every_gomatrix_option_the_workflow_uses_exists() -> None:
    # the workflow and the job scripts it runs (which the local rehearsal runs too)
    text = WORKFLOW.read_text() + "".join(p.read_text() for p in sorted((ROOT / ".ci" / "nightly").glob("*.sh")))
    assert "bash .ci/nightly/shard.sh" in text and "bash .ci/nightly/merge.sh" in text \
        and "bash .ci/nightly/publish.sh" in text
    for task, options in {"matrix": {"--runner", "--plan", "--arches", "--shard", "--out"}, "merge": {"--out"},
                          "plan": {"--out"}}.items():
        used = set(re.findall(r"--[a-z-]+", " ".join(re.findall(rf"gomatrix {task}[^\n]*(?:\n\s+--[^\n]*)*", text))))
        assert options <= used, (task, used)
        helptext = invoke("--help", task).stdout
        for option in used:
            assert option in helptext, f"`gomatrix {task}` has no {option}"


def test_zizmor_finds_nothing() -> None:
    """Pinned actions, no kept credentials, no template expansion in scripts, least permissions."""
    zizmor = shutil.which("zizmor")
    assert zizmor, "zizmor comes with the test extra (pip install -e '.[test]')"
    result = subprocess.run([zizmor, "--offline", "--no-progress", str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_hardening_holds_job_by_job() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["permissions"] == {} and doc["concurrency"]["cancel-in-progress"] is False
    for name, job in doc["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 180, name
        assert set(job["permissions"]) == {"contents"}, name
        for step in job["steps"]:
            uses = step.get("uses")
            if uses:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)?@[0-9a-f]{40}", uses), (name, uses)  # a commit
            if uses and uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
            assert "${{" not in step.get("run", ""), (name, step.get("run"))
    writers = [name for name, job in doc["jobs"].items() if job["permissions"]["contents"] == "write"]
    assert writers == ["publish"]
    text = WORKFLOW.read_text()
    for line in text.splitlines():  # every pinned action says which release it is
        if "uses:" in line and "@" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line
