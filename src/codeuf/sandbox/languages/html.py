# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""HTML, loaded by jsdom (a DOM and JavaScript runtime for Node.js, as Jest's browser environment uses) with
its inline scripts run: a page runs when it parses, its scripts throw nothing uncaught and it reaches `load`.
Nothing outside the page is fetched (no `<script src>`, stylesheets or images; a page that needs a library
from a CDN fails as it would offline). Dialogs (`alert`, `prompt`, `confirm`) do nothing and return nothing,
as in a browser with no one at it; what the page logs goes to standard output.

Asserts are JavaScript lines run in the page after it loads (`assert(document.title === "Shop")`,
`assert.strictEqual(...)`, `assert.deepStrictEqual(...)`: Node's `assert`). codeuf finds the `jsdom` package
as `base.node_package` says; `make install` puts it beside TypeScript."""

from __future__ import annotations

from codeuf.sandbox.languages.base import MARK, Language, find_node_tool

PAGE = f"""// codeuf's page runner: node page.js JSDOM FILE html|css
const {{ JSDOM, VirtualConsole }} = require(process.argv[2]);
const nodeAssert = require('assert');
const kind = process.argv[4];
const text = require('fs').readFileSync(process.argv[3], 'utf8');
let failed = false;
const vc = new VirtualConsole();
for (const level of ['log', 'info', 'debug', 'table', 'dir']) vc.on(level, (...a) => console.log(...a));
for (const level of ['error', 'warn', 'trace']) vc.on(level, (...a) => console.error(...a));
vc.on('jsdomError', (e) => {{
  if (e.type === 'not implemented') return;  // a dialog, scrolling, navigation: nothing happens, as headless
  failed = true;
  const cause = e.cause || e.detail;
  console.error(`${{e.type}}: ${{e.message}}${{cause && cause.stack ? '\\n' + cause.stack : ''}}`);
}});
const assert = (c, m) => nodeAssert(c, m);
Object.assign(assert, nodeAssert);
// values from the page's realm compared by structure, not by the realm's Object and Array
for (const name of ['deepStrictEqual', 'notDeepStrictEqual', 'deepEqual', 'notDeepEqual'])
  assert[name] = (a, b, m) => nodeAssert[name](structuredClone(a), structuredClone(b), m);
const page = kind === 'css' ? `<!DOCTYPE html><html><head><style>${{text}}</style></head><body></body></html>` : text;
const dom = new JSDOM(page, {{
  runScripts: 'dangerously', pretendToBeVisual: true, url: 'http://localhost/', virtualConsole: vc,
  beforeParse(window) {{
    window.assert = assert;
    window.__codeuf_report = (i, kind, rest) => process.stdout.write(`{MARK} ${{i}} ${{kind}} ${{rest}}\\n`);
  }},
}});
if (kind === 'css') {{
  const sheet = dom.window.document.styleSheets[0];
  if (!failed && /{{/.test(text) && (!sheet || sheet.cssRules.length === 0)) {{
    failed = true;
    console.error('css parsing: no rule in the stylesheet');
  }}
}}
dom.window.addEventListener('load', () => setTimeout(() => {{
  dom.window.close();
  process.exitCode = failed ? 1 : 0;
}}, 20));
"""


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    """The page, then one script that runs each assert once the page has loaded."""
    body = "\n".join(setup)
    wrapped = "\n".join(f"try {{ {line}\n__codeuf_report({i}, 'pass', ''); }} "
                        f"catch (e) {{ __codeuf_report({i}, 'fail', String((e && e.name) || e).slice(0, 200)); }}" for i, line in tests)  # fmt: skip
    script = f"window.addEventListener('load', () => {{\n{body}\n{wrapped}\n}});".replace("</script", "<\\/script")
    return f"{code}\n<script>\n{script}\n</script>\n"


LANGUAGE = Language(
    name="html", title="HTML", fences=("html", "htm", "xhtml"), tools=("node", "jsdom"),
    install="npm install --prefix .venv/lib/codeuf-node jsdom (make install does)", source="index.html",
    markers=(r"(?i)<!DOCTYPE\s+html", r"(?i)<html[\s>]", r"(?i)<(head|body)[\s>]", r"(?i)</(div|p|span|form|ul|table)>",
             r"(?i)<(meta|link|title)\b"),
    prepare=lambda code: {"index.html": code, "page.js": PAGE},
    run=lambda tools, source: [tools["node"], "--max-old-space-size=512", "--stack-size=4000", "page.js",
                               tools["jsdom"], source, "html"],
    threads=32, address_space_bytes=1 << 40, tests_program=tests_program, find_tool=find_node_tool,
    assert_line=r"^\s*(assert\b|console\.assert\b)",
    assert_example='assert.strictEqual(document.querySelector("h1").textContent, ...);',
)  # fmt: skip
