"""Evaluations that are features of codeuf (not `benchmarks/`, which measures codeuf itself): CODAL-Bench
(coding preferences, judged against references), the executed benchmarks behind `codeuf humaneval`
(HumanEval+, MBPP+, HumanEval, stdin/stdout; `bench/tasks/`), and `codeuf judge-eval`."""
