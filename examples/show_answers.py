"""Print a short table of a batch output file (used by `make demo`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


def main(path: Path) -> None:
    table = Table(title=f"Answers of the embedded model ({path})", show_lines=True)
    for column in ("custom_id", "tokens", "answer (first 200 characters)"):
        table.add_column(column)
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["error"]:
            table.add_row(record["custom_id"], "-", f"[red]error: {record['error']['message']}")
            continue
        body = record["response"]["body"]
        text = body["choices"][0]["message"]["content"]
        table.add_row(record["custom_id"], str(body["usage"]["completion_tokens"]), text[:200])
    console = Console()
    console.print(table)
    console.print(f"results:  {path.resolve()}")
    console.print(f"manifest: {path.with_name(path.stem + '.manifest.json').resolve()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
