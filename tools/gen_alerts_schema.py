"""Write docs/alerts.schema.json, the published JSON Schema of an alert rules file."""

from __future__ import annotations

import json
from pathlib import Path

from sentra.alerts.spec import json_schema

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "alerts.schema.json"
    out.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
