# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""Go, built by `go build` (the standard library only: no module is downloaded). The code and codeuf's harness
are two files of `package main`; a response's `main` is renamed. Asserts are `assert(...)` or
`assertEqual(expected, actual)` lines (codeuf defines both; a panic fails the test alone). Call cases decode
each JSON argument straight into the parameter's type with `encoding/json` and call the function by
reflection, so `[]int`, `[]string`, `map[string]int` and structs of such all work; results are printed with
`json.Marshal`."""

from __future__ import annotations

import json
import re
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, quoted

HARNESS = f"""package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
)

func codeufReport(i int, kind string, rest string) {{ fmt.Fprintf(os.Stdout, "{MARK} %d %s %s\\n", i, kind, rest) }}

func assert(c bool) {{ if !c {{ panic("assertion") }} }}

func assertEqual(expected interface{{}}, actual interface{{}}) {{
	a, _ := json.Marshal(expected)
	b, _ := json.Marshal(actual)
	if string(a) != string(b) {{ panic("expected " + string(a) + ", got " + string(b)) }}
}}

func codeufTest(i int, test func()) {{
	defer func() {{
		if r := recover(); r != nil {{ codeufReport(i, "fail", fmt.Sprint(r)) }}
	}}()
	test()
	codeufReport(i, "pass", "")
}}

func codeufCall(i int, f interface{{}}, args ...string) {{
	defer func() {{
		if r := recover(); r != nil {{ codeufReport(i, "error", fmt.Sprint(r)) }}
	}}()
	fv := reflect.ValueOf(f)
	in := make([]reflect.Value, len(args))
	for k, a := range args {{
		p := reflect.New(fv.Type().In(k))
		if err := json.Unmarshal([]byte(a), p.Interface()); err != nil {{ panic(err) }}
		in[k] = p.Elem()
	}}
	out := fv.Call(in)
	var v interface{{}}
	if len(out) == 1 {{ v = out[0].Interface() }} else if len(out) > 1 {{
		xs := make([]interface{{}}, len(out))
		for k, o := range out {{ xs[k] = o.Interface() }}
		v = xs
	}}
	b, err := json.Marshal(v)
	if err != nil {{ panic(err) }}
	codeufReport(i, "value", string(b))
}}
"""


def user_file(code: str) -> str:
    code = re.sub(r"\bfunc\s+main\s*\(\s*\)", "func codeufUserMain()", code, count=1)
    return code if re.search(r"^\s*package\s+\w+", code, re.MULTILINE) else "package main\n\n" + code


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    body = "\n".join(f"\t{line}" for line in setup)
    wrapped = "\n".join(f"\tcodeufTest({i}, func() {{ {line} }})" for i, line in tests)
    uses = "\n".join(f"\t_ = {name}" for name in re.findall(r"^\s*(\w+)\s*:=", "\n".join(setup), re.MULTILINE))
    return _bundle(code, f"func main() {{\n{body}\n{uses}\n{wrapped}\n}}\n")


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    calls = "\n".join(f"\tcodeufCall({i}, {entry_point}{''.join(', ' + quoted(json.dumps(a)) for a in args)})"
                      for i, args in enumerate(inputs))  # fmt: skip
    return _bundle(code, f"func main() {{\n{calls}\n}}\n")


SPLIT = "\n// ---- codeuf: harness ----\n"


def _bundle(code: str, main: str) -> str:
    return user_file(code) + SPLIT + HARNESS + "\n" + main


def prepare(code: str) -> dict[str, str]:
    files = {"go.mod": "module codeuf\n\ngo 1.18\n"}
    if SPLIT in code:
        user, harness = code.split(SPLIT, 1)
        return {"main.go": user, "codeuf_harness.go": harness, **files}
    whole = code if re.search(r"^\s*package\s+\w+", code, re.MULTILINE) else "package main\n\n" + code
    return {"main.go": whole, **files}


LANGUAGE = Language(
    name="go", title="Go", fences=("go", "golang"), tools=("go",), install="apt-get install golang-go",
    source="main.go",
    markers=(r"^\s*package\s+main\b", r"\bfunc\s+\w+\s*\([^)]*\)\s*[\w\[\]*]*\s*\{", r"\bfmt\.Print",
             r":=\s*", r"^\s*import\s*\(\s*$"),
    prepare=prepare,
    build=lambda tools, source: [tools["go"], "build", "-o", "main", "."],
    run=lambda tools, source: ["{build}/main"], artifacts=("main",), threads=64, address_space_bytes=8 * 1024**3,
    # GOCACHE and GOPATH default to the build's own folder (HOME): no cache one run could poison for another;
    # TMPDIR is not that folder, since go ignores a go.mod in the temporary folder's root
    env={"TMPDIR": "/tmp", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOMAXPROCS": "1"},
    tests_program=tests_program, calls_program=calls_program, assert_line=r"^\s*(assert|assertEqual)\s*\(",
    assert_example='assertEqual(expected, NAME(...))',
    library=lambda code: None if re.search(r"\bfunc\s+main\s*\(", code) else code + "\n\nfunc main() {}\n",
)  # fmt: skip
