"""Running generated code: what a response submits (sanitize), tests and EvalPlus tasks (checks, evalplus),
below the stages and the benchmarks that use them; the sandbox itself is codeuf.sandbox."""
