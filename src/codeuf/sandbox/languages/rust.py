# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""Rust, built by rustc (edition 2021, the standard library only). Asserts are `assert!`, `assert_eq!` and
`assert_ne!` lines, each caught on its own (a panic fails that test alone). Call cases follow MultiPL-E's Rust:
owned values (`Vec<T>`, `String`, via `.into()` so `&str` parameters work too), integer and float literals
whose type the parameter decides; results are printed as JSON by a trait codeuf implements for the standard
types. A response's `main` is renamed. rustc is found on PATH, or through rustup."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, Untranslatable, quoted, real

JSON = r"""
#[allow(dead_code)]
mod codeuf {
    pub trait J { fn j(&self) -> String; }
    macro_rules! num { ($($t:ty),*) => { $(impl J for $t { fn j(&self) -> String { self.to_string() } })* } }
    num!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
    impl J for f64 { fn j(&self) -> String { if self.fract() == 0.0 && self.abs() < 1e15 { format!("{:.1}", self) } else { format!("{}", self) } } }
    impl J for f32 { fn j(&self) -> String { (*self as f64).j() } }
    impl J for bool { fn j(&self) -> String { self.to_string() } }
    impl J for char { fn j(&self) -> String { self.to_string().j() } }
    impl J for str {
        fn j(&self) -> String {
            let mut o = String::from("\"");
            for c in self.chars() {
                match c { '"' => o.push_str("\\\""), '\\' => o.push_str("\\\\"), c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)), c => o.push(c) }
            }
            o.push('"'); o
        }
    }
    impl J for String { fn j(&self) -> String { self.as_str().j() } }
    impl<T: J + ?Sized> J for &T { fn j(&self) -> String { (**self).j() } }
    impl<T: J + ?Sized> J for Box<T> { fn j(&self) -> String { (**self).j() } }
    impl<T: J> J for [T] { fn j(&self) -> String { format!("[{}]", self.iter().map(|x| x.j()).collect::<Vec<_>>().join(",")) } }
    impl<T: J> J for Vec<T> { fn j(&self) -> String { self.as_slice().j() } }
    impl<T: J, const N: usize> J for [T; N] { fn j(&self) -> String { self.as_slice().j() } }
    impl<T: J> J for std::collections::VecDeque<T> { fn j(&self) -> String { self.iter().collect::<Vec<_>>().j() } }
    impl<T: J> J for Option<T> { fn j(&self) -> String { match self { Some(x) => x.j(), None => "null".into() } } }
    impl<T: J, E: std::fmt::Debug> J for Result<T, E> { fn j(&self) -> String { match self { Ok(x) => x.j(), Err(e) => panic!("{:?}", e) } } }
    impl J for () { fn j(&self) -> String { "null".into() } }
    impl<A: J, B: J> J for (A, B) { fn j(&self) -> String { format!("[{},{}]", self.0.j(), self.1.j()) } }
    impl<A: J, B: J, C: J> J for (A, B, C) { fn j(&self) -> String { format!("[{},{},{}]", self.0.j(), self.1.j(), self.2.j()) } }
    impl<K: std::fmt::Display, V: J> J for std::collections::HashMap<K, V> {
        fn j(&self) -> String { let mut v: Vec<_> = self.iter().map(|(k, x)| format!("{}:{}", k.to_string().j(), x.j())).collect(); v.sort(); format!("{{{}}}", v.join(",")) }
    }
    impl<K: std::fmt::Display, V: J> J for std::collections::BTreeMap<K, V> {
        fn j(&self) -> String { format!("{{{}}}", self.iter().map(|(k, x)| format!("{}:{}", k.to_string().j(), x.j())).collect::<Vec<_>>().join(",")) }
    }
    impl<T: J + Ord> J for std::collections::HashSet<T> where T: std::hash::Hash { fn j(&self) -> String { let mut v: Vec<&T> = self.iter().collect(); v.sort(); v.j() } }
    impl<T: J> J for std::collections::BTreeSet<T> { fn j(&self) -> String { self.iter().collect::<Vec<_>>().j() } }
    pub fn report(i: usize, kind: &str, rest: &str) { use std::io::Write; let mut out = std::io::stdout(); let _ = writeln!(out, "MARK {} {} {}", i, kind, rest); let _ = out.flush(); }
    pub fn why(e: Box<dyn std::any::Any + Send>) -> String {
        e.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| e.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into()).replace('\n', " ").chars().take(200).collect()
    }
}
use codeuf::J as _;
""".replace("MARK", MARK)


def user_file(code: str) -> str:
    return "#![allow(warnings)]\n" + re.sub(r"\bfn\s+main\s*\(\s*\)", "fn codeuf_user_main()", code, count=1)


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    body = "\n".join(f"    {line}" for line in setup)
    wrapped = "\n".join(
        f"    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {{ {line} }})) "
        f'{{ Ok(_) => codeuf::report({i}, "pass", ""), Err(e) => codeuf::report({i}, "fail", &codeuf::why(e)) }}'
        for i, line in tests
    )
    return f"{user_file(code)}\n{JSON}\nfn main() {{\n    std::panic::set_hook(Box::new(|_| {{}}));\n{body}\n{wrapped}\n}}\n"


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = real(value, "f64::INFINITY", "f64::NAN")
        return text if any(c in text for c in ".e:") else text + ".0"
    if isinstance(value, str):
        return re.sub(r"\\u([0-9a-fA-F]{4})", r"\\u{\1}", quoted(value)) + ".into()"
    if isinstance(value, list):
        return f"vec![{', '.join(literal(v) for v in value)}]"
    if isinstance(value, dict):
        pairs = ", ".join(f"({literal(k)}, {literal(v)})" for k, v in value.items())
        return f"[{pairs}].into_iter().collect()"
    raise Untranslatable("null cannot be written as a Rust argument")


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    lines = [
        f"    match std::panic::catch_unwind(|| {entry_point}({', '.join(literal(a) for a in args)}).j()) "
        f'{{ Ok(v) => codeuf::report({i}, "value", &v), Err(e) => codeuf::report({i}, "error", &codeuf::why(e)) }}'
        for i, args in enumerate(inputs)
    ]
    return (
        f"{user_file(code)}\n{JSON}\nfn main() {{\n    std::panic::set_hook(Box::new(|_| {{}}));\n"
        + "\n".join(lines)
        + "\n}\n"
    )


def find_rustc(tool: str) -> str | None:
    """rustc itself, not rustup's proxy (which needs the home folder the sandbox hides)."""
    found = shutil.which(tool)
    if found is None:
        return None
    if os.path.basename(os.path.realpath(found)).startswith("rustup"):
        try:
            real = subprocess.run([found, "--print", "sysroot"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        candidate = os.path.join(real.strip(), "bin", "rustc")
        return candidate if os.path.isfile(candidate) else None
    return found


LANGUAGE = Language(
    name="rust", title="Rust", fences=("rust", "rs"), tools=("rustc",), install="apt-get install rustc (or rustup)",
    source="main.rs",
    markers=(r"\bfn\s+\w+\s*(<[^>]*>)?\s*\(", r"\blet\s+(mut\s+)?\w+", r"\bprintln!\(", r"\bimpl\b", r"->\s*(Vec|i32|i64|usize|String|bool)"),
    build=lambda tools, source: [tools["rustc"], "--edition", "2021", "-C", "opt-level=1", "-C", "debuginfo=0",
                                 "-o", "main", source],
    run=lambda tools, source: ["{build}/main"], artifacts=("main",), threads=64, find_tool=find_rustc,
    tests_program=tests_program, calls_program=calls_program, assert_line=r"^\s*(debug_)?assert(_eq|_ne)?!",
    assert_example='assert_eq!(NAME(...), ...);',
    library=lambda code: None if re.search(r"\bfn\s+main\s*\(", code) else "#![allow(warnings)]\n" + code + "\nfn main() {}\n",
)  # fmt: skip
