# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""Java, built by javac and run by the JVM (with `-ea`, so `assert` statements count). Asserts are `assert ...;`
lines or `assertEquals(expected, actual)` / `assertTrue(...)` calls (codeuf defines them); they call the code as
its author wrote them (`Solution.add(1, 2)`). Call cases find the entry point (`method` or `Class.method`) by
reflection and convert each JSON argument into the parameter's type (int, long, double, String, arrays,
List, Map, ...), so that a method taking `int[]` and one taking `List<Integer>` are both called; results are
printed as JSON."""

from __future__ import annotations

import re
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, blank, boxed_literal, quoted, real, snippet_parts

RUNTIME = r"""
  static String j(Object o) {
    if (o == null) return "null";
    if (o instanceof String || o instanceof Character) {
      StringBuilder b = new StringBuilder("\"");
      for (char c : o.toString().toCharArray()) {
        if (c == '"' || c == '\\') b.append('\\').append(c);
        else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
        else b.append(c);
      }
      return b.append('"').toString();
    }
    if (o instanceof Double || o instanceof Float) { double d = ((Number) o).doubleValue(); return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) + ".0" : Double.toString(d); }
    if (o instanceof Number || o instanceof Boolean) return o.toString();
    if (o.getClass().isArray()) { java.util.List<Object> l = new java.util.ArrayList<>(); for (int i = 0; i < java.lang.reflect.Array.getLength(o); i++) l.add(java.lang.reflect.Array.get(o, i)); return j(l); }
    if (o instanceof Iterable) { StringBuilder b = new StringBuilder("["); boolean f = true; for (Object x : (Iterable<?>) o) { if (!f) b.append(','); f = false; b.append(j(x)); } return b.append(']').toString(); }
    if (o instanceof java.util.Map) { StringBuilder b = new StringBuilder("{"); boolean f = true; for (java.util.Map.Entry<?, ?> e : ((java.util.Map<?, ?>) o).entrySet()) { if (!f) b.append(','); f = false; b.append(j(String.valueOf(e.getKey()))).append(':').append(j(e.getValue())); } return b.append('}').toString(); }
    return j(o.toString());
  }
  static Object to(Object v, java.lang.reflect.Type t) {
    Class<?> c = t instanceof Class ? (Class<?>) t : (Class<?>) ((java.lang.reflect.ParameterizedType) t).getRawType();
    java.lang.reflect.Type[] a = t instanceof java.lang.reflect.ParameterizedType ? ((java.lang.reflect.ParameterizedType) t).getActualTypeArguments() : new java.lang.reflect.Type[0];
    if (v instanceof Number) { Number n = (Number) v;
      if (c == int.class || c == Integer.class) return n.intValue(); if (c == long.class || c == Long.class) return n.longValue();
      if (c == double.class || c == Double.class) return n.doubleValue(); if (c == float.class || c == Float.class) return n.floatValue();
      if (c == short.class || c == Short.class) return n.shortValue(); if (c == byte.class || c == Byte.class) return n.byteValue();
      if (c == java.math.BigInteger.class) return java.math.BigInteger.valueOf(n.longValue()); return v; }
    if (v instanceof String && (c == char.class || c == Character.class)) return ((String) v).charAt(0);
    if (v instanceof java.util.List) { java.util.List<?> l = (java.util.List<?>) v;
      if (c.isArray()) { Object r = java.lang.reflect.Array.newInstance(c.getComponentType(), l.size()); for (int i = 0; i < l.size(); i++) java.lang.reflect.Array.set(r, i, to(l.get(i), c.getComponentType())); return r; }
      java.util.Collection<Object> r = java.util.Set.class.isAssignableFrom(c) ? new java.util.LinkedHashSet<>() : java.util.Deque.class.isAssignableFrom(c) || c == java.util.LinkedList.class ? new java.util.LinkedList<>() : new java.util.ArrayList<>();
      for (Object x : l) r.add(a.length > 0 ? to(x, a[0]) : x); return r; }
    if (v instanceof java.util.Map) { java.util.Map<Object, Object> r = c == java.util.TreeMap.class ? new java.util.TreeMap<>() : new java.util.LinkedHashMap<>();
      for (java.util.Map.Entry<?, ?> e : ((java.util.Map<?, ?>) v).entrySet()) r.put(e.getKey(), a.length > 1 ? to(e.getValue(), a[1]) : e.getValue()); return r; }
    return v;
  }
  static Object call(String cls, String name, Object... args) throws Throwable {
    for (java.lang.reflect.Method m : Class.forName(cls).getDeclaredMethods()) {
      if (!m.getName().equals(name) || m.getParameterCount() != args.length) continue;
      m.setAccessible(true);
      Object[] xs = new Object[args.length];
      java.lang.reflect.Type[] ts = m.getGenericParameterTypes();
      for (int i = 0; i < xs.length; i++) xs[i] = to(args[i], ts[i]);
      Object self = null;
      if (!java.lang.reflect.Modifier.isStatic(m.getModifiers())) { java.lang.reflect.Constructor<?> k = m.getDeclaringClass().getDeclaredConstructor(); k.setAccessible(true); self = k.newInstance(); }
      try { return m.invoke(self, xs); } catch (java.lang.reflect.InvocationTargetException e) { throw e.getCause(); }
    }
    throw new NoSuchMethodException(name);
  }
  static java.util.List<Object> list(Object... xs) { return new java.util.ArrayList<>(java.util.Arrays.asList(xs)); }
  static java.util.Map<String, Object> map(Object... kv) { java.util.Map<String, Object> m = new java.util.LinkedHashMap<>(); for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]); return m; }
  static boolean same(Object a, Object b) {
    if (a instanceof Number && b instanceof Number) return ((Number) a).doubleValue() == ((Number) b).doubleValue();
    if (a != null && b != null && (a.getClass().isArray() || b.getClass().isArray() || a instanceof Iterable)) return j(a).equals(j(b));
    return java.util.Objects.equals(a, b);
  }
  static void assertEquals(Object expected, Object actual) { if (!same(expected, actual)) throw new AssertionError("expected " + j(expected) + ", got " + j(actual)); }
  static void assertTrue(boolean c) { if (!c) throw new AssertionError("assertTrue"); }
  static void assertFalse(boolean c) { if (c) throw new AssertionError("assertFalse"); }
  static void report(int i, String kind, String rest) { System.out.println(MARK + " " + i + " " + kind + " " + rest); System.out.flush(); }
  static String why(Throwable e) { return e.getClass().getSimpleName(); }
"""

_IMPORT = re.compile(r"^\s*import\s+[\w.*]+\s*;\s*$", re.MULTILINE)
_PUBLIC_TYPE = re.compile(
    r"^(\s*)public\s+(?=((final|abstract|sealed)\s+)*(class|interface|enum|record)\b)", re.MULTILINE
)


def source(code: str, body: str) -> str:
    """One file: the code's imports first, its types made package-private, then codeuf's class."""
    imports = "".join(m.group(0).strip() + "\n" for m in _IMPORT.finditer(code))
    rest = _PUBLIC_TYPE.sub(r"\1", _IMPORT.sub("", code))
    rest = re.sub(r"^\s*package\s+[\w.]+\s*;", "", rest, flags=re.MULTILINE)
    if not re.search(r"\b(class|interface|enum|record)\s+\w+", rest):
        rest = f"class Solution {{\n{rest}\n}}"  # methods alone, as answers often give them
    return (f"import java.util.*;\n{imports}{rest}\n\npublic class CodeufMain {{\n"
            f"  static final String MARK = {quoted(MARK)};\n{RUNTIME}\n{body}\n}}\n")  # fmt: skip


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    body = "\n".join(f"    {line}" for line in setup)
    wrapped = "\n".join(f"    try {{ {line} report({i}, \"pass\", \"\"); }} catch (Throwable e) {{ report({i}, \"fail\", why(e)); }}"
                        for i, line in tests)  # fmt: skip
    return source(code, f"  public static void main(String[] args) throws Exception {{\n{body}\n{wrapped}\n  }}")


def literal(value: Any) -> str:
    return boxed_literal(value, lambda v: real(v, "Double.POSITIVE_INFINITY", "Double.NaN"), lambda items: f"list({', '.join(items)})",
                         lambda entries: f"map({', '.join(entries)})")  # fmt: skip


def owner(code: str, entry_point: str) -> tuple[str, str]:
    """(class, method) of the entry point: `Class.method` as given, or the class whose body defines `method`."""
    if "." in entry_point:
        cls, _, name = entry_point.rpartition(".")
        return cls, name
    found = re.search(rf"\b[\w<>\[\], ]+\s+{re.escape(entry_point)}\s*\(", code)
    classes = list(re.finditer(r"\b(?:class|record|enum)\s+(\w+)", code))
    before = [c for c in classes if found and c.start() < found.start()]
    return (before[-1].group(1) if before else classes[0].group(1) if classes else "Solution"), entry_point


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    cls, name = owner(code, entry_point)
    lines = [f"    try {{ report({i}, \"value\", j(call({quoted(cls)}, {quoted(name)}{''.join(', ' + literal(a) for a in args)}))); }} "
             f"catch (Throwable e) {{ report({i}, \"error\", why(e)); }}" for i, args in enumerate(inputs)]  # fmt: skip
    return source(code, "  public static void main(String[] args) {\n" + "\n".join(lines) + "\n  }")


_MAIN = re.compile(r"\bstatic\s+void\s+main\s*\(")
"""Where a class declares Java's entry point."""
_TOP_PUBLIC = re.compile(r"^public\s+(?=(?:(?:final|abstract|sealed)\s+)*(?:class|interface|enum|record)\s+(\w+))",
                         re.MULTILINE)  # fmt: skip


def with_java_util(code: str) -> str:
    """The code with `import java.util.*;` (JShell's first default import), where it imports no package whole:
    answers often use `Arrays` or `List` with no import, as JShell lets them. Its own types and single-type
    imports take precedence over it, so code that builds without it builds the same with it; code importing
    another package whole is left as it is (a name in both would be ambiguous). Put on the line of the package
    declaration, or the first line, so that the compiler's line numbers stay the code's."""
    if re.search(r"^\s*import\s+(?:static\s+)?[\w.]+\.\*\s*;", code, re.MULTILINE):
        return code
    package = re.search(r"^\s*package\s+[\w.]+\s*;", blank(code), re.MULTILINE)
    if package:
        return f"{code[: package.end()]} import java.util.*;{code[package.end() :]}"
    return f"import java.util.*; {code}"


def prepare(code: str) -> dict[str, str]:
    name, code = _file_of(code)
    return {name: with_java_util(code)}  # the import after: it goes on the first line, before a public type


def _file_of(code: str) -> tuple[str, str]:
    """The file the code goes in, named after its public type, and the code with one public type."""
    if "public class CodeufMain" in code:
        return "CodeufMain.java", code
    tops = list(_TOP_PUBLIC.finditer(code))
    if len(tops) > 1:  # one public type per file: the one holding main stays public, and names the file
        main = _MAIN.search(code)
        keep = ([t for t in tops if main and t.start() < main.start()] or tops)[-1 if main else 0]
        for top in reversed(tops):
            if top is not keep:
                code = code[: top.start()] + code[top.end() :]
        return f"{keep.group(1)}.java", code
    named = re.search(r"^\s*public\s+(?:(?:final|abstract)\s+)*class\s+(\w+)", code, re.MULTILINE)
    if named:
        return f"{named.group(1)}.java", code
    # no public class: the file may have any name, and the JVM starts the class that declares main
    return f"{_holder_of_main(code) or 'Main'}.java", code


_TYPE = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s*)*(?:(?:public|private|protected|static|final|abstract|sealed|strictfp)\s+)*"
                   r"(?:class|interface|enum|record)\s+\w+")  # fmt: skip
_MEMBER = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s*)*((?:(?:public|private|protected|static|final|synchronized|abstract)\s+)*)"
                     r"(?:<[^>]*>\s*)?[\w.]+(?:<[^;{}()]*>)?(?:\[\])*\s+\w+\s*\([^;{}]*\)\s*(?:throws\s+[\w.,\s]+)?\{")  # fmt: skip
_FIELD = re.compile(r"^\s*(?:(?:private|protected|public)\s+)(?:(?:static|final)\s+)*[\w.<>\[\], ]+\s+\w+\s*(=|;)")


def snippet(code: str) -> str | None:
    """Code given as JShell would take it (statements, methods and types with no class around them, as answers
    often give Java) as one program: its types as they are, its methods and fields static members of a class
    Main, and its statements the body of Main's `main`. None for code that is already a program or a class."""
    if "class CodeufMain" in code or re.search(r"^\s*package\s", code, re.MULTILINE):
        return None
    imports = "".join(m.group(0).strip() + "\n" for m in _IMPORT.finditer(code))
    parts = snippet_parts(_IMPORT.sub("", code), _TYPE, (_MEMBER, _FIELD), _MAIN)
    if parts is None:
        return None  # types alone (the existing rules), or statements beside a main of its own
    types, members, statements, has_main = parts
    body = "" if has_main else ("  public static void main(String[] args) throws Exception {\n"
                                      + "".join(statements) + "\n  }\n")  # fmt: skip
    return f"import java.util.*;\n{imports}{''.join(types)}\npublic class Main {{\n{''.join(members)}\n{body}}}\n"


def _holder_of_main(code: str) -> str | None:
    """The top-level type whose body declares `static void main`, found by brace depth (strings and comments
    blanked first, so that a brace in them does not count)."""
    bare = blank(code)
    main = _MAIN.search(bare)
    if main is None:
        return None
    depth, holder = 0, None
    for match in re.finditer(r"[{}]|\b(?:class|enum|record|interface)\s+(\w+)", bare[: main.start()]):
        if match.group(0) == "{":
            depth += 1
        elif match.group(0) == "}":
            depth -= 1
            holder = holder if depth > 0 else None
        elif depth == 0:
            holder = match.group(1)
    return holder


def run(tools: dict[str, str], source: str) -> list[str]:
    main = source.removesuffix(".java")
    return [tools["java"], "-ea", "-Xmx256m", "-Xss16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Xshare:auto", "-cp", ".", main]  # fmt: skip


LANGUAGE = Language(
    name="java", title="Java", fences=("java",), tools=("javac", "java"), install="apt-get install default-jdk-headless",
    source="Main.java",
    markers=(r"\bpublic\s+(static\s+)?(class|void|int|String)\b", r"\bSystem\.out\.print", r"\bString\[\]\s+args\b",
             r"\bnew\s+(ArrayList|HashMap|int\[)", r"^\s*import\s+java\."),
    prepare=prepare,
    build=lambda tools, source: [tools["javac"], "-J-Xmx384m", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1",
                                 "-nowarn", "-encoding", "UTF-8", "-d", "classes", source],
    run=lambda tools, source: [*run(tools, source)[:-3], "-cp", "{build}/classes", source.removesuffix(".java")],
    artifacts=("classes",), threads=64, tests_program=tests_program, calls_program=calls_program,
    assert_line=r"^\s*(assert\b|assertEquals\s*\(|assertTrue\s*\(|assertFalse\s*\()",
    assert_example='assertEquals(expected, Solution.NAME(...));',
    definition=r"^\s*(?:(?:public|private|protected|static|final)\s+)+[\w<>\[\],\s]+?\s([A-Za-z_]\w*)\s*\(",
    library=lambda code: snippet(code) or (None if _MAIN.search(code) or "class CodeufMain" in code
                                            else source(code, "  public static void main(String[] args) {}")),
)  # fmt: skip
