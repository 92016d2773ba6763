"""axe-core in the browser tests: WCAG 2.0, 2.1 and 2.2 A and AA rules on a page, as it is now.

axe-core is vendored from the npm registry (theme/static_vendor/package-lock.json, copied by `make chart` to
theme/static_vendor/axe, outside every static directory): no page of the site loads it, the tests inject it. The
rules and the exceptions are described in docs/accessibility.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parents[2] / "theme" / "static_vendor" / "axe" / "axe.min.js"
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
# Rule id -> why it does not apply; docs/accessibility.md gives the reasoning of each. Empty: every rule counts.
EXCEPTIONS: dict[str, str] = {}

# Violations as short lines: rule, impact, what it asks, the first few elements and what to fix there.
RUN = """async ({ tags, disabled }) => {
  const rules = Object.fromEntries(disabled.map((id) => [id, { enabled: false }]));
  const options = { runOnly: { type: "tag", values: tags }, rules, resultTypes: ["violations"] };
  const result = await axe.run(document, options);
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\\s+/g, " ")),
    count: v.nodes.length,
  }));
}"""


def violations(page: Any) -> list[str]:
    """The axe violations of ``page`` as lines of text (empty when it passes)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    found = page.evaluate(RUN, {"tags": list(TAGS), "disabled": list(EXCEPTIONS)})
    return [
        f"{v['id']} ({v['impact']}, {v['count']} elements): {v['help']}\n" + "\n".join(f"      {n}" for n in v["nodes"])
        for v in found
    ]
