"""Batches, in one package:

- `files`: the OpenAI Batch API's file formats (input lines checked, output lines written, resume);
- `providers`: provider batch APIs (OpenAI Batch, Anthropic Message Batches): splitting within their limits,
  the journal a killed run attaches to, polling, retries; a backend opts in with `supports_batch`;
- `command`: `codeuf llm batch`, a batch file answered through a session, with its output and manifest.

`files` and `providers` belong to the LLM layer (the runner sends batch-capable requests through
`providers`); `command` sits above it, beside the other commands' library functions (tests/unit/test_layers.py
ranks it on its own)."""
