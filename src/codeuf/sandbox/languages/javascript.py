# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""JavaScript, run by Node.js. Asserts use Node's `assert` module (`assert.strictEqual`, `assert.deepStrictEqual`,
`assert(...)`) or `console.assert`; call results are printed with `JSON.stringify`.

Code written for a browser (it uses `document`, `window`, `alert`, `localStorage`, ...) runs in Node with an
empty jsdom page's window as its globals, as Jest's jsdom environment and `global-jsdom` run it (where jsdom is
installed: see `html`). Its dialogs do nothing and return nothing; nothing outside is fetched.

JSX (a React component) and ES module imports are compiled to CommonJS by TypeScript's `transpileModule` as the
program starts (React's automatic runtime: no `import React` needed), where TypeScript is installed; `react`
and `react-dom` are installed beside it (`make install`), other packages are not."""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

from codeuf.sandbox.languages import html
from codeuf.sandbox.languages.base import MARK, Language, node_package

PRELUDE = f"""const __codeuf_report = (i, kind, rest) => process.stdout.write(`{MARK} ${{i}} ${{kind}} ${{rest}}\\n`);
const __codeuf_why = (e) => String((e && e.name) || e).replace(/\\s+/g, " ").slice(0, 200);
"""


def plain(code: str) -> str:
    """ES module syntax Node runs as CommonJS: `export` dropped (imports of other modules cannot load anyway)."""
    code = re.sub(r"^(\s*)export\s+default\s+(?=(async\s+)?(function|class)\b)", r"\1", code, flags=re.MULTILINE)
    code = re.sub(r"^(\s*)export\s+default\s+", r"\1module.exports = ", code, flags=re.MULTILINE)
    return re.sub(r"^(\s*)export\s+(?=(const|let|var|function|async|class)\b)", r"\1", code, flags=re.MULTILINE)


BROWSER = re.compile(
    r"\b(document|window)\.\w|\b(alert|prompt|confirm)\s*\(|\bnew\s+XMLHttpRequest\b|"
    r"\b(localStorage|sessionStorage|navigator)\.\w|\bextends\s+HTMLElement\b|\bcustomElements\."
)
"""What only a browser gives: the page, its window, dialogs, storage, XMLHttpRequest, custom elements."""

WINDOW = """{{ const {{ JSDOM, VirtualConsole }} = require({jsdom}); const vc = new VirtualConsole();
for (const l of ['log', 'info', 'debug']) vc.on(l, (...a) => console.log(...a)); for (const l of ['error', 'warn']) vc.on(l, (...a) => console.error(...a));
vc.on('jsdomError', (e) => {{ if (e.type !== 'not implemented') {{ console.error(`${{e.type}}: ${{e.message}}`); process.exitCode = 1; }} }});
const w = new JSDOM('<!DOCTYPE html><html><head></head><body></body></html>', {{ url: 'http://localhost/', pretendToBeVisual: true, virtualConsole: vc }}).window;
const page = /^(Event|EventTarget|CustomEvent|MessageEvent|DOMException|FormData|Blob|File|FileReader|AbortController|AbortSignal)$/;
for (const k of Object.getOwnPropertyNames(w)) if (!(k in globalThis) || page.test(k)) {{ try {{ globalThis[k] = w[k]; }} catch {{}} }}
Object.assign(globalThis, {{ window: w, document: w.document, navigator: w.navigator }}); }}
""".replace("\n", " ")
"""Put before the code, on its first line only: an error's line numbers are off by one, not seven."""


COMPILED = re.compile(r"^\s*import\s+[\w{*'\"]|</[A-Za-z][\w.]*>|<[A-Za-z][\w.]*(\s[^<>]*)?/>|\b(return|=>)\s*\(?\s*<[A-Za-z>]",
                      re.MULTILINE)  # fmt: skip
"""ES module imports or JSX: what Node cannot run as CommonJS without compiling it first."""

LOADER = """{{ const ts = require({typescript}), fs = require('fs'), path = require('path'), Module = require('module');
const file = path.join(__dirname, 'main.jsx');
const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {{ fileName: file, reportDiagnostics: true, compilerOptions: {{
  jsx: ts.JsxEmit.ReactJSX, module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true }} }});
const errors = (out.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
if (errors.length) {{ for (const d of errors) console.error('SyntaxError: ' + ts.flattenDiagnosticMessageText(d.messageText, ' ')); process.exit(1); }}
const m = new Module(file, module); m.filename = file; m.paths = [{modules}, ...Module._nodeModulePaths(__dirname)];
m._compile(out.outputText, file); }}
"""


@functools.cache
def _typescript() -> str | None:
    """TypeScript's folder (as the typescript module finds it, which imports this one)."""
    found = node_package("typescript")
    return os.path.realpath(found) if found else None


def files(code: str) -> dict[str, str]:
    """main.js; code for a browser runs after a jsdom window is put in place, and JSX or ES module code is
    compiled as it starts (each where its package is here)."""
    window = html.LANGUAGE.toolchain.paths.get("jsdom") if BROWSER.search(code) else None
    prelude = WINDOW.format(jsdom=json.dumps(window)) + "\n" if window and not html.LANGUAGE.toolchain.missing else ""
    compiler = _typescript() if COMPILED.search(code) else None
    if compiler is None:
        return {"main.js": prelude + code}
    modules = json.dumps(os.path.dirname(compiler))  # react and react-dom beside it
    return {"main.js": prelude + LOADER.format(typescript=json.dumps(compiler), modules=modules), "main.jsx": code}


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    body = "\n".join(setup)
    wrapped = "\n".join(f"try {{ {line}\n__codeuf_report({i}, 'pass', ''); }} "
                        f"catch (e) {{ __codeuf_report({i}, 'fail', __codeuf_why(e)); }}" for i, line in tests)  # fmt: skip
    return (f"{plain(code)}\n;{PRELUDE}{{\nconst assert = require('assert');\n"
            "console.assert = (c, ...m) => { if (!c) throw new Error('console.assert'); };\n"
            f"{body}\n{wrapped}\n}}\n")  # fmt: skip


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    lines = [f"try {{ __codeuf_report({i}, 'value', JSON.stringify(__codeuf_f({literal_args(args)})) ?? 'null'); }} "
             f"catch (e) {{ __codeuf_report({i}, 'error', __codeuf_why(e)); }}" for i, args in enumerate(inputs)]  # fmt: skip
    return f"{plain(code)}\n;{PRELUDE}const __codeuf_f = {entry_point};\n" + "\n".join(lines) + "\n"


def literal_args(args: list[Any]) -> str:
    return ", ".join(json.dumps(a) for a in args)


SHELL_CALL = r"^\s*db\.\w+\.(find|findOne|aggregate|insertOne|insertMany|insert|updateOne|updateMany|update|replaceOne|deleteOne|deleteMany|remove|countDocuments|count|distinct|createIndex)\s*\("
"""A line of MongoDB's shell language: a call on a collection of the shell's `db`."""
_OWN_DB = re.compile(r"\b(const|let|var)\s+db\b|\bdb\s*=[^=]|\brequire\s*\(|^\s*import\s|\bMongoClient\b|\bfunction\s+db\b",
                     re.MULTILINE)  # fmt: skip


def dialect(code: str) -> str | None:
    """ "mongodb" for JavaScript that only talks to MongoDB's shell: it calls `db.<collection>.<method>(` at the
    start of a line and never makes a `db` of its own (a driver's client, a `require`, an `import`)."""
    return "mongodb" if re.search(SHELL_CALL, code, re.MULTILINE) and not _OWN_DB.search(code) else None


LANGUAGE = Language(
    name="javascript", title="JavaScript", fences=("javascript", "js", "jsx", "node", "mjs", "cjs"),
    tools=("node",), install="apt-get install nodejs", source="main.js", prepare=files,
    markers=(r"\bconsole\.log\(", r"\bfunction\s+\w+\s*\([^)]*\)\s*\{", r"\b(const|let)\s+\w+\s*=",
             r"=>\s*[{(\w]", r"\brequire\(['\"]", r"\bmodule\.exports\b", r"\btypeof\s+[\w.]+\s*[!=]=="),
    run=lambda tools, source: [tools["node"], "--max-old-space-size=512", "--stack-size=4000", source],
    threads=32, address_space_bytes=1 << 40, tests_program=tests_program, calls_program=calls_program,
    assert_line=r"^\s*(assert\b|console\.assert\b)",
    assert_example='assert.strictEqual(NAME(...), ...);', dialect=dialect,
)  # fmt: skip
