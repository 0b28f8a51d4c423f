# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""Perl 5, run by `perl`. Asserts are Test::More's names (`ok`, `is`, `isnt`, `is_deeply`, defined by codeuf
to die on failure), `assert(...)`, or `die ... unless ...` lines, each in its own `eval`: a test passes when
its line neither dies nor returns false (so Test::More's own functions, if the code imports them, count
too). Call cases pass lists as array references and maps as hash references, as MultiPL-E translates
HumanEval, and print the result with JSON::PP (core Perl); a boolean Perl made (`==`, `!`) prints as one."""

from __future__ import annotations

import re
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, script_literal, single_quoted

PRELUDE = f"""
$| = 1;
sub codeuf_report {{ my ($i, $kind, $rest) = @_; print STDOUT '{MARK}' . " $i $kind $rest\\n"; }}
sub codeuf_why {{ my ($e) = @_; return ref($e) if ref($e); $e = "$e"; $e =~ s/ at \\S+ line \\d+.*//s; $e =~ s/\\n.*//s; return $e; }}
sub codeuf_same {{
  my ($x, $y) = @_;
  return !defined($y) if !defined($x);
  return 0 if !defined($y) || ref($x) ne ref($y);
  if (ref($x) eq 'ARRAY') {{ return 0 if @$x != @$y; for my $i (0 .. $#$x) {{ return 0 unless codeuf_same($x->[$i], $y->[$i]); }} return 1; }}
  if (ref($x) eq 'HASH') {{ return 0 if keys(%$x) != keys(%$y); for my $k (keys %$x) {{ return 0 unless exists($y->{{$k}}) && codeuf_same($x->{{$k}}, $y->{{$k}}); }} return 1; }}
  return "$x" eq "$y";
}}
sub ok {{ $_[0] or die "ok failed\\n"; 1 }}
sub assert {{ $_[0] or die "assertion failed\\n"; 1 }}
sub is {{ codeuf_same($_[0], $_[1]) && !ref($_[0]) or die "is failed\\n"; 1 }}
sub isnt {{ !codeuf_same($_[0], $_[1]) or die "isnt failed\\n"; 1 }}
sub is_deeply {{ codeuf_same($_[0], $_[1]) or die "is_deeply failed\\n"; 1 }}
"""

RESULTS = """
package main;
require JSON::PP;
sub codeuf_plain {
  my ($v) = @_;
  return [map { codeuf_plain($_) } @$v] if ref($v) eq 'ARRAY';
  return {map { ($_ => codeuf_plain($v->{$_})) } keys %$v} if ref($v) eq 'HASH';
  no warnings;
  return ($v ? JSON::PP::true() : JSON::PP::false()) if defined($v) && !ref($v) && defined(&builtin::is_bool) && builtin::is_bool($v);
  return $v;
}
my $codeuf_json = JSON::PP->new->canonical->allow_nonref->utf8;
"""


def body(code: str) -> str:
    """The code up to `__END__`, after which Perl reads nothing (the harness follows the code)."""
    return re.split(r"(?m)^__END__\s*$", code, maxsplit=1)[0]


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    wrapped = "\n".join(f"{{ my $codeuf_ok = eval {{ {line.rstrip().rstrip(';')} }}; "
                        f"if ($@) {{ codeuf_report({i}, 'fail', codeuf_why($@)); }} "
                        f"elsif (!$codeuf_ok) {{ codeuf_report({i}, 'fail', 'false'); }} "
                        f"else {{ codeuf_report({i}, 'pass', ''); }} }}" for i, line in tests)  # fmt: skip
    return f"{PRELUDE}\n{body(code)}\npackage main;\nuse utf8;\n" + "\n".join(setup) + "\n" + wrapped + "\n"


def literal(value: Any) -> str:
    return script_literal(value, "Perl", null="undef", true="!!1", false="!!0", infinity="9**9**9",
                          nan="(9**9**9 - 9**9**9)", string=single_quoted)  # fmt: skip


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    lines = [f"eval {{ codeuf_report({i}, 'value', $codeuf_json->encode(codeuf_plain(scalar {entry_point}({', '.join(literal(a) for a in args)})))); 1 }} "
             f"or codeuf_report({i}, 'error', codeuf_why($@));" for i, args in enumerate(inputs)]  # fmt: skip
    return f"{PRELUDE}\n{body(code)}\n{RESULTS}\nuse utf8;\n" + "\n".join(lines) + "\n"


LANGUAGE = Language(
    name="perl", title="Perl", fences=("perl", "pl"), tools=("perl",), install="apt-get install perl",
    source="main.pl",
    markers=(r"^\s*use\s+(strict|warnings)\s*;", r"^\s*my\s+[\$@%]\w+", r"^\s*sub\s+\w+\s*\{", r"^#!.*\bperl\b",
             r"\bforeach\s+my\s+\$\w+", r"^\s*print\s+\"[^\"]*\\n\"\s*;"),
    run=lambda tools, source: [tools["perl"], source], threads=8, tests_program=tests_program,
    calls_program=calls_program,
    assert_line=r"^\s*(ok|is|isnt|is_deeply|assert)\s*\(|^\s*die\b.*\bunless\b",
    assert_example="is(NAME(...), ...);",
)  # fmt: skip
