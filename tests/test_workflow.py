"""The nightly workflow: actionlint-clean, scheduled, and calling only options that exist."""

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
    jobs = doc["jobs"]
    assert list(jobs) == ["plan", "shard", "arm64-native", "merge", "publish"]
    assert jobs["shard"]["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    assert jobs["arm64-native"]["runs-on"] == "ubuntu-24.04-arm"
    assert jobs["publish"]["permissions"] == {"contents": "write"}


def test_every_invoke_option_the_workflow_uses_exists() -> None:
    text = WORKFLOW.read_text()
    for task, options in {"matrix": {"--runner", "--arches", "--shard", "--out"}, "merge": {"--out"}}.items():
        used = set(re.findall(r"--[a-z-]+", " ".join(re.findall(rf"invoke {task}[^\n]*(?:\n\s+--[^\n]*)*", text))))
        assert options <= used, (task, used)
        helptext = invoke("--help", task).stdout
        for option in used:
            assert option in helptext, f"`invoke {task}` has no {option}"
