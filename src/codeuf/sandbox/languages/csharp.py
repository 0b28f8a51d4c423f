# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""C#, built by Mono's `mcs` and run by `mono` (Debian's `mono-mcs`: C# up to 7; top-level statements and
records do not build). Asserts are `Assert.AreEqual(expected, actual)`, `Assert.IsTrue(...)` and
`Assert.IsFalse(...)` lines (NUnit's names; codeuf defines them) calling the code as its author wrote it
(`Solution.Add(1, 2)`). Call cases find the entry point (`Method` or `Class.Method`, its case ignored when no
method has the exact name, so that cases written for `add` call `Add`) by reflection and convert each JSON
argument into the parameter's type (int, long, double, string, char, arrays, List<T>, HashSet<T>,
Dictionary<K, V>, ...); results are printed as JSON.

codeuf's harness goes in a second file (`codeuf_main.cs`, with `using` for every namespace the code declares),
built with `-main:CodeufMain`, so that the code's own `Main` and namespaces stay as they are."""

from __future__ import annotations

import re
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, blank, boxed_literal, quoted, real, snippet_parts

HARNESS = "\n// @@codeuf harness\n"
"""Where the code ends and codeuf's harness begins, in the one text a program is made from."""

RUNTIME = r"""
static class CodeufRuntime {
  public static string J(object o) {
    if (o == null) return "null";
    if (o is string || o is char) {
      var b = new StringBuilder("\"");
      foreach (char c in o.ToString()) {
        if (c == '"' || c == '\\') b.Append('\\').Append(c);
        else if (c < 0x20) b.Append("\\u" + ((int) c).ToString("x4"));
        else b.Append(c);
      }
      return b.Append('"').ToString();
    }
    if (o is bool) return (bool) o ? "true" : "false";
    if (o is double || o is float || o is decimal) { double d = Convert.ToDouble(o, CultureInfo.InvariantCulture); return d == Math.Floor(d) && Math.Abs(d) < 1e15 ? ((long) d).ToString(CultureInfo.InvariantCulture) + ".0" : d.ToString("R", CultureInfo.InvariantCulture); }
    if (o.GetType().IsPrimitive || o is System.Numerics.BigInteger) return Convert.ToString(o, CultureInfo.InvariantCulture);
    if (o is IDictionary) { var b = new StringBuilder("{"); bool f = true; foreach (DictionaryEntry e in (IDictionary) o) { if (!f) b.Append(','); f = false; b.Append(J(Convert.ToString(e.Key, CultureInfo.InvariantCulture))).Append(':').Append(J(e.Value)); } return b.Append('}').ToString(); }
    if (o is IEnumerable) { var b = new StringBuilder("["); bool f = true; foreach (object x in (IEnumerable) o) { if (!f) b.Append(','); f = false; b.Append(J(x)); } return b.Append(']').ToString(); }
    return J(o.ToString());
  }
  public static object To(object v, Type t) {
    if (v == null) return null;
    if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Nullable<>)) t = Nullable.GetUnderlyingType(t);
    if (t == typeof(object)) return v;
    if (v is long || v is double) return t == typeof(System.Numerics.BigInteger) ? (object) new System.Numerics.BigInteger(Convert.ToDouble(v)) : Convert.ChangeType(v, t, CultureInfo.InvariantCulture);
    if (v is string) { if (t == typeof(char)) return ((string) v)[0]; if (t != typeof(string) && typeof(IConvertible).IsAssignableFrom(t)) return Convert.ChangeType(v, t, CultureInfo.InvariantCulture); return v; }
    if (v is List<object>) {
      var l = (List<object>) v;
      if (t.IsArray) { var et = t.GetElementType(); var r = Array.CreateInstance(et, l.Count); for (int i = 0; i < l.Count; i++) r.SetValue(To(l[i], et), i); return r; }
      Type e = t.IsGenericType ? t.GetGenericArguments()[0] : typeof(object);
      Type made = t.IsInterface || t.IsAbstract ? typeof(List<>).MakeGenericType(e) : t;
      object c = Activator.CreateInstance(made);
      var add = made.GetMethod("Add", new[] { e }) ?? made.GetMethod("Enqueue", new[] { e }) ?? made.GetMethod("Push", new[] { e });
      foreach (var x in l) add.Invoke(c, new[] { To(x, e) });
      return c;
    }
    if (v is Dictionary<string, object>) {
      Type[] a = t.IsGenericType ? t.GetGenericArguments() : new[] { typeof(string), typeof(object) };
      Type made = t.IsInterface || t.IsAbstract ? typeof(Dictionary<,>).MakeGenericType(a) : t;
      var d = (IDictionary) Activator.CreateInstance(made);
      foreach (var kv in (Dictionary<string, object>) v) d[To(kv.Key, a[0])] = To(kv.Value, a[1]);
      return d;
    }
    return v;
  }
  public static object Call(string cls, string name, object[] args) {
    foreach (bool exact in new[] { true, false }) {
      foreach (var type in Assembly.GetExecutingAssembly().GetTypes()) {
        if ((cls != null && type.Name != cls) || type.Name.StartsWith("Codeuf")) continue;
        foreach (var m in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly)) {
          bool named = exact ? m.Name == name : string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase);
          if (!named || m.GetParameters().Length != args.Length || m.ContainsGenericParameters) continue;
          var ps = m.GetParameters();
          var xs = new object[args.Length];
          for (int i = 0; i < xs.Length; i++) xs[i] = To(args[i], ps[i].ParameterType);
          object self = m.IsStatic ? null : Activator.CreateInstance(type, true);
          try { return m.Invoke(self, xs); } catch (TargetInvocationException e) { throw e.InnerException; }
        }
      }
    }
    throw new MissingMethodException(name);
  }
  public static List<object> L(object[] xs) { return new List<object>(xs); }
  public static Dictionary<string, object> M(object[] kv) { var m = new Dictionary<string, object>(); for (int i = 0; i < kv.Length; i += 2) m[(string) kv[i]] = kv[i + 1]; return m; }
  public static bool Same(object a, object b) {
    if (a != null && b != null && a.GetType().IsPrimitive && b.GetType().IsPrimitive && !(a is bool) && !(b is bool) && !(a is char) && !(b is char))
      return Convert.ToDouble(a, CultureInfo.InvariantCulture) == Convert.ToDouble(b, CultureInfo.InvariantCulture);
    return J(a) == J(b);
  }
  public static void Report(int i, string kind, string rest) { Console.WriteLine(CodeufMark.Value + " " + i + " " + kind + " " + rest); Console.Out.Flush(); }
  public static string Why(Exception e) { return e.GetType().Name + (e is AssertionException ? ": " + e.Message : ""); }
}
class AssertionException : Exception { public AssertionException(string m) : base(m) { } }
static class Assert {
  public static void AreEqual(object expected, object actual) { if (!CodeufRuntime.Same(expected, actual)) throw new AssertionException("expected " + CodeufRuntime.J(expected) + ", got " + CodeufRuntime.J(actual)); }
  public static void AreNotEqual(object expected, object actual) { if (CodeufRuntime.Same(expected, actual)) throw new AssertionException("both " + CodeufRuntime.J(actual)); }
  public static void IsTrue(bool c) { if (!c) throw new AssertionException("IsTrue"); }
  public static void IsFalse(bool c) { if (c) throw new AssertionException("IsFalse"); }
}
"""

_USINGS = ("System", "System.Collections", "System.Collections.Generic", "System.Globalization", "System.Linq",
           "System.Reflection", "System.Text")  # fmt: skip
_MAIN = re.compile(r"\bstatic\s+(?:async\s+)?(?:void|int|Task(?:<int>)?)\s+Main\s*\(")


_USING = re.compile(r"^\s*using\s+(?:static\s+)?[\w.]+(?:\s*=\s*[\w.<>, ]+)?\s*;[ \t]*\n?", re.MULTILINE)
_MODIFIERS = r"(?:(?:public|private|protected|internal|static|async|override|virtual|unsafe|readonly|const)\s+)*"
_TYPE = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*(?:(?:public|private|protected|internal|static|sealed|abstract|partial|readonly)\s+)*"
                   r"(?:class|struct|interface|enum|record|delegate)\s+\w+")  # fmt: skip
_MEMBER = re.compile(
    rf"^\s*(?:\[[^\]]*\]\s*)*{_MODIFIERS}[\w.]+(?:<[^;{{}}()]*>)?(?:\[,*\])*\??\s+\w+\s*(?:<[^>]*>)?\s*\([^;{{}}]*\)\s*\{{"
)
_FIELD = re.compile(
    r"^\s*(?:(?:private|protected|public|internal)\s+)(?:(?:static|readonly|const)\s+)*[\w.<>\[\], ]+\s+\w+\s*(=|;)"
)


def snippet(code: str) -> str | None:
    """Code given as C# scripts take it (statements and methods with no class around them, as answers often give
    C#; top-level statements need C# 9, and Mono's compiler has C# 7) as one program: its types as they are, its
    methods and fields static members of a class Program, its statements the body of Program's `Main`, and the
    usings .NET's SDK implies. None for code that is already a program or a class."""
    if HARNESS in code or re.search(r"^\s*namespace\s", blank(code), re.MULTILINE):
        return None
    parts = snippet_parts(_USING.sub("", code), _TYPE, (_MEMBER, _FIELD), _MAIN, static="static|const")
    if parts is None:
        return None  # types alone (the existing rules), or statements beside a Main of its own
    types, members, statements, has_main = parts
    main = "" if has_main else "  static void Main() {\n" + "".join(statements) + "\n  }\n"
    return _usings(code) + "".join(types) + f"\nstatic class Program {{\n{''.join(members)}\n{main}}}\n"


def _usings(code: str) -> str:
    """The code's usings and those .NET's SDK implies, one line each."""
    found = {m.group(0).strip() for m in _USING.finditer(code)} | {f"using {name};" for name in _USINGS}
    return "".join(f"{line}\n" for line in sorted(found))


def harness(code: str, body: str) -> str:
    """The code, then codeuf's file: its usings (and every namespace the code declares), the runtime, and
    CodeufMain holding `body`. `prepare` splits the two. Methods given alone go in a class Solution, as in Java,
    with the usings .NET's SDK implies."""
    if not re.search(r"\b(?:class|struct|record|interface|enum)\s+\w+", blank(code)):
        code = _usings(code) + f"class Solution {{\n{_USING.sub('', code)}\n}}"
    namespaces = sorted(set(re.findall(r"^\s*namespace\s+([\w.]+)", code, re.MULTILINE)))
    usings = "".join(f"using {name};\n" for name in [*_USINGS, *namespaces])
    return (f"{code}{HARNESS}{usings}\nstatic class CodeufMark {{ public const string Value = {quoted(MARK)}; }}\n"
            f"{RUNTIME}\nclass CodeufMain {{\n{body}\n}}\n")  # fmt: skip


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    lines = [f"    {line}" for line in setup]
    lines += [f'    try {{ {line} CodeufRuntime.Report({i}, "pass", ""); }} catch (Exception e) {{ CodeufRuntime.Report({i}, "fail", CodeufRuntime.Why(e)); }}'
              for i, line in tests]  # fmt: skip
    return harness(code, "  static void Main() {\n" + "\n".join(lines) + "\n  }")


def literal(value: Any) -> str:
    return boxed_literal(value, lambda v: real(v, "double.PositiveInfinity", "double.NaN", "D"), lambda items: f"CodeufRuntime.L(new object[] {{{', '.join(items)}}})",
                         lambda entries: f"CodeufRuntime.M(new object[] {{{', '.join(entries)}}})")  # fmt: skip


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    cls, _, name = entry_point.rpartition(".")
    owner = quoted(cls) if cls else "null"
    lines = [f'    try {{ CodeufRuntime.Report({i}, "value", CodeufRuntime.J(CodeufRuntime.Call({owner}, {quoted(name)}, '
             f'new object[] {{{", ".join(literal(a) for a in args)}}}))); }} '
             f'catch (Exception e) {{ CodeufRuntime.Report({i}, "error", CodeufRuntime.Why(e)); }}'
             for i, args in enumerate(inputs)]  # fmt: skip
    return harness(code, "  static void Main() {\n" + "\n".join(lines) + "\n  }")


def prepare(code: str) -> dict[str, str]:
    if HARNESS in code:
        mine, _, theirs = code.partition(HARNESS)
        return {"codeuf_main.cs": theirs, "main.cs": mine}
    return {"main.cs": code}


def build(tools: dict[str, str], source: str) -> list[str]:
    argv = [tools["mcs"], "-nologo", "-nowarn:0105,0168,0219,0414", "-r:System.Numerics.dll", "-out:main.exe"]
    if source == "codeuf_main.cs":
        return [*argv, "-main:CodeufMain", "main.cs", "codeuf_main.cs"]
    return [*argv, source]


LANGUAGE = Language(
    name="csharp", title="C#", fences=("csharp", "cs", "c#"), tools=("mcs", "mono"), install="apt-get install mono-mcs",
    source="main.cs",
    markers=(r"^\s*using\s+System(\.[\w.]+)?\s*;", r"\bConsole\.(Write|WriteLine|ReadLine)\(", _MAIN.pattern,
             r"^\s*namespace\s+[\w.]+\s*\{?", r"\bpublic\s+static\s+\w+(<[\w<>, ]+>)?\s+[A-Z]\w*\s*\("),
    prepare=prepare, build=build, run=lambda tools, source: [tools["mono"], "{build}/main.exe"],
    artifacts=("main.exe",), threads=32, address_space_bytes=1 << 40, env={"MONO_GC_PARAMS": "max-heap-size=512m"},
    tests_program=tests_program, calls_program=calls_program,
    assert_line=r"^\s*Assert\.(AreEqual|AreNotEqual|IsTrue|IsFalse)\s*\(",
    assert_example="Assert.AreEqual(expected, Solution.NAME(...));",
    definition=r"^\s*(?:(?:public|private|protected|internal|static|async|override|virtual)\s+)+[\w<>\[\],\s]+?\s([A-Za-z_]\w*)\s*\(",
    library=lambda code: snippet(code) or (None if _MAIN.search(code) or HARNESS in code
                                            else harness(code, "  static void Main() {}")),
)  # fmt: skip
