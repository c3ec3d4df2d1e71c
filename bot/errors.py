"""The exceptions jiuzhu raises on purpose.

    JiuzhuError
    ├── ConfigError        a setting is missing or wrong (names the key)
    └── KnowledgeError     the knowledge base is invalid (names file and entry)

Anything else that escapes is a bug: it is logged with its traceback and the
resident gets a generic apology, never the exception text.
"""


class JiuzhuError(Exception):
    """Base class of the errors jiuzhu raises deliberately."""


class ConfigError(JiuzhuError):
    """A configuration value is missing or invalid."""

    def __init__(self, key: str, problem: str, source: str | None = None):
        super().__init__(f"{source or 'config'}: {key}: {problem}")
        self.key, self.problem, self.source = key, problem, source


class KnowledgeError(JiuzhuError):
    """The knowledge base failed validation; carries every problem found."""

    def __init__(self, problems: list[str]):
        super().__init__("knowledge base invalid:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems
