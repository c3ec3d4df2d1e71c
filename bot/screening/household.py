"""A household as the eligibility rules read it, and the thresholds of rules.yaml.

The county standards (低保 standard, 边缘 multiplier) come from config.toml; the
thresholds here are practice to confirm locally, kept in
knowledge/screening/rules.yaml and read by `read_thresholds`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bot.config import Standards
from bot.placeholders import format_number


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of rules.yaml (the county standards stay in config.toml)."""

    savings_months: float
    max_houses: float
    linshi_expense_ratio: float
    yiliao_expense_ratio: float
    tekun_elderly_age: float
    tekun_child_age: float
    tekun_disability_levels: tuple[int, ...]
    alone_priority_age: float
    single_person_disability_levels: tuple[int, ...]
    single_person_conditional_levels: tuple[int, ...]


def read_thresholds(raw: Any, where: str, problems: list[str]) -> Thresholds | None:
    """Positive numbers, and lists of disability levels 1–4 for the *_levels keys."""
    raw = raw if isinstance(raw, dict) else {}
    values, valid = {}, True
    for name in Thresholds.__dataclass_fields__:
        value, levels = raw.get(name), name.endswith("_levels")
        if levels:
            ok = isinstance(value, list) and all(type(v) is int and 1 <= v <= 4 for v in value)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if not ok:
            problems.append(f"{where}.{name}: missing or not "
                            f"{'a list of levels 1-4' if levels else 'a positive number'}")
        valid = valid and ok
        values[name] = tuple(value) if levels and ok else value
    return Thresholds(**values) if valid else None


@dataclass(frozen=True)
class Household:
    """Normalised slot values as the rules read them; a missing or malformed slot is None."""

    fields: Mapping[str, Any]
    standards: Standards
    t: Thresholds

    VALUE_NAMES = frozenset({
        "per_capita", "income", "household_size", "standard", "bianyuan_line", "annual_income",
        "medical_expense", "age", "disability_level", "savings", "savings_limit", "house_count",
        "savings_months", "linshi_ratio_percent", "yiliao_ratio_percent", "alone_priority_age",
        "tekun_elderly_age", "tekun_child_age"})

    def flag(self, name: str) -> bool | None:
        """A yes/no slot, or None when it was not asked."""
        value = self.fields.get(name)
        return value if isinstance(value, bool) else None

    def number(self, name: str) -> float | None:
        """A numeric slot ≥ 0, or None when missing (a bool is not a number here)."""
        value = self.fields.get(name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        return value if ok else None

    @property
    def size(self) -> int | None:
        """People living together, or None."""
        size = self.number("household_size")
        return int(size) if size and size >= 1 else None

    @property
    def income(self) -> float | None:
        """Monthly household income in yuan, or None."""
        return self.number("household_monthly_income")

    @property
    def age(self) -> float | None:
        """The applicant's age, or None."""
        return self.number("age")

    @property
    def disability(self) -> int | None:
        """The highest disability level in the household, or None."""
        level = self.number("disability_level")
        return int(level) if level else None

    @property
    def residence(self) -> str:
        """urban or rural; unknown counts as rural."""
        # Most of the county is rural, and the rural standard is the lower one, so an
        # unknown residence never makes a household look more eligible than it is.
        return "urban" if self.fields.get("residence") == "urban" else "rural"

    @property
    def residence_assumed(self) -> bool:
        """Whether the residence was not given."""
        return self.fields.get("residence") not in ("urban", "rural")

    @property
    def standard(self) -> float:
        """The 低保 standard (元/人·月) of the household's residence."""
        return self.standards.dibao_urban if self.residence == "urban" else self.standards.dibao_rural

    @property
    def bianyuan_line(self) -> float:
        """The 低保边缘 line: standard × multiplier."""
        # Rounded to the fen so 720 × 1.5 compares as exactly 1080.
        return round(self.standard * self.standards.bianyuan_multiplier, 2)

    @property
    def per_capita(self) -> float | None:
        """Monthly income per person, or None."""
        return None if self.income is None or self.size is None else self.income / self.size

    @property
    def annual_income(self) -> float | None:
        """Household income over 12 months, or None."""
        return None if self.income is None else self.income * 12

    @property
    def medical_expense(self) -> float:
        """Self-paid medical costs of the past 12 months (0 when unknown)."""
        return self.number("medical_expense_year") or 0

    @property
    def emergency(self) -> bool:
        """Whether a sudden event just happened."""
        return self.flag("emergency") is True

    @property
    def savings_limit(self) -> float | None:
        """Savings above this make 低保 unlikely [U], or None."""
        return None if self.size is None else self.standard * self.size * self.t.savings_months

    def below(self, line: float) -> bool:
        """Per-capita income strictly below a line (exactly at the standard is not below)."""
        return self.per_capita is not None and self.per_capita < line

    def expense_share_above(self, ratio: float) -> bool:
        """Self-paid medical costs above this share of the annual household income."""
        return self.annual_income is not None and self.medical_expense > ratio * self.annual_income

    def asset_problems(self) -> tuple[str, ...]:
        """The assets that make 低保/边缘/特困 unlikely; unknown assets are left to the township."""
        savings, houses, limit = self.number("savings"), self.number("house_count"), self.savings_limit
        return tuple(item for item, bad in (
            ("vehicle", self.flag("owns_vehicle") is True),
            ("houses", houses is not None and houses > self.t.max_houses),
            ("savings", savings is not None and limit is not None and savings > limit),
        ) if bad)

    def no_labour_reason(self) -> str | None:
        """Why the applicant counts as unable to work (S3), or None."""
        if self.age is not None and self.age >= self.t.tekun_elderly_age:
            return "elderly"
        if self.age is not None and self.age < self.t.tekun_child_age:
            return "child"
        # The certificate is the household's highest; it is the applicant's own only
        # when the applicant lives alone (a disabled son does not make his parent
        # unable to work).
        if self.disability in self.t.tekun_disability_levels and self.size == 1:
            return "disability"
        return "stated" if self.flag("labor_capacity") is False else None

    def values(self) -> dict[str, str]:
        """The household's figures as text for the {placeholders} of VALUE_NAMES."""
        def money(x: float | None) -> str:
            return "" if x is None else format_number(round(x))
        t = self.t
        return {
            "per_capita": money(self.per_capita), "income": money(self.income),
            "household_size": money(self.size), "standard": money(self.standard),
            "bianyuan_line": money(self.bianyuan_line), "annual_income": money(self.annual_income),
            "medical_expense": money(self.medical_expense), "age": money(self.age),
            "disability_level": money(self.disability), "savings": money(self.number("savings")),
            "savings_limit": money(self.savings_limit), "house_count": money(self.number("house_count")),
            "savings_months": format_number(t.savings_months),
            "linshi_ratio_percent": format_number(t.linshi_expense_ratio * 100),
            "yiliao_ratio_percent": format_number(t.yiliao_expense_ratio * 100),
            "alone_priority_age": format_number(t.alone_priority_age),
            "tekun_elderly_age": format_number(t.tekun_elderly_age),
            "tekun_child_age": format_number(t.tekun_child_age),
        }
