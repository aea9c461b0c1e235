"""Record real driver.sh outputs for the unit tests (run by hand; tests never regenerate them).

    python tests/data/recorded/record.py GOROOT [CASE ...]

Runs gomatrix/driver.sh for each case (default: every case under cases/, tests/fixtures/cases/ and
tests/fixtures/shapes/) with the toolchain at GOROOT, exactly as the host runner does natively (the hook
included), and copies the outputs to
tests/data/recorded/go<VERSION>-linux-amd64/<CASE>/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from gomatrix.plan.cases import discover_cases  # noqa: E402
from gomatrix.results.exact import write_hook  # noqa: E402


def main(goroot: Path, names: list[str]) -> None:
    go = goroot / "bin" / "go"
    version = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    cases = [c for d in (ROOT / "cases", ROOT / "tests" / "fixtures" / "cases", ROOT / "tests" / "fixtures" / "shapes")
             for c in discover_cases(d)]
    for case in cases:
        if names and case.name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            shutil.copytree(case.path, root / "case")
            write_hook(root)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO"))}
            env.update({"PATH": f"{goroot / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}", "GOPATH": str(root / "gopath"),
                        "GOCACHE": str(root / "gocache"), "GOMATRIX_BENCHTIME": "100ms", "GOMATRIX_COUNT": "3"})
            subprocess.run(["sh", str(ROOT / "gomatrix" / "driver.sh"), str(root)], env=env, check=False,
                           capture_output=True)
            target = ROOT / "tests" / "data" / "recorded" / f"{version}-linux-amd64" / case.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / "out", target)
            print(f"{version} {case.name}: exit {(target / 'exit').read_text().strip()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
