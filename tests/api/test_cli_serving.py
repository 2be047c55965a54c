"""``cems serving publish`` and ``cems users demo``: what `make demo` runs before serving."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from api.cli.main import app
from data_contracts.settings import Settings

runner = CliRunner()


def test_publish_then_demo_accounts_for_every_role(cems_home, monkeypatch, gold_settings):
    monkeypatch.setenv("CEMS_LAKEHOUSE_ROOT", gold_settings.lakehouse_root)
    before = runner.invoke(app, ["users", "demo"])
    assert before.exit_code == 2 and "no customer data is published yet" in before.output
    published = runner.invoke(app, ["serving", "publish", "--json"])
    assert published.exit_code == 0, published.output
    result = json.loads(published.output)
    assert result["version"] == 1 and result["row_counts"]["dim_customers"] > 0
    demo = runner.invoke(app, ["users", "demo"])
    assert demo.exit_code == 0, demo.output
    for email in ("admin@demo.test", "agent@demo.test", "marketing@demo.test",
                  "network@demo.test", "customer@demo.test"):  # fmt: skip
        assert email in demo.output
    assert runner.invoke(app, ["users", "demo"]).exit_code == 0  # idempotent
    code = runner.invoke(app, ["users", "code", "--email", "agent@demo.test"])
    assert code.exit_code == 0 and code.output.strip().isdigit()
    assert len(code.output.strip()) == 6


def test_publish_without_gold_is_one_sentence(cems_home):
    result = runner.invoke(app, ["serving", "publish"])
    assert result.exit_code == 2
    assert "is not published" in result.output and "previous version keeps serving" in result.output
    assert Settings().home == cems_home
