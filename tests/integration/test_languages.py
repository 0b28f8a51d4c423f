# ruff: noqa: E501  (programs in other languages, one per line)
"""Every language codeuf runs, for real, in the sandbox: a passing, a failing, a non-building and a looping
response each, call cases translated into the language, and hostile programs (a fork bomb, a write outside the
work directory, reading /root and the environment, a connection, killing the parent, an output flood, a memory
bomb) contained and checked on the host afterwards. `make test` installs the toolchains; a language skips only
where its toolchain is missing, with the command that installs it."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from codeuf.data.schema import CodeTests, Execution
from codeuf.execution.programs import run_program_tests
from codeuf.sandbox import Limits, SandboxPool
from codeuf.sandbox import languages as langs
from codeuf.sandbox.programs import Run

pytestmark = pytest.mark.integration

ADD = {
    "javascript": ("function add(a, b) { return a + b; }", "function add(a, b) { return a - b; }",
                   "function add(a, b) { return a + ; }", "function add(a, b) { while (true) {} }",
                   "assert.strictEqual(add(1, 2), 3);\nassert.strictEqual(add(2, 2), 4);"),
    "typescript": ("function add(a: number, b: number): number { return a + b; }",
                   "function add(a: number, b: number): number { return a - b; }",
                   "function add(a: number, b: number): number { return a + ; }",
                   "function add(a: number, b: number): number { while (true) {} }",
                   "assert.strictEqual(add(1, 2), 3);\nassert.strictEqual(add(2, 2), 4);"),
    "java": ("class Solution { static long add(long a, long b) { return a + b; } }",
             "class Solution { static long add(long a, long b) { return a - b; } }",
             "class Solution { static long add(long a, long b) { return a + ; } }",
             "class Solution { static long add(long a, long b) { while (true) {} } }",
             "assertEquals(3L, Solution.add(1, 2));\nassert Solution.add(2, 2) == 4;"),
    "c": ("long add(long a, long b) { return a + b; }", "long add(long a, long b) { return a - b; }",
          "long add(long a, long b) { return a + ; }", "long add(long a, long b) { for (;;) {} }",
          "assert(add(1, 2) == 3);\nassert(add(2, 2) == 4);"),
    "cpp": ("long add(long a, long b) { return a + b; }", "long add(long a, long b) { return a - b; }",
            "long add(long a, long b) { return a + ; }", "long add(long a, long b) { for (;;) {} }",
            "assert(add(1, 2) == 3);\nassert(add(2, 2) == 4);"),
    "rust": ("fn add(a: i64, b: i64) -> i64 { a + b }", "fn add(a: i64, b: i64) -> i64 { a - b }",
             "fn add(a: i64, b: i64) -> i64 { a + }", "fn add(a: i64, b: i64) -> i64 { loop {} }",
             "assert_eq!(add(1, 2), 3);\nassert_eq!(add(2, 2), 4);"),
    "go": ("func add(a int, b int) int { return a + b }", "func add(a int, b int) int { return a - b }",
           "func add(a int, b int) int { return a + }", "func add(a int, b int) int { for {} }",
           "assert(add(1, 2) == 3)\nassertEqual(4, add(2, 2))"),
    "php": ("<?php\nfunction add($a, $b) { return $a + $b; }", "<?php\nfunction add($a, $b) { return $a - $b; }",
            "<?php\nfunction add($a, $b) { return $a + ; }", "<?php\nfunction add($a, $b) { while (true) {} }",
            "assert(add(1, 2) === 3);\nassert(add(2, 2) === 4);"),
    "ruby": ("def add(a, b)\n  a + b\nend", "def add(a, b)\n  a - b\nend", "def add(a, b)\n  a +\nend end",
             "def add(a, b)\n  loop {}\nend", "assert_equal 3, add(1, 2)\nassert add(2, 2) == 4"),
    "bash": ("add() { echo $(( $1 + $2 )); }", "add() { echo $(( $1 - $2 )); }", "add() { echo $(( $1 + )); ",
             "add() { while :; do :; done; }", '[[ "$(add 1 2)" == 3 ]]\n[[ "$(add 2 2)" == 4 ]]'),
    "csharp": ("class Solution { public static long Add(long a, long b) { return a + b; } }",
               "class Solution { public static long Add(long a, long b) { return a - b; } }",
               "class Solution { public static long Add(long a, long b) { return a + ; } }",
               "class Solution { public static long Add(long a, long b) { while (true) {} } }",
               "Assert.AreEqual(3L, Solution.Add(1, 2));\nAssert.IsTrue(Solution.Add(2, 2) == 4);"),
    "perl": ("use strict;\nsub add { my ($a, $b) = @_; return $a + $b; }", "sub add { my ($a, $b) = @_; return $a - $b; }",
             "sub add { my ($a, $b) = @_; return $a + ; }", "sub add { while (1) {} }",
             "is(add(1, 2), 3);\ndie 'wrong' unless add(2, 2) == 4;"),
    "r": ("add <- function(a, b) a + b", "add <- function(a, b) a - b", "add <- function(a, b) { a + }",
          "add <- function(a, b) repeat {}", "stopifnot(add(1, 2) == 3)\nexpect_equal(add(2, 2), 4)"),
    "mongodb": ("function add(a, b) { return db.sums.countDocuments({ n: { $gt: 0 } }) + a + b; }",
                "function add(a, b) { return db.sums.countDocuments({ n: { $gt: 0 } }) + a - b; }",
                "function add(a, b) { return a + ; }", "function add(a, b) { while (true) {} }",
                "assert.strictEqual(add(1, 2), 3);\nassert.strictEqual(add(2, 2), 4);"),
    "html": ("<!DOCTYPE html>\n<html><body><h1>Sum</h1><script>function add(a, b) { return a + b; }</script></body></html>",
             "<html><body><h1>Sum</h1><script>function add(a, b) { return a - b; }</script></body></html>",
             "<html><body><h1>Sum</h1><script>function add(a, b) { return a + ; }</script></body></html>",
             "<html><body><script>function add(a, b) { while (true) {} }</script></body></html>",
             "assert.strictEqual(add(1, 2), 3);\nassert.deepStrictEqual([add(2, 2), document.querySelector('h1').textContent], [4, 'Sum']);"),
}  # fmt: skip
CASES = [{"input": json.dumps([1, 2]), "output": "3"}, {"input": json.dumps([7, 0]), "output": "7"}]


def available(name: str) -> langs.Language:
    language = langs.get(name)
    if language.toolchain.missing:
        pytest.skip(language.toolchain.missing)
    return language


@pytest.fixture(scope="module")
def pool() -> SandboxPool:
    with SandboxPool(2) as made:
        yield made


def fenced(name: str, code: str) -> str:
    return f"Here it is:\n\n```{name}\n{code}\n```\n"


@pytest.mark.parametrize("name", sorted(ADD))
def test_a_passing_failing_non_building_and_looping_response(name: str, pool: SandboxPool) -> None:
    language = available(name)
    good, bad, broken, looping, asserts = ADD[name]
    tests = CodeTests(kind="asserts", code=asserts, language=name)
    results = {what: run_program_tests(language, code, tests, "add", pool)
               for what, code in (("good", good), ("bad", bad), ("broken", broken))}  # fmt: skip
    assert (results["good"].status, results["good"].passed, results["good"].total) == ("passed", 2, 2)
    assert results["good"].language == name
    assert (results["bad"].status, results["bad"].passed) == ("failed", 0) and results["bad"].reason
    assert results["broken"].status == "failed" and results["broken"].passed == 0
    started = time.monotonic()
    slow = run_program_tests(language, looping, tests.model_copy(update={"code": asserts.splitlines()[0]}), "add", pool)
    assert slow.status == "timeout" and slow.passed == 0
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("name", [n for n in sorted(ADD) if langs.get(n).calls_program is not None])
def test_call_cases_are_translated_and_compared_outside_the_program(name: str, pool: SandboxPool) -> None:
    language = available(name)
    good, bad = ADD[name][:2]
    tests = CodeTests(kind="cases", cases=CASES, language=name)
    assert run_program_tests(language, good, tests, "add", pool).passed == 2
    wrong = run_program_tests(language, bad, tests, "add", pool)
    assert (wrong.status, wrong.passed, wrong.reason) == ("failed", 1, "test 0: wrong output")


def test_lists_strings_and_maps_cross_into_typed_languages(pool: SandboxPool) -> None:
    """The same cases, the MultiPL-E way: a list of ints and a string in, a list (or map) out."""
    cases = [{"input": json.dumps([[3, 1, 2], "ab"]), "output": json.dumps(["ab3", "ab1", "ab2"])},
             {"input": json.dumps([[], "x"]), "output": "[]"}]  # fmt: skip
    solutions = {
        "java": "import java.util.*;\nclass S { static List<String> tag(int[] xs, String p) { List<String> r = new "
                "ArrayList<>(); for (int x : xs) r.add(p + x); return r; } }",
        "cpp": "#include <string>\n#include <vector>\nstd::vector<std::string> tag(std::vector<long> xs, std::string p) "
               "{ std::vector<std::string> r; for (long x : xs) r.push_back(p + std::to_string(x)); return r; }",
        "rust": "fn tag(xs: Vec<i32>, p: &str) -> Vec<String> { xs.iter().map(|x| format!(\"{}{}\", p, x)).collect() }",
        "go": "import \"fmt\"\n\nfunc tag(xs []int, p string) []string { r := []string{}; for _, x := range xs "
              "{ r = append(r, fmt.Sprint(p, x)) }; return r }",
        "javascript": "const tag = (xs, p) => xs.map(x => p + x);",
        "php": "<?php function tag($xs, $p) { return array_map(fn($x) => $p . $x, $xs); }",
        "ruby": "def tag(xs, p) = xs.map { |x| p + x.to_s }",
        "csharp": "using System.Collections.Generic;\nnamespace Demo { static class S { public static List<string> Tag(int[] "
                  "xs, string p) { var r = new List<string>(); foreach (var x in xs) r.Add(p + x); return r; } } }",
        "perl": "sub tag { my ($xs, $p) = @_; return [map { $p . $_ } @$xs]; }",
    }  # fmt: skip
    for name, code in solutions.items():
        if langs.get(name).toolchain.missing:
            continue
        result = run_program_tests(langs.get(name), code, CodeTests(kind="cases", cases=cases, language=name),
                                   "tag", pool)  # fmt: skip
        assert (name, result.status, result.passed) == (name, "passed", 2), result.reason


def test_stdin_stdout_and_sql_tests(pool: SandboxPool) -> None:
    c = available("c")
    stdio = CodeTests(kind="stdio", language="c", cases=[{"input": json.dumps("3\n"), "output": json.dumps("6\n")},
                                                          {"input": json.dumps("10"), "output": json.dumps("20")}])  # fmt: skip
    doubled = '#include <stdio.h>\nint main(void) { int x; scanf("%d", &x); printf("%d\\n", 2 * x); return 0; }'
    assert run_program_tests(c, doubled, stdio, None, pool).passed == 2
    assert run_program_tests(c, doubled.replace("2 * x", "x + 3"), stdio, None, pool).passed == 1
    java = available("java")  # no public class: the JVM starts the one that declares main
    doubler = ("import java.util.Scanner;\nclass Helper { static int twice(int x) { return 2 * x; } }\n"
               "class Doubler {\n  public static void main(String[] a) {\n"
               "    System.out.println(Helper.twice(new Scanner(System.in).nextInt()));\n  }\n}\n")  # fmt: skip
    assert run_program_tests(java, doubler, stdio.model_copy(update={"language": "java"}), None, pool).passed == 2
    sql = available("sql")
    schema = "CREATE TABLE people(name TEXT, age INT); INSERT INTO people VALUES ('ada', 36), ('bob', 17), ('cy', 52);"
    tests = CodeTests(kind="sql", language="sql", code=schema,
                      cases=[{"input": "[]", "output": json.dumps([["ada"], ["cy"]])}])  # fmt: skip
    assert run_program_tests(sql, "SELECT name FROM people WHERE age >= 18;", tests, None, pool).status == "passed"
    assert run_program_tests(sql, "SELECT name FROM people;", tests, None, pool).status == "failed"
    broken = run_program_tests(sql, "SELEC name FROM people;", tests, None, pool)
    assert broken.status == "failed" and broken.passed == 0


def test_a_build_is_made_once_per_distinct_source_and_a_tampered_cache_is_rebuilt(pool: SandboxPool) -> None:
    c = available("c")
    program = c.program('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }')
    with SandboxPool(1) as single:
        first, second = single.run_program(program), single.run_program(program)
        assert (first.build, second.build) == ("built", "cached")
        assert first.runs[0].stdout == second.runs[0].stdout == "hi\n"
        # a run that overwrites cached builds (it runs as the worker's user) is caught by the digests
        vandal = c.program('#include <stdlib.h>\nint main(void) { return system("for f in /tmp/codeuf-builds-*/*/main;'
                           ' do echo x > $f; done"); }')  # fmt: skip
        single.run_program(vandal)
        assert single.run_program(program).build in ("built", "cached")
        assert single.run_program(program).runs[0].stdout == "hi\n"


def test_code_is_found_by_its_fence_or_a_careful_guess_and_never_run_in_another_language() -> None:
    js = langs.get("javascript")
    assert langs.code_in(fenced("js", "console.log(1)"), js) == ("console.log(1)\n", "")
    assert langs.code_in(fenced("python", "print(1)"), js) == (None, "no JavaScript code (code blocks in Python)")
    unlabelled = "```\nfunction f(x) {\n  const y = x + 1;\n  console.log(y);\n}\n```"
    assert langs.blocks(unlabelled)[0][0] is js
    assert langs.guess("SELECT name FROM people WHERE age > 3;\nCREATE TABLE t (a INT);") is langs.get("sql")
    assert langs.guess("it was a nice day") is None


def test_pages_stylesheets_and_browser_javascript_run_in_a_dom(pool: SandboxPool) -> None:
    """HTML loads in jsdom with its scripts run; CSS parses; JavaScript written for a browser gets a window."""
    html, css, js = available("html"), available("css"), available("javascript")

    def run(language: langs.Language, code: str) -> tuple[str, str]:
        result = pool.run_program(language.program(code))
        return result.runs[0].status, result.runs[0].stdout

    page = "<html><body><ul id=l></ul><script>for (const x of [1, 2]) { const li = document.createElement('li'); li.textContent = x; document.getElementById('l').append(li); } console.log(document.querySelectorAll('li').length); alert('done');</script></body></html>"
    assert run(html, page) == ("ok", "2\n")
    assert run(html, "<html><body><script>missing()</script></body></html>")[0] == "error"
    offline = '<html><body><script src="https://cdn.example/jquery.js"></script><script>$(1)</script></body></html>'
    assert run(html, offline)[0] == "error"
    assert run(css, "body { margin: 0; }\n@media (max-width: 600px) { .nav a { display: block; } }")[0] == "ok"
    assert run(css, "$accent: red;\n.a { &:hover { color: $accent; } }")[0] == "error"
    browser = "document.body.innerHTML = '<p id=x>hi</p>'; localStorage.setItem('k', document.getElementById('x').textContent); window.addEventListener('click', () => console.log(localStorage.getItem('k'))); document.body.click();"
    assert run(js, browser) == ("ok", "hi\n")
    assert run(js, "console.log(typeof document, typeof window)") == ("ok", "undefined undefined\n")
    if not langs.get("typescript").toolchain.missing:  # JSX and imports are compiled by TypeScript as they start
        component = "import { renderToString } from 'react-dom/server';\nconst Hi = ({ name }) => <p>Hi {name}</p>;\nconsole.log(renderToString(<Hi name='ada' />));"
        assert run(js, component) == ("ok", "<p>Hi <!-- -->ada</p>\n")
        assert run(js, "const A = () => <div>oops</span>;")[0] == "error"
    unlabelled = "<!DOCTYPE html>\n<html>\n<head><title>x</title></head>\n<body><div>x</div></body>\n</html>"
    assert langs.guess(unlabelled) is html
    assert langs.guess(".card {\n  margin: 0;\n  padding: 4px;\n}\n") is css


def test_a_missing_toolchain_is_not_executed_with_how_to_install_it() -> None:
    from dataclasses import replace

    ghost = replace(langs.get("ruby"), tools=("ruby-that-is-not-here",))
    assert ghost.toolchain.missing == "no ruby-that-is-not-here on this machine: apt-get install ruby"


# ---------------------------------------------------------------- hostile programs, checked on the host


def _listener() -> tuple[socket.socket, list[int]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[int] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, accepted


def hostile_processes() -> set[int]:
    """The sandbox user's processes that a hostile program here could have left: the compiled programs (`main`)
    and what the scripts start (`sleep`, MySQL's server). Other sandbox processes on the machine (another test run's workers)
    are not counted: they are not this test's to find."""
    import psutil

    found = set()
    for process in psutil.process_iter(["uids", "name", "status"]):
        info = process.info
        if (info["uids"] and info["uids"].real == 65534 and info["name"] in ("main", "sleep", "mariadbd")
                and info["status"] != psutil.STATUS_ZOMBIE):  # fmt: skip
            found.add(process.pid)
    return found


HOSTILE_C = {
    "fork bomb": "#include <unistd.h>\nint main(void) { for (;;) fork(); }",
    "write outside": '#include <stdio.h>\nint main(void) { FILE* f = fopen("TARGET", "w"); if (f) { fputs("x", f); '
                     "fclose(f); return 0; } return 1; }",
    "read root": '#include <stdio.h>\nint main(void) { FILE* f = fopen("/root/.bashrc", "r"); return f ? 0 : 1; }',
    "environment": '#include <stdlib.h>\nint main(void) { return getenv("CODEUF_TEST_SECRET") ? 0 : 1; }',
    "connect": "#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\nint main(void) { int s = "
               "socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = "
               "htons(PORT); a.sin_addr.s_addr = inet_addr(\"127.0.0.1\"); return connect(s, (void*)&a, sizeof a); }",
    "kill parent": "#include <signal.h>\n#include <unistd.h>\nint main(void) { kill(getppid(), SIGKILL); "
                   "kill(-1, SIGKILL); return 0; }",
    "flood": "#include <stdio.h>\nint main(void) { for (;;) puts(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"); }",
    "memory bomb": "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char* p = malloc(1 << 26); "
                   "if (!p) return 3; memset(p, 1, 1 << 26); } }",
    "daemon": "#include <unistd.h>\nint main(void) { if (fork() == 0) { setsid(); for (;;) sleep(1); } return 0; }",
}  # fmt: skip


def test_hostile_compiled_programs_are_contained_and_the_host_is_unchanged(tmp_path: Path) -> None:
    """A C program ignores every Python guard: only the kernel's limits and namespaces hold it. The host is
    checked afterwards: the file was not written, no connection was accepted, no process of the sandbox's
    user is left, the parent (the worker) survived or was replaced, and the next job runs."""

    c = available("c")
    os.environ["CODEUF_TEST_SECRET"] = "s3cret"  # the workers start with a clean environment
    target = tmp_path / "written-by-the-sandbox"
    server, accepted = _listener()
    port = server.getsockname()[1]
    before = hostile_processes()
    outcomes = {}
    try:
        with SandboxPool(1, Limits(memory_bytes=256 * 1024**2)) as hostile_pool:
            for what, code in HOSTILE_C.items():
                code = code.replace("TARGET", str(target)).replace("PORT", str(port))
                result = hostile_pool.run_program(c.program(code, time_limit=3))
                outcomes[what] = result.runs[0] if result.runs else None
            after = hostile_pool.run_program(c.program('#include <stdio.h>\nint main(void) { puts("ok"); }'))
    finally:
        os.environ.pop("CODEUF_TEST_SECRET", None)
        server.close()
    assert after.runs[0].stdout == "ok\n"  # the pool still runs jobs
    assert not target.exists()
    assert not accepted
    for what in ("read root", "environment", "connect"):
        assert outcomes[what] is not None and outcomes[what].status == "error", what
    assert outcomes["flood"].status == "flood"
    assert outcomes["memory bomb"].status == "error" and outcomes["memory bomb"].exit_code == 3
    deadline = time.monotonic() + 10
    while (left := hostile_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "processes outlived their job"


@pytest.mark.parametrize("name", ["javascript", "java", "rust", "go", "php", "ruby", "bash", "csharp", "perl", "html",
                                  "mysql", "r"])  # fmt: skip
def test_hostile_scripts_cannot_write_outside_or_leave_processes(name: str, tmp_path: Path) -> None:

    language = available(name)
    target = tmp_path / "x"
    code = {
        "javascript": f"require('fs').writeFileSync({json.dumps(str(target))}, 'x'); require('child_process').spawn('sleep', ['100'], {{detached: true}}).unref();",
        "java": f'public class Main {{ public static void main(String[] a) throws Exception {{ new ProcessBuilder("sleep", "100").start(); java.nio.file.Files.writeString(java.nio.file.Path.of("{target}"), "x"); }} }}',
        "rust": f'fn main() {{ let _ = std::process::Command::new("sleep").arg("100").spawn(); std::fs::write("{target}", "x").unwrap(); }}',
        "go": f'package main\nimport ("os"; "os/exec")\nfunc main() {{ exec.Command("sleep", "100").Start(); os.WriteFile("{target}", []byte("x"), 0644) }}',
        "php": f'<?php exec("setsid sleep 100 > /dev/null 2>&1 &"); file_put_contents("{target}", "x");',
        "ruby": f'Process.detach(spawn("sleep 100")); File.write("{target}", "x")',
        "bash": f"(setsid sleep 100 &) ; echo x > {target}",
        "csharp": f'class P {{ static void Main() {{ System.Diagnostics.Process.Start("setsid", "sleep 100"); System.IO.File.WriteAllText("{target}", "x"); }} }}',
        "perl": f'system("setsid sleep 100 &"); if (fork() == 0) {{ exec("sleep", "100"); }} open(my $f, ">", "{target}") or die; print $f "x";',
        # jsdom is no boundary: a page's script reaches Node through any object of Node's realm (`assert`)
        "html": f"<script>const p = assert.constructor('return process')(); const r = p.mainModule.require; r('child_process').spawn('sleep', ['100'], {{detached: true}}).unref(); r('fs').writeFileSync({json.dumps(str(target))}, 'x');</script>",
        # the server it talks to writes files only in the run's folder, and dies with the run
        "mysql": f"SELECT 'x' INTO OUTFILE '{target}';",
        "r": f'system("setsid sleep 100 &"); writeLines("x", "{target}")',
    }[name]  # fmt: skip
    before = hostile_processes()
    with SandboxPool(1) as single:
        result = single.run_program(language.program(code, time_limit=5))
    assert result.build in ("none", "built"), result.build_log
    assert not target.exists()
    deadline = time.monotonic() + 10
    while (left := hostile_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left


def test_execute_runs_each_response_in_the_tests_language_and_reports_it(tmp_path: Path) -> None:
    from codeuf.data.schema import GenerationRecord
    from codeuf.stages.execute import execute_responses

    available("javascript")
    good, bad = ADD["javascript"][:2]
    record = GenerationRecord.model_validate({
        "id": "r1", "instruction": "Write add in JavaScript.", "preference": "instruction-following",
        "models": ["a", "b", "c"], "entry_point": "add",
        "tests": {"kind": "cases", "cases": CASES, "language": "javascript"},
        "responses": [{"model": "a", "response": fenced("javascript", good)},
                      {"model": "b", "response": fenced("javascript", bad)},
                      {"model": "c", "response": fenced("python", "def add(a, b):\n    return a + b\n")}],
    })  # fmt: skip
    out = tmp_path / "executions.jsonl"
    [done] = execute_responses([record], out, workers=1, progress=False)
    got = {e.model: (e.status, e.passed, e.language) for e in done.executions}
    assert got == {"a": ("passed", 2, "javascript"), "b": ("failed", 1, "javascript"), "c": ("not_executed", 0, "")}
    assert done.executions[2].reason == "no JavaScript code (code blocks in Python)"
    assert isinstance(done.executions[0], Execution)
    # a rerun reuses what is recorded: nothing runs twice
    lines = out.read_text().splitlines()
    execute_responses([record], out, workers=1, progress=False)
    assert out.read_text().splitlines() == lines


@pytest.fixture(autouse=True)
def _tools_on_path() -> None:
    """The tests find toolchains as the product does (PATH, rustup)."""
    assert shutil.which("bash")


def test_given_tests_in_another_language_are_checked_against_its_reference_solution() -> None:
    from codeuf.data.schema import InstructionRecord
    from codeuf.stages.given_tests import check_given_tests

    available("ruby")
    record = InstructionRecord.model_validate({
        "id": "r", "instruction": "add in Ruby", "preference": "instruction-following", "models": ["a"],
        "entry_point": "add", "solution": fenced("ruby", ADD["ruby"][0]),
        "tests": {"kind": "asserts", "language": "ruby", "code": "x = 2\nassert_equal 3, add(1, 2)\nassert add(x, x) == 5"},
    })  # fmt: skip
    [checked] = check_given_tests([record], workers=1)
    assert checked.tests is not None and checked.tests.checked == "reference"
    assert checked.tests.code == "x = 2\nassert_equal 3, add(1, 2)\n"
    assert checked.tests.reasons == ["the reference solution fails `assert add(x, x) == 5`"]


def test_every_built_in_task_passes_with_its_reference_and_fails_with_a_near_miss_mutant() -> None:
    """`builtin:tasks:all`: 10 tasks in each of 8 languages. The reference solution passes every case, and a
    one-token mutant (a comparison flipped, a bound moved, a step dropped) fails at least one."""
    from codeuf.data.sources import POLYGLOT, polyglot_languages, polyglot_tasks

    wanted = [n for n in polyglot_languages() if not langs.get(n).toolchain.missing]
    assert len(wanted) >= 6, "fewer than 6 languages have their toolchain: run `make toolchains`"
    mutants = {t["id"]: t["mutants"] for t in json.loads((POLYGLOT / "tasks.json").read_text())}
    failures = []
    with SandboxPool(2) as pool:
        for task in polyglot_tasks(",".join(wanted)):
            assert task.tests is not None and task.solution is not None and task.entry_point
            language = langs.get(task.tests.language)
            code, _ = langs.code_in(task.solution, language)
            assert code is not None
            reference = run_program_tests(language, code, task.tests, task.entry_point, pool)
            old, new = next(p for p in mutants[task.id.split("-", 2)[2]] if p[0] in code)
            mutant = run_program_tests(language, code.replace(old, new, 1), task.tests, task.entry_point, pool)
            if reference.status != "passed" or mutant.status == "passed":
                failures.append((task.id, reference.status, reference.reason, mutant.status))
    assert not failures


def test_a_killed_execute_in_compiled_languages_resumes_without_running_a_recorded_response_again(
    tmp_path: Path,
) -> None:
    import signal
    import subprocess

    import yaml

    from codeuf.data.schema import GenerationRecord, Response
    from codeuf.data.sources import POLYGLOT, load_instructions
    from codeuf.stages.execute import execute_responses
    from codeuf.stages.instructions import build_instruction_pool
    from tests.conftest import CODEUF, cli_env

    available("go")
    available("java")
    mutants = {t["id"]: t["mutants"] for t in json.loads((POLYGLOT / "tasks.json").read_text())}

    def mutated(task) -> str:  # type: ignore[no-untyped-def]
        old, new = next(p for p in mutants[task.id.split("-", 2)[2]] if p[0] in task.solution)
        return task.solution.replace(old, new, 1)

    tasks, _ = build_instruction_pool(load_instructions("builtin:tasks:go,java"), n=20, seed=0,
                                      pool=["reference", "mutant"], models_per_instruction=2)  # fmt: skip
    records = [GenerationRecord(**t.model_dump(), responses=[
        Response(model="reference", response=t.solution or ""), Response(model="mutant", response=mutated(t))])
        for t in tasks]  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    (run / "generations.jsonl").write_text("".join(json.dumps(r.model_dump()) + "\n" for r in records))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"out": str(run), "pool": {"reference": {"spec": "openai:a@http://h/v1"},
                                      "mutant": {"spec": "openai:b@http://h/v1"}}, "models_per_instruction": 2,
                                      "judges": ["openai:j@http://h/v1"], "execution_workers": 1}))  # fmt: skip
    proc = subprocess.Popen([*CODEUF, "execute", "-c", str(config)], env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    path = run / "executions.jsonl"
    deadline = time.time() + 300
    while (not path.exists() or len(path.read_text().splitlines()) < 4) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    kept = [line for line in path.read_bytes().split(b"\n") if line.strip()][:-1]  # the last line may be torn
    assert 3 <= len(kept) < len(records) - 5  # killed mid-stage
    again = subprocess.run([*CODEUF, "execute", "-c", str(config)], env=cli_env(), capture_output=True, timeout=900)
    assert again.returncode == 0, again.stderr
    final = path.read_bytes().split(b"\n")
    assert final[: len(kept)] == kept  # what was recorded stays as it was: it was not executed again
    resumed = {json.loads(line)["id"]: json.loads(line) for line in final if line.strip()}
    clean = execute_responses(records, tmp_path / "clean.jsonl", workers=2, progress=False)
    assert {r.id: r.model_dump() for r in clean} == resumed
    statuses = {(e["model"], e["status"], e["language"]) for r in resumed.values() for e in r["executions"]}
    assert statuses == {("reference", "passed", "go"), ("reference", "passed", "java"),
                        ("mutant", "failed", "go"), ("mutant", "failed", "java")}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "code"),
    [("c", "int add(int a, int b) { return a + b; }"),
     ("cpp", "#include <vector>\nlong size_of(std::vector<long> v) { return v.size(); }"),
     ("go", "func add(a int, b int) int { return a + b }"),
     ("rust", "fn add(a: i64, b: i64) -> i64 { a + b }"),
     ("java", "public class Calc { public int add(int a, int b) { return a + b; } }")],
)  # fmt: skip
def test_code_without_an_entry_point_is_built_linked_and_loaded(name: str, code: str, pool: SandboxPool) -> None:
    """Functions or a class alone (as answers often give them) build with an empty entry point added."""
    language = available(name)
    result = pool.run_program(language.program(code))
    assert result.build == "built" and result.runs[0].status == "ok", result.build_log
    broken = pool.run_program(language.program(code.replace("return", "retur", 1).replace("a + b }", "a + }")))
    assert broken.build == "failed"


def test_stdio_tests_run_python_programs_too(tmp_path: Path) -> None:
    from codeuf.data.schema import GenerationRecord
    from codeuf.stages.execute import execute_responses

    stdio = [{"input": json.dumps("2 3\n"), "output": json.dumps("5\n")},
             {"input": json.dumps("10 -4\n"), "output": json.dumps("6\n")}]  # fmt: skip
    record = GenerationRecord.model_validate({
        "id": "p", "instruction": "Read two integers and print their sum.", "preference": "instruction-following",
        "models": ["a", "b"], "tests": {"kind": "stdio", "cases": stdio, "language": "python"},
        "responses": [{"model": "a", "response": fenced("python", "a, b = map(int, input().split())\nprint(a + b)")},
                      {"model": "b", "response": fenced("python", "a, b = map(int, input().split())\nprint(a * b)")}],
    })  # fmt: skip
    [done] = execute_responses([record], tmp_path / "executions.jsonl", workers=1, progress=False)
    got = {e.model: (e.status, e.passed, e.total, e.language) for e in done.executions}
    assert got == {"a": ("passed", 2, 2, "python"), "b": ("failed", 0, 2, "python")}


def test_a_sql_script_that_errors_does_not_run_to_completion(pool: SandboxPool) -> None:
    sql = available("sql")
    ok = pool.run_program(sql.program("CREATE TABLE t(a INT); INSERT INTO t VALUES (1); SELECT a FROM t;"))
    assert ok.runs[0].status == "ok" and ok.runs[0].stdout.strip() == "1"
    mysql = pool.run_program(sql.program("CREATE TABLE t(a INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB;"))
    assert mysql.runs[0].status == "error" and mysql.runs[0].exit_code == 1
    # a query alone runs against empty tables with the columns it names; one in MySQL's dialect does not
    query = "SELECT c.name, COUNT(*) FROM customers c JOIN orders o ON o.cid = c.id GROUP BY c.name;"
    alone = pool.run_program(sql.program(query))
    assert alone.runs[0].status == "ok" and alone.runs[0].stdout == ""
    dialect = pool.run_program(sql.program("SELECT name FROM orders WHERE at > DATE_SUB(NOW(), INTERVAL 6 MONTH);"))
    assert dialect.runs[0].status == "error"


def test_a_sql_script_cannot_run_commands_or_attach_files(pool: SandboxPool, tmp_path: Path) -> None:
    sql = available("sql")
    target = tmp_path / "evil.db"
    for code in (".shell echo pwned", f"ATTACH DATABASE '{target}' AS e;", f".output {target}\nSELECT 1;"):
        result = pool.run_program(sql.program(code))
        assert result.runs[0].status == "error" and "pwned" not in result.runs[0].stdout, code
    assert not target.exists()


def test_node_may_reserve_address_space_for_webassembly_but_not_write_past_the_memory_cap() -> None:
    """Node's fetch (undici) and any WebAssembly memory reserve 10 GiB of guard pages: under an address-space
    cap they died with "Out of memory" before doing anything. JavaScript gets RLIMIT_AS lifted and is held
    by RLIMIT_DATA instead, which counts what a program writes: a Buffer bomb still dies at the cap."""
    js = available("javascript")
    with SandboxPool(1, Limits(memory_bytes=256 * 1024**2)) as small:
        wasm = small.run_program(js.program('new WebAssembly.Memory({initial: 1}); console.log("ok");'))
        bomb = small.run_program(js.program("const a = []; for (;;) a.push(Buffer.alloc(1 << 24, 1));", time_limit=10))
    assert wasm.runs[0].status == "ok" and wasm.runs[0].stdout == "ok\n", wasm
    assert bomb.runs[0].status == "error", bomb


def test_a_java_answer_with_several_public_classes_builds_under_the_one_holding_main(pool: SandboxPool) -> None:
    """javac wants one public type per file, named after it: answers often declare two (a Deck and a Main)."""
    java = available("java")
    code = ("import java.util.*;\npublic class Deck {\n  List<Integer> cards = new ArrayList<>(List.of(1, 2));\n}\n"
            "public class Main {\n  public static void main(String[] a) { System.out.println(new Deck().cards); }\n}\n")  # fmt: skip
    result = pool.run_program(java.program(code))
    assert result.build == "built", result.build_log
    assert result.runs[0].status == "ok" and result.runs[0].stdout == "[1, 2]\n"


def test_java_statements_and_methods_with_no_class_run_as_jshell_would_take_them(pool: SandboxPool) -> None:
    java = available("java")
    snippets = {
        "int[][] grid = {{1, 2}, {3, 4}};\nint sum = 0;\nfor (int[] row : grid) {\n  for (int x : row) sum += x;\n}\n"
        "System.out.println(sum);": "10\n",
        "public static int twice(int a) { return 2 * a; }\n\npublic static void main(String[] args) {\n"
        "  System.out.println(twice(21));\n}": "42\n",
    }  # fmt: skip
    for code, printed in snippets.items():
        result = pool.run_program(java.program(code))
        assert result.build == "built", result.build_log
        assert (result.runs[0].status, result.runs[0].stdout) == ("ok", printed)
    undefined = pool.run_program(java.program("Tree t = new Tree();\nt.insert(5);"))
    assert undefined.build == "failed" and "cannot find symbol" in undefined.build_log
    # a whole class that uses java.util with no import builds, as JShell takes it; the compiler's lines stay the code's
    unimported = "public class Sorter {\n  public static void main(String[] a) {\n    int[] x = {3, 1, 2};\n" \
                 "    Arrays.sort(x);\n    System.out.println(Arrays.toString(x));\n  }\n}\n"  # fmt: skip
    result = pool.run_program(java.program(unimported))
    assert (result.build, result.runs[0].stdout) == ("built", "[1, 2, 3]\n"), result
    broken = pool.run_program(java.program(unimported.replace("Arrays.sort(x);", "Arrays.sort(x)")))
    assert broken.build == "failed" and "Sorter.java:4: error" in broken.build_log, broken.build_log
    # importing another package whole: left as it is (java.awt.List and java.util.List would be ambiguous)
    awt = "import java.awt.*;\npublic class W {\n  public static void main(String[] a) { List l = new List(); }\n}\n"
    assert java.files(awt) == {"W.java": awt}


def test_csharp_statements_and_methods_with_no_class_run_as_a_script_would(pool: SandboxPool) -> None:
    """Mono's compiler has C# 7, without top-level statements: statements and methods given alone become the
    members and Main of a class Program (with the usings .NET's SDK implies), and methods alone answer tests
    from a class Solution, as in Java."""
    csharp = available("csharp")
    snippets = {
        "int[] a = {12, 7, 10};\nArray.Sort(a);\nConsole.WriteLine(string.Join(\",\", a));": "7,10,12\n",
        "public decimal Total(decimal price, decimal tax)\n{\n    return price * (1 + tax);\n}\n": "",
        "try\n{\n    int zero = 0;\n    Console.WriteLine(1 / zero);\n}\ncatch (DivideByZeroException)\n{\n"
        "    Console.WriteLine(\"caught\");\n}\nstatic int Twice(int x) { return 2 * x; }\nConsole.WriteLine(Twice(4));": "caught\n8\n",
    }  # fmt: skip
    for code, printed in snippets.items():
        result = pool.run_program(csharp.program(code))
        assert result.build == "built", result.build_log
        assert (result.runs[0].status, result.runs[0].stdout) == ("ok", printed)
    method = "public bool IsSubstring(string s1, string s2)\n{\n    return s2.Contains(s1);\n}\n"
    cases = CodeTests(kind="cases", language="csharp", cases=[{"input": '["ab", "cabd"]', "output": "true"},
                                                              {"input": '["x", "ab"]', "output": "true"}])  # fmt: skip
    verdict = run_program_tests(csharp, method, cases, "IsSubstring", pool)
    assert (verdict.status, verdict.passed, verdict.total) == ("failed", 1, 2), verdict
    undefined = pool.run_program(csharp.program("var t = new Tree();\nt.Insert(5);"))
    assert undefined.build == "failed" and "Tree" in undefined.build_log


def test_cpp_that_names_what_a_standard_header_declares_without_including_it_builds(pool: SandboxPool) -> None:
    """libstdc++'s <iostream> brings in neither INT_MAX nor std::thread (others' do, and GCC's own error names the
    header): the header is included before the code, which stays as written in answer.cpp, so that the
    compiler's messages quote its lines."""
    cpp = available("cpp")
    code = "#include <iostream>\n#include <vector>\nint main() {\n  int best = INT_MIN;\n" \
           "  for (int x : std::vector<int>{3, 9, 4}) best = x > best ? x : best;\n  std::cout << best << '\\n';\n}\n"  # fmt: skip
    result = pool.run_program(cpp.program(code))
    assert (result.build, result.runs[0].stdout) == ("built", "9\n"), result
    broken = pool.run_program(cpp.program(code.replace("best << '\\n';", "best << '\\n'")))
    assert broken.build == "failed" and "answer.cpp:6:" in broken.build_log, broken.build_log
    assert cpp.files("#include <climits>\nint x = INT_MAX;\n") == {"main.cpp": "#include <climits>\nint x = INT_MAX;\n"}


MONGO_SHELL = """use shop
db.items.insertMany([{ name: "pen", price: 2 }, { name: "lamp", price: 30 }, { name: "desk", price: 120 }]);
db.items.updateOne({ name: "pen" }, { $inc: { price: 1 } });
db.items.deleteOne({ name: "desk" });
print(JSON.stringify(db.items.find({ price: { $gte: 3 } }, { _id: 0, name: 1 }).sort({ price: -1 }).toArray()));
print(db.items.countDocuments({}), db.getName());
print(JSON.stringify(db.items.aggregate([{ $group: { _id: null, total: { $sum: "$price" } } }]).toArray()));
"""


def test_mongodb_shell_scripts_run_against_collections_in_memory(pool: SandboxPool) -> None:
    """A shell script's writes, queries and aggregations run (mingo evaluates MongoDB's operators); a query with
    an operator MongoDB does not have fails, even from a cursor nobody reads; JavaScript that only talks to the
    shell's `db` is MongoDB's dialect, and JavaScript that makes its own `db` is not."""
    mongo = available("mongodb")
    run = pool.run_program(mongo.program(MONGO_SHELL)).runs[0]
    assert (run.status, run.stdout) == (
        "ok",
        '[{"name":"lamp"},{"name":"pen"}]\n2 shop\n[{"_id":null,"total":33}]\n',
    ), run
    for wrong in ("db.users.find({ age: { $greaterThan: 30 } })", "db.users.aggregate([{ $groupBy: { _id: 1 } }])"):
        failed = pool.run_program(mongo.program(wrong)).runs[0]
        assert failed.status == "error" and "Error" in failed.stderr, failed
    [(labelled, _, _)] = langs.blocks("```javascript\ndb.users.find({ age: { $gt: 30 } }).sort({ age: -1 })\n```")
    [(unlabelled, _, _)] = langs.blocks("```\ndb.users.find({ name: { $ne: 'John' }, age: { $gte: 30 } })\n```")
    assert labelled is mongo and unlabelled is mongo
    driver = "const { MongoClient } = require('mongodb');\nconst db = client.db('x');\ndb.users.find({});"
    assert langs.blocks(f"```js\n{driver}\n```")[0][0] is langs.get("javascript")


def test_php_answers_call_the_extensions_debian_builds_as_modules(pool: SandboxPool) -> None:
    """`php -n` keeps the machine's php.ini out and, with it, every extension Debian builds as a module:
    `ctype_digit`, `mb_substr` and PDO were undefined. Those that reach nothing outside are loaded by name;
    FFI, sockets and posix stay out."""
    php = available("php")
    code = (
        '<?php\n$db = new PDO("sqlite::memory:"); $db->exec("CREATE TABLE t(a)"); $db->exec("INSERT INTO t VALUES (7)");\n'
        'echo json_encode([ctype_digit("42"), mb_substr("héllo", 1, 2), (int) $db->query("SELECT a FROM t")->fetchColumn(),\n'
        '                  function_exists("posix_kill"), class_exists("FFI"), function_exists("socket_create")]), "\\n";'
    )
    result = pool.run_program(php.program(code))
    assert result.runs[0].status == "ok", result
    assert json.loads(result.runs[0].stdout) == [True, "él", 7, False, False, False]


def test_infinite_and_nan_reals_are_written_as_each_language_spells_them(pool: SandboxPool) -> None:
    """A call (Language.calls, which tests reach only with finite numbers: the tests schema refuses Infinity
    and NaN) with infinite and NaN reals: Python's `inf` and `nan` are no literal in Java, C#, C++, Rust, PHP or
    Ruby, where such a call did not build."""
    inputs = [[math.inf], [-math.inf], [math.nan], [2.5]]
    solutions = {
        "java": "class S { static int big(double x) { return x > 1e308 ? 1 : x < -1e308 ? -1 : 0; } }",
        "csharp": "static class S { public static int Big(double x) { return x > 1e308 ? 1 : x < -1e308 ? -1 : 0; } }",
        "cpp": "int big(double x) { return x > 1e308 ? 1 : x < -1e308 ? -1 : 0; }",
        "rust": "fn big(x: f64) -> i32 { if x > 1e308 { 1 } else if x < -1e308 { -1 } else { 0 } }",
        "php": "<?php function big($x) { return $x > 1e308 ? 1 : ($x < -1e308 ? -1 : 0); }",
        "ruby": "def big(x) = x > 1e308 ? 1 : (x < -1e308 ? -1 : 0)",
        "javascript": "const big = (x) => x > 1e308 ? 1 : x < -1e308 ? -1 : 0;",
        "perl": "sub big { my ($x) = @_; return $x > 1e308 ? 1 : $x < -1e308 ? -1 : 0; }",
    }  # fmt: skip
    ran = 0
    for name, code in solutions.items():
        language = langs.get(name)
        if language.toolchain.missing:
            continue
        result = pool.run_program(language.program(language.calls(code, "big", inputs)))
        assert result.build in ("built", "none", "cached"), (name, result.build_log)
        lines = langs.report_lines(result.runs[0].stdout)
        assert [lines.get(i) for i in range(4)] == [("value", v) for v in ("1", "-1", "0", "0")], (name, result)
        ran += 1
    assert ran >= 3


THREADS_C = r"""
#include <pthread.h>
#include <stdio.h>
static long part[8];
static void *work(void *arg) { long i = (long)arg; for (long k = 0; k < 1000; k++) part[i] += k; return 0; }
int main(void) {
  pthread_t t[8];
  for (long i = 0; i < 8; i++) if (pthread_create(&t[i], 0, work, (void *)i)) { puts("no thread"); return 1; }
  long s = 0; for (int i = 0; i < 8; i++) { pthread_join(t[i], 0); s += part[i]; }
  printf("%ld\n", s); return 0;
}"""
FORKS_C = r"""
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <unistd.h>
extern char **environ;
int main(void) {
  pid_t p = fork(); if (p == 0) { puts("child"); _exit(0); }
  printf("fork %d %d\n", (int)p, p < 0 && errno == EAGAIN);
  pid_t q; char *argv[] = {"/bin/true", 0};
  printf("spawn %d\n", posix_spawn(&q, "/bin/true", 0, 0, argv, environ) == EAGAIN); return 0;
}"""


def test_programs_may_start_threads_but_no_process(pool: SandboxPool) -> None:
    """A concurrent answer (pthreads, std::thread, Python's threading) runs, and so does a script importing
    numpy (its OpenBLAS starts threads at import: the import failed with KeyboardInterrupt when threads were
    refused); a fork or a spawn fails with
    EAGAIN, as at RLIMIT_NPROC, though the allowance would count a process as one (seccomp: threads only);
    a call through x86's 32-bit ABI, where the numbers mean other calls, kills the program. A shell script,
    which is commands, still starts them."""
    from codeuf.sandbox.spawn import threads_only

    c = available("c")
    if not threads_only():
        pytest.skip("no spawn helper here (no C compiler, or CODEUF_SANDBOX_SPAWN=prlimit), or no seccomp")
    threads = pool.run_program(c.program(THREADS_C))
    assert (threads.runs[0].status, threads.runs[0].stdout) == ("ok", "3996000\n"), threads
    forks = pool.run_program(c.program(FORKS_C))
    assert (forks.runs[0].status, forks.runs[0].stdout) == ("ok", "fork -1 1\nspawn 1\n"), forks
    script = "import numpy, threading, os\nt = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
    script += "try:\n    os.fork()\nexcept BlockingIOError:\n    print('no fork')\n"
    python = pool.run_program(langs.get("python").program(script))
    assert (python.runs[0].status, python.runs[0].stdout) == ("ok", "thread\nno fork\n"), python
    if os.uname().machine == "x86_64":
        int80 = (
            "#include <pthread.h>\nstatic void *f(void *a) { return a; }\nvolatile int never = 0;\n"
            "int main(void) { pthread_t t; if (never) pthread_create(&t, 0, f, 0);\n"  # threads: the filter
            '  long r; __asm__ volatile ("int $0x80" : "=a"(r) : "a"(2) : "memory"); return 0; }'
        )
        result = pool.run_program(c.program(int80))
        assert (result.runs[0].status, result.runs[0].exit_code) == ("error", -31), result  # SIGSYS
    if not langs.get("bash").toolchain.missing:
        shell = pool.run_program(langs.get("bash").program("echo a | tr a b"))
        assert shell.runs[0].stdout == "b\n", shell


SOLO_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static void *nothing(void *arg) { return arg; }
int main(void) {
  /* a thread */
  long f = syscall(SYS_fork); if (f == 0) _exit(0);
  int fork_errno = errno;
  long c = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); if (c == 0) _exit(0);
  int clone_errno = errno;
  printf("%ld %d %ld %d\n", f, fork_errno == EAGAIN, c, clone_errno == EAGAIN);
  char line[256]; FILE *status = fopen("/proc/self/status", "r");
  while (status && fgets(line, sizeof line, status)) if (!strncmp(line, "Seccomp:", 8)) fputs(line, stdout);
  fflush(stdout);
  long r = -11;
#ifdef __x86_64__
  __asm__ volatile ("int $0x80" : "=a"(r) : "a"(2) : "memory"); /* fork, through x86's 32-bit ABI */
  if (r == 0) _exit(0);
#endif
  printf("%ld\n", r);
  return 0;
}"""


def test_a_program_that_imports_no_way_to_start_a_thread_runs_unfiltered_and_still_starts_nothing(
    pool: SandboxPool,
) -> None:
    """The threads-only filter costs each run about 70 µs; a build whose imports cannot start a thread
    (codeuf.sandbox.elf) runs without it and without a thread allowance. What holds it then is RLIMIT_NPROC:
    a fork or a clone through `syscall()`, and a fork through x86's 32-bit ABI, all fail with EAGAIN."""
    from codeuf.sandbox.spawn import threads_only

    c = available("c")
    if not threads_only():
        pytest.skip("no spawn helper here (no C compiler, or CODEUF_SANDBOX_SPAWN=prlimit), or no seccomp")
    solo = pool.run_program(c.program(SOLO_C))
    assert (solo.runs[0].status, solo.runs[0].stdout) == ("ok", "-1 1 -1 1\nSeccomp:\t0\n-11\n"), solo
    # the same program starting a thread first: the allowance, the filter, and death by SIGSYS at `int 0x80`
    threaded = SOLO_C.replace("/* a thread */", "pthread_t t; pthread_create(&t, 0, nothing, 0); pthread_join(t, 0);")
    filtered = pool.run_program(c.program(threaded)).runs[0]
    x86 = os.uname().machine == "x86_64"
    assert filtered.stdout == "-1 1 -1 1\nSeccomp:\t2\n" + ("" if x86 else "-11\n"), filtered
    assert filtered.exit_code == (-31 if x86 else 0), filtered


CLOSES_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *nothing(void *arg) { return arg; }
int main(void) {
  /* a thread */
  puts("before"); fflush(stdout); close(1); close(2);
  for (;;) {}
}"""


def test_a_program_that_closes_its_output_and_goes_on_is_stopped_at_its_time_limit(pool: SandboxPool) -> None:
    """A program that can start no process is awaited after its output closes (no wake-ups for its exit while
    it writes); one that closes its output and goes on must still be seen to go on, and stopped at its time
    limit, with what it wrote before: with or without the threads-only filter."""
    c = available("c")
    threaded = CLOSES_C.replace("/* a thread */", "pthread_t t; pthread_create(&t, 0, nothing, 0); pthread_join(t, 0);")
    for code in (CLOSES_C, threaded):
        started = time.monotonic()
        run = pool.run_program(c.program(code, time_limit=1)).runs[0]
        assert (run.status, run.stdout) == ("timeout", "before\n"), run
        assert time.monotonic() - started < 10


def test_what_a_run_writes_into_its_empty_standard_input_the_next_run_does_not_read() -> None:
    """A run can open its standard input again for writing (through /proc/self/fd/0). An empty standard input
    is /dev/null: a pipe kept for the next run would hand it what this one planted (it did, when tried)."""
    bash = available("bash")
    with SandboxPool(1) as single:  # one worker: both runs in it
        planted = single.run_program(bash.program("echo planted > /proc/self/fd/0; echo wrote $?"))
        following = single.run_program(bash.program("cat; echo end"))
    assert planted.runs[0].stdout == "wrote 0\n", planted
    assert following.runs[0].stdout == "end\n", following


def test_which_builds_can_start_threads_is_read_from_their_imports(tmp_path: Path) -> None:
    """codeuf.sandbox.elf on programs this machine's compilers build: only a dynamically linked program of
    the C and C++ runtimes that imports no function starting a thread or a process is said to start nothing."""
    import shutil
    import subprocess

    from codeuf.sandbox.elf import starts_nothing

    if shutil.which("gcc") is None or shutil.which("g++") is None:
        pytest.skip("no gcc/g++ on this machine (apt-get install g++)")
    sources = {
        "hello.c": ('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }', True),
        "raw.c": ("#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) { return syscall(SYS_getpid) < 0; }",
                  True),
        "stream.cpp": ('#include <iostream>\nint main() { std::cout << "hi"; }', True),
        "threads.c": ("#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) { pthread_t t; "
                      "pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }", False),
        "shell.c": ('#include <stdlib.h>\nint main(void) { return system("true"); }', False),
        "forks.c": ("#include <unistd.h>\nint main(void) { return fork() < 0; }", False),
        "loads.c": ('#include <dlfcn.h>\nint main(void) { return dlopen("libm.so.6", 1) == 0; }', False),
        "thread.cpp": ("#include <thread>\nint main() { std::thread t([] {}); t.join(); }", False),
        "async.cpp": ("#include <future>\nint main() { return std::async(std::launch::async, [] { return 0; })"
                      ".get(); }", False),
    }  # fmt: skip
    for name, (source, expected) in sources.items():
        (tmp_path / name).write_text(source)
        compiler = "g++" if name.endswith(".cpp") else "gcc"
        binary = tmp_path / name.split(".")[0]
        subprocess.run([compiler, "-O1", "-o", str(binary), str(tmp_path / name)], check=True, capture_output=True)
        assert starts_nothing(str(binary)) is expected, name
    static = subprocess.run(["gcc", "-static", "-o", str(tmp_path / "static"), str(tmp_path / "hello.c")],
                            capture_output=True)  # fmt: skip
    if static.returncode == 0:  # the threads of a static program are inside it, unseen
        assert starts_nothing(str(tmp_path / "static")) is False
    truncated = tmp_path / "truncated"
    truncated.write_bytes((tmp_path / "hello").read_bytes()[:200])
    assert starts_nothing(str(truncated)) is False
    assert starts_nothing(str(tmp_path / "hello.c")) is False
    assert starts_nothing(str(tmp_path / "absent")) is False


def test_perl_calls_pass_references_and_print_perls_booleans_as_json_ones(pool: SandboxPool) -> None:
    """Lists and maps go in as array and hash references (MultiPL-E's convention); a comparison's result
    prints as true or false, not 1 or the empty string; text is characters (a key with an accent)."""
    perl = available("perl")
    code = ("sub even { return $_[0] % 2 == 0; }\n"
            "sub keys_of { my ($h) = @_; return [sort keys %$h]; }\n__END__\nnot Perl")  # fmt: skip
    even = [{"input": "[4]", "output": "true"}, {"input": "[3]", "output": "false"}]
    keys = [{"input": json.dumps([{"b": 1, "é": 2}]), "output": json.dumps(["b", "é"])}]
    for entry, cases in (("even", even), ("keys_of", keys)):
        result = run_program_tests(perl, code, CodeTests(kind="cases", cases=cases, language="perl"), entry, pool)
        assert (result.status, result.passed) == ("passed", len(cases)), result.reason


FORK_PATH = """
import resource, subprocess, ctypes, json, sys  # what a worker loads before it forks
from codeuf.sandbox import child, programs, spawn
from codeuf.sandbox import languages as langs
from codeuf.sandbox.jobs import Limits
child._CAN_DROP = True  # as a Python that nobody may read would give
spawn.spawner()
assert programs._launcher() is None
c = langs.get("c")
print(json.dumps([programs.run_program(c.program(code), Limits()).runs[0].stdout for code in sys.argv[1:]]))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the worker forks and drops to nobody only as root")
def test_as_root_without_namespaces_a_program_dropped_to_nobody_is_held_to_threads_too() -> None:
    """The third way a program starts: as root, where no namespace is made and `nobody` can run Python, the
    worker forks, drops to nobody and execs in Python. The filter holds there too: RLIMIT_NPROC as nobody
    would have let it fork as many processes as its threads."""
    import subprocess
    import sys

    available("c")
    from codeuf.sandbox.spawn import threads_only

    if not threads_only():
        pytest.skip("no spawn helper here (no C compiler, or CODEUF_SANDBOX_SPAWN=prlimit), or no seccomp")
    done = subprocess.run([sys.executable, "-c", FORK_PATH, THREADS_C, FORKS_C, SOLO_C], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CODEUF_SANDBOX": "guards"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # a build that starts no thread runs unfiltered there too, held by RLIMIT_NPROC as nobody
    solo = "-1 1 -1 1\nSeccomp:\t0\n-11\n"
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["3996000\n", "fork -1 1\nspawn 1\n", solo]


def test_python_answers_use_the_libraries_the_pool_imports_most(pool: SandboxPool) -> None:
    for module in ("bs4", "sklearn", "nltk", "matplotlib", "pytz"):
        pytest.importorskip(module, reason=f"{module} is not installed: pip install 'codeuf[answers]'")
    code = ("from bs4 import BeautifulSoup\nfrom sklearn.datasets import load_iris\n"
            "from sklearn.tree import DecisionTreeClassifier\nimport matplotlib.pyplot as plt\nimport nltk, pytz\n"
            "items = BeautifulSoup('<ul><li>a</li><li>b</li></ul>', 'html.parser').find_all('li')\n"
            "X, y = load_iris(return_X_y=True)\nscore = DecisionTreeClassifier(random_state=0).fit(X, y).score(X, y)\n"
            "plt.plot([1, 2]); plt.savefig('plot.png')\n"
            "print(len(items), score, pytz.timezone('Europe/Paris').zone, nltk.edit_distance('kitten', 'sitting'))")  # fmt: skip
    result = pool.run_program(langs.get("python").program(code, time_limit=30))
    assert (result.runs[0].status, result.runs[0].stdout) == ("ok", "2 1.0 Europe/Paris 3\n"), result.runs[0].stderr


def test_mysql_scripts_keep_their_procedures_and_may_reference_the_users_own_tables(pool: SandboxPool) -> None:
    """A stored procedure is kept (the server's `mysql.proc`, from its own install script) and called; a foreign
    key to a table the script never creates (the user's, as a query alone names its tables) is formed, and
    inserting a row it does not find still fails; a table the script reads and never creates gets a stub with
    the columns it names; a key to a table the script creates only later fails, as in MySQL."""
    mysql = available("mysql")

    def run(script: str) -> Run:
        return pool.run_program(mysql.program(script)).runs[0]

    procedure = ("CREATE TABLE p (id INT PRIMARY KEY, qty INT);\nINSERT INTO p VALUES (1, 5);\nDELIMITER //\n"
                 "CREATE PROCEDURE set_qty(IN pid INT, IN q INT)\nBEGIN\n  UPDATE p SET qty = q WHERE id = pid;\nEND //\n"
                 "DELIMITER ;\nCALL set_qty(1, 7);\nSELECT qty FROM p;")  # fmt: skip
    ran = run(procedure)
    assert (ran.status, ran.stdout) == ("ok", "[[7]]\n"), ran.stderr
    theirs = ("CREATE TABLE employees (id INT PRIMARY KEY AUTO_INCREMENT, department VARCHAR(50) NOT NULL,\n"
              "  FOREIGN KEY (department) REFERENCES departments(id)\n);\nSELECT COUNT(*) FROM employees;")  # fmt: skip
    ran = run(theirs)
    assert (ran.status, ran.stdout) == ("ok", "[[0]]\n"), ran.stderr
    # a script that creates a table and reads the user's (never created, and its key's parent): both get stubs
    copied = ("CREATE TABLE admins (id INT, name VARCHAR(20), FOREIGN KEY (id) REFERENCES users(id));\n"
              "INSERT INTO admins (id, name) SELECT u.id, u.name FROM users u WHERE u.role = 'admin';\n"
              "SELECT COUNT(*) FROM admins;")  # fmt: skip
    ran = run(copied)
    assert (ran.status, ran.stdout) == ("ok", "[[0]]\n"), ran.stderr
    # ... but a CALL that fails on a missing table is not run again (the row it inserted first would be twice)
    twice = ("CREATE TABLE log (n INT);\nDELIMITER //\nCREATE PROCEDURE note()\nBEGIN\n  INSERT INTO log VALUES (1);\n"
             "  SELECT COUNT(*) FROM elsewhere;\nEND //\nDELIMITER ;\nCALL note();\nSELECT COUNT(*) FROM log;")  # fmt: skip
    once = run(twice)
    assert once.status == "error" and "elsewhere" in once.stderr, once
    orphan = run(theirs + "\nINSERT INTO employees (department) VALUES ('x');")
    assert orphan.status == "error" and "1452" in orphan.stderr, orphan.stderr
    later = run(
        theirs.replace("SELECT COUNT(*) FROM employees;", "CREATE TABLE departments (id VARCHAR(50) PRIMARY KEY);")
    )
    assert later.status == "error" and "150" in later.stderr, later.stderr


def test_sql_in_mysqls_dialect_runs_in_mariadb_and_answers_sql_tests(pool: SandboxPool, tmp_path: Path) -> None:
    from codeuf.data.schema import GenerationRecord
    from codeuf.stages.execute import execute_responses

    mysql = available("mysql")
    portable, dialect = (
        "SELECT name FROM people WHERE age >= 18;",
        "SELECT name FROM people WHERE age >= 18 AND CONCAT(name, '') REGEXP '^[a-z]+$';",
    )
    assert [lang.name for lang, _, _ in langs.blocks(fenced("sql", portable) + fenced("sql", dialect))] == [
        "sql",
        "mysql",
    ]
    # a script with its own tables, typed results; a query alone against empty tables; errors and loops fail
    script = ("CREATE TABLE e (id INT AUTO_INCREMENT PRIMARY KEY, n VARCHAR(9), d DATE) ENGINE=InnoDB;\n"
              "INSERT INTO e (n, d) VALUES ('a', '2020-01-31'), ('b', CURDATE());\n"
              "SELECT id, n, DATE_SUB(d, INTERVAL 1 MONTH) AS before_, 2.5 AS x FROM e WHERE id = 1;")  # fmt: skip
    ran = pool.run_program(mysql.program(script))
    assert (ran.runs[0].status, ran.runs[0].stdout) == ("ok", '[[1, "a", "2019-12-31", 2.5]]\n'), ran.runs[0].stderr
    alone = pool.run_program(
        mysql.program(
            "SELECT c.name FROM customers c JOIN orders o ON o.cid = c.id WHERE o.at > DATE_SUB(NOW(), INTERVAL 6 MONTH);"
        )
    )
    assert (alone.runs[0].status, alone.runs[0].stdout) == ("ok", "[]\n"), alone.runs[0].stderr
    broken = pool.run_program(mysql.program("SELECT name FROM people WHER age > 1;"))
    assert broken.runs[0].status == "error" and "1064" in broken.runs[0].stderr
    asleep = pool.run_program(mysql.program("SELECT SLEEP(60);", time_limit=3))
    assert asleep.runs[0].status == "timeout"
    outside = pool.run_program(mysql.program("SELECT LOAD_FILE('/etc/hostname') IS NULL;"))  # files: its folder's only
    assert (outside.runs[0].status, outside.runs[0].stdout) == ("ok", "[[1]]\n")
    # SQL's tests (schema and rows) answered by SQL in either dialect, each run where it runs
    schema = "CREATE TABLE people(name TEXT, age INT); INSERT INTO people VALUES ('ada', 36), ('bob', 17), ('cy', 52);"
    record = GenerationRecord.model_validate({
        "id": "q", "instruction": "Name the adults.", "preference": "instruction-following", "models": ["a", "b", "c"],
        "tests": {"kind": "sql", "language": "sql", "code": schema,
                  "cases": [{"input": "[]", "output": json.dumps([["ada"], ["cy"]])}]},
        "responses": [{"model": "a", "response": fenced("sql", portable)},
                      {"model": "b", "response": fenced("sql", dialect)},
                      {"model": "c", "response": fenced("sql", dialect.replace(">=", "<"))}],
    })  # fmt: skip
    [done] = execute_responses([record], tmp_path / "executions.jsonl", workers=1, progress=False)
    got = {e.model: (e.status, e.language) for e in done.executions}
    assert got == {"a": ("passed", "sql"), "b": ("passed", "mysql"), "c": ("failed", "mysql")}
    # tests for MySQL run a portable answer there too
    for_mysql = record.tests.model_copy(update={"language": "mysql"})  # type: ignore[union-attr]
    assert run_program_tests(mysql, portable, for_mysql, None, pool).status == "passed"
