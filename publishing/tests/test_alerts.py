"""The alert rules (prometheus/alerts.yml) name only what /metrics serves; the connections gauge
and the build info."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from django.conf import settings
from django.test import TestCase
from prometheus_client.parser import text_string_to_metric_families

from connections.models import Connection
from devtools.testing import flush_redis
from publishing.tests.base import Actors

RULES = Path(settings.BASE_DIR) / "prometheus" / "alerts.yml"


class AlertRulesTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()

    def served(self) -> set[str]:
        text = self.client.get("/metrics").content.decode()
        names = set()
        for family in text_string_to_metric_families(text):
            names.add(family.name)
            if family.type == "counter":  # served as <name>_total, samples or not
                names.add(f"{family.name}_total")
            names.update(sample.name for sample in family.samples)
        return names

    def test_every_expression_names_a_metric_that_metrics_serves(self):
        served = self.served()
        rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
        self.assertGreaterEqual(len(rules), 3)
        for rule in rules:
            with self.subTest(rule["alert"]):
                names = set(re.findall(r"\bplanrrr_[a-z_]+", rule["expr"]))
                self.assertTrue(names)
                self.assertEqual(names - served, set())
        alerts = {rule["alert"] for rule in rules}
        self.assertLessEqual(
            {"PlanrrrConnectionExpired", "PlanrrrPostsOverdue", "PlanrrrWebhookDeliveriesFailing"}, alerts
        )

    def test_promtool_accepts_the_rules(self):
        if not shutil.which("promtool"):
            self.skipTest("promtool not installed (apt-get install prometheus); the rules are parsed above")
        result = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_it_serves_connections_by_platform_and_status_and_the_build(self):
        Connection.objects.filter(pk=self.twitter.pk).update(status=Connection.Status.EXPIRED)

        text = self.client.get("/metrics").content.decode()
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

        self.assertEqual(samples["planrrr_connections", (("platform", "TWITTER"), ("status", "EXPIRED"))], 1)
        self.assertEqual(samples["planrrr_connections", (("platform", "FACEBOOK"), ("status", "ACTIVE"))], 1)
        build = [labels for name, labels in samples if name == "planrrr_build_info"]
        self.assertEqual(len(build), 1)
        labels = dict(build[0])
        self.assertNotEqual(labels["version"], "")
        self.assertRegex(labels["python"], r"^3\.\d+\.\d+$")
