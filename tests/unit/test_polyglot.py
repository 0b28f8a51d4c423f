"""The built-in tasks in other languages, the registry's recognition of code, and the translation of call
cases into each language's literals (no toolchain needed: nothing here runs a program)."""

from __future__ import annotations

import json
import math

import pytest

from codeuf.data.sources import POLYGLOT, load_instructions, polyglot_languages
from codeuf.errors import InputError
from codeuf.sandbox import languages
from codeuf.sandbox.languages.base import Untranslatable, arg_types, report_lines


def test_builtin_tasks_in_every_language_have_a_reference_cases_and_a_mutant() -> None:
    tasks = load_instructions("builtin:tasks:all")
    by_language: dict[str, int] = {}
    mutants = {t["id"]: t["mutants"] for t in json.loads((POLYGLOT / "tasks.json").read_text())}
    for task in tasks:
        assert task.tests is not None and task.tests.kind == "cases" and task.tests.origin == "builtin"
        by_language[task.tests.language] = by_language.get(task.tests.language, 0) + 1
        code, why = languages.code_in(task.solution or "", languages.get(task.tests.language))
        assert code is not None and task.entry_point in code, (task.id, why)
        assert any(old in code for old, _ in mutants[task.id.split("-", 2)[2]]), task.id
    assert by_language == {name: 10 for name in polyglot_languages()} and len(by_language) >= 6
    assert load_instructions("builtin:tasks")[0].tests.language == "python"  # type: ignore[union-attr]
    assert {t.tests.language for t in load_instructions("builtin:tasks:go,ruby")} == {"go", "ruby"}  # type: ignore[union-attr]


def test_an_unknown_language_of_builtin_tasks_is_one_line() -> None:
    with pytest.raises(InputError, match=r"field 'source': no built-in tasks in 'kotlin' \(there are: all, "):
        load_instructions("builtin:tasks:kotlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```js\nconsole.log(1)\n```", "javascript"),
        ("```c++\nint main() {}\n```", "cpp"),
        ("```golang\npackage main\n```", "go"),
        ('```\n#include <stdio.h>\nint main(void) { printf("x"); }\n```', "c"),
        ("```\n#include <vector>\nstd::vector<int> v;\nint main() { std::cout << 1; }\n```", "cpp"),
        ("```\npublic class A { public static void main(String[] args) { System.out.println(1); } }\n```", "java"),
        ('```\nfn main() {\n    let mut x = 1;\n    println!("{}", x);\n}\n```', "rust"),
        ('```\npackage main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println(1)\n}\n```', "go"),
        ("```\n<?php\n$x = 1;\necho $x;\n```", "php"),
        ("```\ndef f(x)\n  puts x\nend\n```", "ruby"),
        ("```\n#!/bin/bash\necho hi\n```", "bash"),
        ("```\nSELECT name FROM t;\nCREATE TABLE t (a INT);\n```", "sql"),
        ("```\ndef f(x):\n    return x\n\nprint(f(1))\n```", "python"),
        ("```\nfunction f(x: number): number {\n  const y = x;\n  return y;\n}\n```", "typescript"),
        (
            "```\nfunction isA(c) {\n  if (typeof c !== 'string') return false;\n  return c === 'a';\n}\n```",
            "javascript",
        ),
        ("```pl\nprint 1;\n```", "perl"),
        ("```R\nx <- c(1, 2)\n```", "r"),
        ('```\nsquare <- function(n) {\n  n * n\n}\ncat("Square:", square(4), "\\n")\n```', "r"),
        ('```\nuse strict;\nuse warnings;\nmy $x = 1;\nprint "$x\\n";\n```', "perl"),
    ],
)
def test_a_blocks_language_comes_from_its_label_or_a_careful_guess(text: str, expected: str) -> None:
    [(language, _, _)] = languages.blocks(text)
    assert language is not None and language.name == expected


def test_prose_and_a_lone_marker_are_no_language() -> None:
    assert languages.guess("We choose x = 1 here, and the loop ends.") is None
    assert languages.blocks("```\nfoo bar\n```")[0][0] is None


def test_a_fenced_block_reads_as_a_language_by_one_marker_only_where_that_is_careful() -> None:
    """One marker, no other language's: a fenced block's language where the marker is a statement (Python that
    parses, SQL, Java, ...); the same text with no fence, pseudo-code and a program's printed output are none."""
    one = {"numbers = [2, 4]\nprint(list(map(lambda n: n * 2, numbers)))": "python",
           "SELECT SUM(DISTINCT price) AS total\nFROM items;": "sql",
           "public int twice(int a) {\n    return 2 * a;\n}": "java",
           "fn twice(a: u32) -> u32 {\n    2 * a\n}": "rust"}  # fmt: skip
    for code, name in one.items():
        assert languages.guess(code) is None
        [(language, _, _)] = languages.blocks(f"```\n{code}\n```")
        assert language is not None and language.name == name
    for text in ("function find(list, target):\n    left = 0\n    print(list[left])",  # pseudo-code
                 "Tax for car1: $4000.0\nTax for car2: $9000.0",  # output, one Bash marker
                 "factorial(5) => 5 * 4 * 3 * 2 * 1 = 120",
                 "total := 0\nfor each x in items do\n    total := total + x",  # pseudo-code, Go's `:=` alone
                 "let n be the length of s\nreturn reverse of s"):  # pseudo-code, Rust's `let` alone  # fmt: skip
        assert languages.blocks(f"```\n{text}\n```")[0][0] is None, text


def test_call_cases_need_one_type_per_argument_in_typed_languages() -> None:
    assert arg_types([[[1, 2], "a"], [[], "b"]]) == ["list[int]", "str"]
    assert arg_types([[1], [2.5]]) == ["float"]
    with pytest.raises(Untranslatable, match="several types"):
        arg_types([[1], ["x"]])
    with pytest.raises(Untranslatable, match="different numbers of arguments"):
        arg_types([[1], [1, 2]])


def test_literals_in_each_language() -> None:
    from codeuf.sandbox.languages import cpp, java, perl, php, ruby, rust

    assert cpp.literal([[1, 2]], "list[list[int]]") == "std::vector<std::vector<long>>{std::vector<long>{1L, 2L}}"
    assert java.literal({"a": [1.5, True]}) == 'map("a", list(1.5, true))'
    assert rust.literal(["é"]) == 'vec!["\\u{00e9}".into()]'
    assert php.literal({"k": "it's $x"}) == "['k' => 'it\\'s $x']"
    assert ruby.literal("#{x}") == '"\\#{x}"'
    assert perl.literal({"k": ["it's", None, True, -math.inf]}) == "{'k' => ['it\\'s', undef, !!1, -9**9**9]}"
    assert java.literal([math.nan]) == "list(Double.NaN)" and php.literal(math.inf) == "INF"


def test_an_instruction_naming_one_language_has_its_tests_written_in_it() -> None:
    from codeuf.data.schema import InstructionRecord
    from codeuf.stages.synthesize import instruction_language

    def named(text: str) -> str:
        record = InstructionRecord(id="x", instruction=text, preference="readability", models=["m"])
        return instruction_language(record).name

    assert named("Write a Perl subroutine that reverses a string.") == "perl"
    assert named("Implement this in C# with LINQ.") == "csharp"
    assert named("Port this C++ to Rust.") == "python"  # two languages: neither is chosen


def test_only_lines_the_program_marks_are_read_and_the_first_per_test_wins() -> None:
    printed = "@@codeuf 0 pass \nnoise @@codeuf 1 pass\n@@codeuf 1 fail assertion\n@@codeuf 1 pass \n"
    assert report_lines(printed) == {0: ("pass", ""), 1: ("fail", "assertion")}


@pytest.mark.parametrize(
    ("tests", "field"),
    [
        ({"language": "cobol", "asserts": "x"}, "tests.language"),
        ({"language": "ruby", "asserts": "x", "stdio": []}, "tests"),
        ({"language": "ruby", "assert": "x"}, "tests.assert"),
        ({"language": "c", "stdio": [{"input": 1, "output": "2"}]}, "tests.stdio.0"),
        ({"language": "c", "stdio": []}, "tests.stdio"),
        ({"language": "ruby", "schema": "CREATE TABLE t(a)"}, "tests.schema"),
        ({"language": "sql", "schema": "CREATE TABLE t(a)", "expected": [1, 2]}, "tests.expected"),
        ({"language": 3, "asserts": "assert x"}, "tests.language"),
    ],
)
def test_bad_tests_in_a_language_are_one_line_naming_the_field(tests: dict, field: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"instruction": "x", "tests": tests}) + "\n")
    with pytest.raises(InputError) as caught:
        load_instructions(path)
    assert caught.value.line == 1 and caught.value.field == field and "\n" not in str(caught.value)


def test_schema_tests_may_be_for_sql_or_mysql(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    rows = [{"instruction": "x", "tests": {"language": name, "schema": "CREATE TABLE t(a INT);", "expected": [[1]]}}
            for name in ("sql", "mysql")]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    loaded = [(r.tests.kind, r.tests.language) for r in load_instructions(path)]  # type: ignore[union-attr]
    assert loaded == [("sql", "sql"), ("sql", "mysql")]


@pytest.mark.parametrize(
    ("kind", "case", "message"),
    [("cases", {"input": '"3"', "output": "3"}, "a JSON list of arguments"),
     ("stdio", {"input": "[3]", "output": '"3"'}, "a JSON string"),
     ("stdio", {"input": '"3"', "output": "3"}, "the output of stdio tests is a JSON string"),
     ("sql", {"input": "[]", "output": '"x"'}, "a JSON list of rows")],
)  # fmt: skip
def test_a_case_that_does_not_fit_its_kind_is_refused(kind: str, case: dict, message: str) -> None:
    from pydantic import ValidationError

    from codeuf.data.schema import CodeTests

    with pytest.raises(ValidationError, match=message):
        CodeTests(kind=kind, cases=[case], language="c" if kind == "stdio" else "python")  # type: ignore[arg-type]


def test_sql_gets_empty_tables_with_the_columns_it_names_for_the_tables_it_does_not_create() -> None:
    from codeuf.sandbox.languages.sql import stub_schema

    joined = "SELECT e.name, d.title FROM employees e JOIN departments AS d ON e.dept_id = d.id WHERE e.pay > 9;"
    assert stub_schema(joined) == (
        'CREATE TABLE "employees" ("name", "pay", "dept_id");\nCREATE TABLE "departments" ("title", "id");\n'
    )
    # an unqualified column belongs to a table of the query it stands in: a subquery's to the subquery's table
    nested = ("SELECT DISTINCT name FROM customers WHERE customer_id IN (\n  SELECT customer_id FROM orders\n"
              "  GROUP BY customer_id HAVING COUNT(order_id) > 10\n);")  # fmt: skip
    assert stub_schema(nested) == (
        'CREATE TABLE "customers" ("name", "customer_id");\nCREATE TABLE "orders" ("order_id", "customer_id");\n'
    )
    writes = "UPDATE users SET age = age + 1 WHERE id = 4;\nINSERT INTO logs (msg, at) VALUES ('x', 1);"
    assert stub_schema(writes) == 'CREATE TABLE "users" ("age", "id");\nCREATE TABLE "logs" ("msg", "at");\n'
    # SQL that is not SQLite's, code that gives its own schema, and code that names no table get none
    assert stub_schema("SELECT * FROM t WHERE d > DATE_SUB(NOW(), INTERVAL 6 MONTH);") is None
    assert stub_schema("SELECT 1;") is None
    # code that creates some tables gets the others it names: its own are made in the probe, and no stub for them
    made = ("-- counted before\nCREATE TEMPORARY TABLE seen (item_id INT);\nINSERT INTO seen VALUES (1);\n"
            "CREATE VIEW recent AS SELECT item_id FROM items WHERE at > 5;\n"
            "SELECT COUNT(DISTINCT item_id) FROM recent WHERE item_id NOT IN (SELECT item_id FROM seen);")  # fmt: skip
    assert stub_schema(made) == 'CREATE TABLE "items" ("item_id", "at");\n'
    assert stub_schema("CREATE TABLE a (x);\nSELECT y FROM b;") == 'CREATE TABLE "b" ("y");\n'
    assert stub_schema("CREATE TABLE a (x);\nSELECT x FROM a;") is None  # needs none
    assert stub_schema("SELECT y FROM b;\nCREATE TABLE b (y);") is None  # used before the code creates it
    # a table made from a query is compiled, never run (its query could loop in codeuf's process)
    endless = "CREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;"
    assert stub_schema(endless + "\nSELECT * FROM u;") == 'CREATE TABLE "u" (_);\n'
    # compiled, never run: ATTACH is denied, so nothing outside is opened, and no schema is made up for it
    assert stub_schema("ATTACH '/etc/passwd' AS p;\nSELECT * FROM p.x;") is None
    program = languages.get("sql").program("SELECT name FROM people;")
    assert program.stdins[0].startswith('CREATE TABLE "people" ("name");\nSELECT name FROM people;')


def test_java_with_no_public_class_is_started_from_the_class_that_declares_main() -> None:
    from codeuf.sandbox.languages import java

    code = ('class Node { int v; String s = "}"; }\n// class Decoy {\nclass Tree {\n  static class Inner { }\n'
            '  public static void main(String[] args) { System.out.println(1); }\n}\n')  # fmt: skip
    assert list(java.prepare(code)) == ["Tree.java"]
    assert list(java.prepare("class A { void f() {} }")) == ["Main.java"]
    assert list(java.prepare("public class B { public static void main(String[] a) {} }")) == ["B.java"]
    # two public types, the first on line one: the one holding main names the file and stays public alone
    two = "public class E extends Exception { }\n\npublic class F {\n  public static void main(String[] a) {}\n}\n"
    [(name, text)] = java.prepare(two).items()
    assert name == "F.java" and text.count("public class") == 1 and "public class F" in text


@pytest.mark.parametrize(
    ("code", "runs_in"),
    [
        ("SELECT name FROM t WHERE at > DATE_SUB(NOW(), INTERVAL 1 MONTH);", "mysql"),
        ("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY);", "mysql"),
        ("SELECT CONCAT(a, b) FROM t;", "mysql"),
        ("SELECT a FROM t WHERE b > 1 ORDER BY a LIMIT 3;", "sql"),  # portable: SQLite runs it
        ("CREATE TABLE IF NOT EXISTS t (a INT);", "sql"),
        ("SELECT TOP 5 a FROM t WHERE d < GETDATE();", "sql"),  # SQL Server's: neither runs it, SQLite says so
        ("DECLARE @n INT; SET @n = 1; SELECT CONCAT(a, @n) FROM t;", "sql"),
    ],
)
def test_sql_in_mysqls_dialect_is_mysql_and_runs_its_tests(code: str, runs_in: str) -> None:
    sql = languages.get("sql")
    assert languages.dialect_of(sql, code).name == runs_in
    [(language, _, _)] = languages.blocks(f"```sql\n{code}\n```")
    assert language is not None and language.name == runs_in
    # either dialect answers SQL's tests, and SQL answers MySQL's
    assert languages.code_in(f"```sql\n{code}\n```", sql)[0] == f"{code}\n"
    assert languages.code_in(f"```sql\n{code}\n```", languages.get("mysql"))[0] == f"{code}\n"
    assert languages.code_in("```python\nprint(1)\n```", sql)[0] is None


def test_the_mysql_runner_splits_statements_and_prints_json_values() -> None:
    import datetime
    import decimal

    from codeuf.sandbox.languages import mysql_runner as runner

    script = (
        ".bail on\nCREATE TABLE p(n TEXT); INSERT INTO p VALUES ('a;b');\n-- note\nDELIMITER //\n"
        "CREATE PROCEDURE x() BEGIN SELECT 1; END //\nDELIMITER ;\nCALL x();"
    )
    assert runner.statements(script) == ["CREATE TABLE p(n TEXT)", "INSERT INTO p VALUES ('a;b')",
                                         "-- note\nCREATE PROCEDURE x() BEGIN SELECT 1; END", "CALL x()"]  # fmt: skip
    assert runner.statements("-- nothing\n/* at all */") == []
    # a statement that runs others is never run again after a stub is made (what ran before would run twice)
    assert runner._runs_more("-- the update\nCALL set_qty(1, 7)") and runner._runs_more("EXECUTE s")
    assert not runner._runs_more("INSERT INTO called (x) SELECT x FROM t")
    assert not runner._runs_more("/* CALL p() */ SELECT 1") and runner._runs_more("/* a */ -- b\n # c\n call p()")
    values = [decimal.Decimal("3.00"), decimal.Decimal("2.5"), datetime.date(2020, 1, 31),
              datetime.datetime(2020, 1, 31, 8, 0), b"x", None]  # fmt: skip
    assert [runner.value(v) for v in values] == [3, 2.5, "2020-01-31", "2020-01-31 08:00:00", "x", None]


def test_java_given_as_jshell_takes_it_becomes_one_program() -> None:
    from codeuf.sandbox.languages import java

    statements = (
        'int x = 1; // a } in a comment\nif (x > 0) {\n  x++;\n} else {\n  x--;\n}\nSystem.out.println("}" + x);'
    )
    program = java.snippet(statements)
    assert program is not None and "public class Main {" in program
    assert program.index("public static void main") < program.index("int x = 1;") < program.index("} else {")
    methods = "public static int twice(int a) { return 2 * a; }\nint half(int a) { return a / 2; }\nprivate int n = 3;"
    code = f"import java.util.List;\n{methods}\nclass Box {{ int v; }}\nSystem.out.println(half(twice(n)));"
    program = java.snippet(code)
    assert program is not None
    assert "import java.util.List;\n\nclass Box { int v; }\npublic class Main {" in program
    assert "static int half(int a)" in program and "static private int n = 3;" in program
    assert program.rindex("System.out.println(half(twice(n)));") > program.index("public static void main")
    # a class, or a program of its own, is left to the existing rules
    assert java.snippet("public class A { public static void main(String[] a) {} }") is None
    assert java.snippet("class Solution { static int f() { return 1; } }") is None


def test_an_answer_with_no_fence_is_its_code_when_it_reads_as_one_language() -> None:
    python = "def f(x):\n    return x\n\nprint(f(1))\n"
    assert languages.first_code(python) == (languages.get("python"), "", python)
    fenced = f"Here:\n```js\nconsole.log(1)\n```\n{python}"
    assert languages.first_code(fenced) == (languages.get("javascript"), "js", "console.log(1)\n")
    assert languages.first_code("We choose x = 1 here, and the loop ends.") is None
    query = "SELECT name FROM users\nWHERE joined > DATE_SUB(NOW(), INTERVAL 1 MONTH);"
    assert languages.first_code(query)[0] is languages.get("mysql")  # type: ignore[index]
    assert languages.code_in(query, languages.get("sql")) == (query, "")
