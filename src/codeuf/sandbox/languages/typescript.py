# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""TypeScript: transpiled to JavaScript by the TypeScript compiler's `transpileModule` (types are erased, not
checked, as ts-node's transpile-only mode does), then run by Node.js like JavaScript. codeuf finds the
`typescript` package as `base.node_package` says."""

from __future__ import annotations

from typing import Any

from codeuf.sandbox.languages import javascript
from codeuf.sandbox.languages.base import Language, find_node_tool

TRANSPILE = """const ts = require(process.argv[2]);
const fs = require('fs');
const out = ts.transpileModule(fs.readFileSync('main.ts', 'utf8'), {
  reportDiagnostics: true,
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 } });
const errors = (out.diagnostics || []).filter(d => d.category === ts.DiagnosticCategory.Error);
if (errors.length) { for (const d of errors) console.error(ts.flattenDiagnosticMessageText(d.messageText, '\\n')); process.exit(1); }
fs.writeFileSync('main.js', out.outputText);
"""


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    return "declare const require: any; declare const process: any;\n" + javascript.tests_program(code, tests, setup)


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    return "declare const process: any;\n" + javascript.calls_program(code, entry_point, inputs)


LANGUAGE = Language(
    name="typescript", title="TypeScript", fences=("typescript", "ts", "tsx"), tools=("node", "typescript"),
    install="npm install --prefix .venv/lib/codeuf-node typescript (make install does)", source="main.ts",
    markers=(r":\s*(number|string|boolean|void)(\[\])?\s*[,)=;{]", r"^\s*(export\s+)?interface\s+\w+",
             r"\bfunction\s+\w+\s*(<[^>]*>)?\([^)]*:\s*\w+"),
    prepare=lambda code: {"main.ts": javascript.plain(code), "transpile.js": TRANSPILE},
    build=lambda tools, source: [tools["node"], "transpile.js", tools["typescript"]],
    run=lambda tools, source: [tools["node"], "--max-old-space-size=512", "--stack-size=4000", "{build}/main.js"],
    artifacts=("main.js",), threads=32, address_space_bytes=1 << 40, tests_program=tests_program,
    calls_program=calls_program,
    assert_line=javascript.LANGUAGE.assert_line, find_tool=find_node_tool,
    assert_example='assert.strictEqual(NAME(...), ...);',
)  # fmt: skip
