# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""C++, built by g++ (C++17). Asserts are `assert(...)` lines, each counted by codeuf's own `assert` and
guarded against exceptions; call cases use `long` for integers, `std::vector` for lists, `std::map` for
objects and `std::string` for strings (MultiPL-E's choices), and print results as JSON."""

from __future__ import annotations

import re
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, Untranslatable, arg_types, blank, element, quoted, real
from codeuf.sandbox.languages.c import without_main

JSON = r"""
#include <cstdio>
#include <string>
#include <vector>
#include <map>
#include <sstream>
#include <tuple>
#include <utility>
#include <optional>
namespace codeuf {
inline std::string j(const std::string& v);
inline std::string j(double v);
template <typename T> std::string j(const std::vector<T>& v);
template <typename A, typename B> std::string j(const std::pair<A, B>& v);
template <typename K, typename V> std::string j(const std::map<K, V>& v);
template <typename T> std::string j(const std::optional<T>& v);
inline std::string j(bool v) { return v ? "true" : "false"; }
inline std::string j(char v) { return j(std::string(1, v)); }
template <typename T, typename std::enable_if<std::is_integral<T>::value, int>::type = 0>
std::string j(T v) { return std::to_string(v); }
inline std::string j(double v) { std::ostringstream s; s.precision(17); s << v; return s.str(); }
inline std::string j(float v) { return j((double)v); }
inline std::string j(const std::string& v) {
  std::string o = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += c;
  }
  return o + "\"";
}
inline std::string j(const char* v) { return j(std::string(v)); }
template <typename T> std::string j(const std::optional<T>& v) { return v ? j(*v) : "null"; }
template <typename T> std::string j(const std::vector<T>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); i++) { if (i) o += ","; o += j((T)v[i]); }
  return o + "]";
}
template <typename A, typename B> std::string j(const std::pair<A, B>& v) { return "[" + j(v.first) + "," + j(v.second) + "]"; }
template <typename K, typename V> std::string j(const std::map<K, V>& v) {
  std::string o = "{"; bool first = true;
  for (auto& kv : v) { if (!first) o += ","; first = false; o += j(std::string(kv.first)) + ":" + j(kv.second); }
  return o + "}";
}
}
"""

HARNESS = f"""
#include <cstdio>
#include <exception>
#undef assert
static int codeuf_failed;
#define assert(c) do {{ if (!(c)) codeuf_failed = 1; }} while (0)
static void codeuf_done(int i) {{ std::printf("{MARK} %d %s\\n", i, codeuf_failed ? "fail assertion" : "pass"); std::fflush(stdout); codeuf_failed = 0; }}
static void codeuf_error(int i) {{ std::printf("{MARK} %d fail exception\\n", i); std::fflush(stdout); }}
"""


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    body = "\n".join(f"    {line}" for line in setup)
    wrapped = "\n".join(f"    try {{ codeuf_failed = 0; {line} codeuf_done({i}); }} catch (...) {{ codeuf_error({i}); }}"
                        for i, line in tests)  # fmt: skip
    return f"#include <cassert>\n{without_main(code)}\n{HARNESS}\nint main() {{\n{body}\n{wrapped}\n    return 0;\n}}\n"


def literal(value: Any, kind: str) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        return f"{value}L"
    if kind == "float":
        return real(float(value), "__builtin_inf()", '__builtin_nan("")')
    if kind == "str":
        return f"std::string({quoted(value)})"
    if kind.startswith("list["):
        inner = element(kind)
        return f"std::vector<{cpp_type(inner)}>{{{', '.join(literal(v, inner) for v in value)}}}"
    if kind.startswith("dict["):
        inner = element(kind)
        pairs = ", ".join(f"{{std::string({quoted(k)}), {literal(v, inner)}}}" for k, v in value.items())
        return f"std::map<std::string, {cpp_type(inner)}>{{{pairs}}}"
    raise Untranslatable(f"no C++ literal for {kind}")


def cpp_type(kind: str) -> str:
    simple = {"bool": "bool", "int": "long", "float": "double", "str": "std::string"}
    if kind in simple:
        return simple[kind]
    if kind.startswith("list["):
        return f"std::vector<{cpp_type(element(kind))}>"
    return f"std::map<std::string, {cpp_type(element(kind))}>"


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    types = arg_types(inputs)
    lines = []
    for i, args in enumerate(inputs):
        call = f"{entry_point}({', '.join(literal(a, t) for a, t in zip(args, types, strict=True))})"
        lines.append(f'    try {{ std::string r = codeuf::j({call}); std::printf("{MARK} {i} value %s\\n", r.c_str()); }} '
                     f'catch (...) {{ std::printf("{MARK} {i} error exception\\n"); }} std::fflush(stdout);')  # fmt: skip
    return f"{JSON}\n{without_main(code)}\nint main() {{\n" + "\n".join(lines) + "\n    return 0;\n}\n"


_HEADERS = {  # header: what names it, where an answer uses that without including it
    "climits": r"\b(?:INT|UINT|LONG|ULONG|LLONG|ULLONG|SHRT|USHRT|CHAR|SCHAR|UCHAR)_(?:MIN|MAX)\b|\bCHAR_BIT\b",
    "string": r"\bstd::(?:string|to_string|stoi|stol|stoll|stod)\b",
    "thread": r"\bstd::(?:thread|this_thread)\b",
}


def prepare(code: str) -> dict[str, str]:
    """main.cpp, with the standard headers libstdc++ does not include for free where the code names what they
    declare and includes neither them nor their C forms (`INT_MAX` with no <climits>: other standard libraries
    bring it in through <iostream>, and GCC's own error names the missing header). The code then stays as it
    is in answer.cpp, which main.cpp includes after them, so that the compiler's messages quote its lines."""
    bare = blank(code)
    missing = [header for header, names in _HEADERS.items()
               if re.search(names, bare) and not re.search(rf"#\s*include\s*<(?:{header}|{header}\.h|bits/stdc\+\+\.h)>", code)
               and not (header == "climits" and "limits.h" in code)]  # fmt: skip
    if not missing:
        return {"main.cpp": code}
    return {
        "main.cpp": "".join(f"#include <{header}>\n" for header in missing) + '#include "answer.cpp"\n',
        "answer.cpp": code,
    }


LANGUAGE = Language(
    name="cpp", title="C++", fences=("cpp", "c++", "cc", "cxx", "hpp"), tools=("g++",), install="apt-get install g++",
    source="main.cpp", prepare=prepare,
    markers=(r"^\s*#include\s*<(iostream|vector|string|algorithm|map|unordered_map|bits/stdc\+\+\.h)>", r"\bstd::",
             r"\bcout\s*<<", r"^\s*using\s+namespace\s+std\s*;", r"\btemplate\s*<"),
    build=lambda tools, source: [tools["g++"], "-std=gnu++17", "-O1", "-w", "-o", "main", source],
    run=lambda tools, source: ["{build}/main"], artifacts=("main",), threads=64, tests_program=tests_program,
    calls_program=calls_program,
    assert_example='assert(NAME(...) == ...);',
    definition=r"^\s*(?:static\s+|inline\s+|const\s+|unsigned\s+)*[A-Za-z_][\w:<>,\s*&]*?[\s*&]([A-Za-z_]\w*)\s*\([^;]*$",
    library=lambda code: None if re.search(r"\bmain\s*\(", code) else code + "\nint main() { return 0; }\n",
)  # fmt: skip
