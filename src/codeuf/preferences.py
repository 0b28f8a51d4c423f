"""The five coding preferences of CodeUltraFeedback: names, principles and rubric levels.

Written for this project after the intent of the paper: each preference has ten principles (one is
drawn per response as the system prompt of the generating model) and a rubric whose five levels the
judge rates against. Labels are exactly those of the released datasets.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeuf.errors import InputError


@dataclass(frozen=True)
class Preference:
    name: str
    title: str
    criteria: str
    principles: tuple[str, ...]
    levels: tuple[str, str, str, str, str]
    """What a rating of 1, 2, 3, 4 and 5 means, in that order."""


PREFERENCES: dict[str, Preference] = {
    p.name: p
    for p in [
        Preference(
            name="instruction-following",
            title="Instruction following",
            criteria="how faithfully the response does what the instruction asks, no more and no less, "
            "respecting every stated constraint (language, signature, format, limits)",
            principles=(
                "Do exactly what the user asks. Follow every constraint in the request, and when a constraint "
                "cannot be met, say so instead of quietly changing the task.",
                "Read the request twice before answering. Your answer must match the requested language, "
                "function names, inputs and outputs precisely.",
                "Stay inside the scope of the request. Do not add unrequested features, and do not leave out "
                "any part that was asked for.",
                "Treat the user's specification as a contract: every requirement must be visibly satisfied in "
                "your code, and deviations are only acceptable when explicitly justified.",
                "If the instruction fixes a format, a library or a style, use it even if you would have chosen "
                "differently.",
                "Answer the question that was asked. Where the request is ambiguous, state the interpretation "
                "you chose and keep to it.",
                "Honor the stated constraints on input size, complexity, dependencies and output format; check "
                "your answer against each of them before finishing.",
                "Keep to the user's intent: solve the given problem with the given tools, and ask for "
                "clarification only when following the instruction is impossible.",
                "Mirror the structure the user requested, such as a single function, a class or a full script, "
                "and use the exact names they gave.",
                "Prioritise fidelity to the request over cleverness: a simple solution that meets every "
                "requirement beats an elaborate one that misses one.",
            ),
            levels=(
                "ignores the instruction or solves a different problem",
                "addresses the task but misses or violates several explicit requirements",
                "follows the main request but misses or bends some requirement",
                "follows the instruction closely with only a minor, justified deviation",
                "follows every requirement and constraint exactly",
            ),
        ),
        Preference(
            name="explanation",
            title="Code explanation",
            criteria="how clearly and accurately the response explains the code: its logic, structure, "
            "design decisions and how to use it, at a depth that helps the reader understand",
            principles=(
                "Explain your code so that a reader understands not just what it does but why it is built this way.",
                "Walk through the logic step by step, and point out the design decisions and their trade-offs.",
                "After the code, give a clear explanation of its structure, the role of each part, and how to use it.",
                "Write for a learner: define terms, explain the algorithm's idea, and show a short example of "
                "input and output.",
                "Make your reasoning visible. Describe the approach before the code and the important details "
                "after it.",
                "Explain edge cases and why the code handles them the way it does.",
                "Keep the explanation accurate and focused: every sentence should help the reader understand "
                "the code in front of them.",
                "Describe the data flow through the program and the purpose of each function or block.",
                "Explain the complexity and the limitations of the solution in plain words.",
                "Use comments for local detail and prose for the big picture, so that both the how and the why "
                "are clear.",
            ),
            levels=(
                "no explanation, or one that is wrong or misleading",
                "a superficial explanation that misses the logic or key decisions",
                "explains the basics but leaves important parts or reasons unclear",
                "a clear, accurate explanation of the logic and most decisions",
                "an excellent explanation: clear, accurate, covering logic, structure, decisions and use",
            ),
        ),
        Preference(
            name="complexity",
            title="Code complexity and efficiency",
            criteria="how efficient the solution is in time and memory, whether it uses suitable algorithms and "
            "data structures, and whether it avoids needless work, while staying correct",
            principles=(
                "Aim for the most time- and memory-efficient correct solution, and choose algorithms and data "
                "structures for their complexity.",
                "Avoid unnecessary work: no repeated computation, no needless copies, no quadratic loops where "
                "a linear pass will do.",
                "State the time and space complexity of your solution and prefer the better asymptotic bound "
                "when it does not hurt correctness.",
                "Optimise for large inputs. Think about how your code behaves when the data grows by orders of "
                "magnitude.",
                "Use the efficient built-ins and standard library tools of the language instead of reinventing "
                "slower versions.",
                "Keep resource use low: stream data where possible, release what you no longer need, and avoid "
                "loading everything into memory.",
                "Prefer an efficient algorithm to micro-optimisations, but do not leave obvious performance on "
                "the table.",
                "Write code that is fast and correct: efficiency never excuses a wrong answer.",
                "Consider the cost of each operation you use, such as lookups, insertions and string building, "
                "and pick structures that make the common case cheap.",
                "Balance efficiency with clarity, but when they conflict on a hot path, choose the efficient "
                "version and explain it.",
            ),
            levels=(
                "wrong, or grossly inefficient for the task",
                "works but with clearly poor algorithmic choices or wasteful resource use",
                "reasonable efficiency with some clear room for improvement",
                "efficient, with well-chosen algorithms and data structures",
                "optimal or near-optimal in time and memory, with no needless work",
            ),
        ),
        Preference(
            name="readability",
            title="Code readability",
            criteria="how easy the code is to read and understand: clear names, simple structure, sensible "
            "decomposition, and concise, helpful comments and documentation",
            principles=(
                "Write code that is easy to read: clear names, short functions, and comments where the intent "
                "is not obvious.",
                "Favour straightforward code over clever tricks; a reader should understand each line at a glance.",
                "Name variables and functions after what they mean, and keep each function focused on one task.",
                "Document your code concisely: a docstring for each function and brief comments for non-obvious logic.",
                "Structure the code so that its shape follows the problem: small, well-named pieces composed simply.",
                "Avoid deep nesting and long expressions; break them up with well-named intermediate values.",
                "Keep comments accurate and to the point; they should explain why, not repeat what the code says.",
                "Make the code self-explanatory first, then add documentation where it still helps.",
                "Use consistent formatting and layout so that the code reads like well-edited prose.",
                "Optimise for the next person who reads this code: clarity first, then brevity.",
            ),
            levels=(
                "very hard to read: cryptic names, no structure, no useful comments",
                "hard to read in places: poor names or structure, sparse or unhelpful comments",
                "fairly readable, with some unclear names, structure or documentation",
                "readable and well organised, with clear names and helpful comments",
                "exemplary readability: clear, well structured, concisely and usefully documented",
            ),
        ),
        Preference(
            name="style",
            title="Coding style",
            criteria="how well the code follows the idioms and conventions of its language and community: "
            "idiomatic constructs, standard formatting and naming, and maintainable practices",
            principles=(
                "Write idiomatic code: use the constructs and conventions that experienced programmers of this "
                "language expect.",
                "Follow the language's standard style guide for naming, formatting and layout.",
                "Prefer the language's own idioms, such as comprehensions, iterators or pattern matching, over "
                "patterns carried over from other languages.",
                "Write maintainable code that follows community best practices, including error handling, "
                "typing and structure.",
                "Use the standard library idiomatically, and follow the conventions of the ecosystem you are "
                "writing for.",
                "Keep the style consistent throughout: naming, spacing, quotes and structure should not change "
                "from one part to the next.",
                "Write code that would pass a strict code review in a well-run project of this language.",
                "Apply the language's conventions for modules, classes and functions, and avoid constructs the "
                "community considers bad practice.",
                "Make the code look native to its language, as if written by an expert of that language.",
                "Favour conventional, predictable code over personal quirks; follow the principle of least surprise.",
            ),
            levels=(
                "ignores the language's conventions; unidiomatic throughout",
                "mostly unidiomatic, with frequent style violations",
                "partly idiomatic, with some non-conventional constructs or inconsistencies",
                "idiomatic and consistent, with minor style issues",
                "exemplary idiomatic style that follows the language's conventions throughout",
            ),
        ),
    ]
}

PREFERENCE_NAMES: tuple[str, ...] = ("instruction-following", "readability", "complexity", "style", "explanation")


def get_preference(name: str) -> Preference:
    try:
        return PREFERENCES[name]
    except KeyError:
        known = ", ".join(PREFERENCE_NAMES)
        raise InputError(f"unknown preference {name!r} (known: {known})", field="preference") from None
