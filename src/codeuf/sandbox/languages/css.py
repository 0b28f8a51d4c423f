"""CSS, parsed by jsdom's stylesheet parser in an empty page (see `html`): a stylesheet runs when it parses into
at least one rule. A preprocessor's syntax (Sass variables, nesting with `&`) does not parse. CSS has no tests
of its own: test a stylesheet through a page (`html`)."""

from __future__ import annotations

from codeuf.sandbox.languages import html
from codeuf.sandbox.languages.base import Language, find_node_tool

LANGUAGE = Language(
    name="css", title="CSS", fences=("css",), tools=("node", "jsdom"), install=html.LANGUAGE.install,
    source="style.css",
    markers=(r"^\s*(body|html|\*|[.#][A-Za-z][\w-]*|[a-z]+[.#:][\w-]+)[^{};\n]*\{\s*$",
             r"^\s*(color|margin|padding|display|font-size|background(-color)?|width|height|border)\s*:[^;\n]+;\s*$",
             r"^\s*@media\b"),
    prepare=lambda code: {"style.css": code, "page.js": html.PAGE},
    run=lambda tools, source: [tools["node"], "--max-old-space-size=512", "--stack-size=4000", "page.js",
                               tools["jsdom"], source, "css"],
    threads=32, address_space_bytes=1 << 40, find_tool=find_node_tool,
)  # fmt: skip
