"""``bnnrun-report`` on a sweep with one malformed job file: one line on stderr, never a
traceback (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_sweep_summary import fake_job, ok

from bnnrun.cli.report import main

#: (file of the first job, its malformed content, the exit code, words of the message)
MALFORMED = [
    (".hydra/config.yaml", "dataset: [unclosed", 2, "config.yaml is not valid YAML"),
    (".hydra/config.yaml", "- a list\n- not a mapping\n", 2, "config.yaml is not a job's config"),
    (".hydra/config.yaml", "seed: 0\n", 2, "config.yaml is not a job's config"),
    (".hydra/overrides.yaml", "{not: a list}", 2, "overrides.yaml is not a list of overrides"),
    (".hydra/overrides.yaml", "- 'prior=normal,,'\n- '=x'\n", 2, "overrides.yaml is not a list"),
    (".hydra/overrides.yaml", "\x00\x01\x02", 2, "overrides.yaml is not valid YAML"),
    ("metrics.json", "[1, 2, 3]", 0, None),
    ("metrics.json", '"just a string"', 0, None),
    ("metrics.json", b"\xff\xfe\x00garbage", 0, None),
    ("metrics.json", '{"status": "ok", "accuracy": [1, {"a": 2}]}', 0, "4 ok"),
]


@pytest.mark.parametrize(("name", "content", "code", "message"), MALFORMED)
def test_a_malformed_job_file_is_one_line_or_an_unreadable_row(
    tmp_path: Path, capsys, name: str, content: str | bytes, code: int, message: str | None
) -> None:
    jobs = [
        fake_job(tmp_path, prior=p, hyperprior="fixed", seed=s, metrics=ok(0.8 + s / 100))
        for p in ("normal", "laplace")
        for s in range(2)
    ]
    path = jobs[0] / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path)])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    assert info.value.code == code, err
    if code == 0:  # the job is reported: as unreadable, or without its malformed metric
        assert err == ""
        assert "4 runs" in out and (message or "1 unreadable") in out, out
        assert (tmp_path / "summary.csv").is_file()
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("bnnrun-report: error: ")
        assert message in lines[0] and str(path) in lines[0]
        assert out == ""
