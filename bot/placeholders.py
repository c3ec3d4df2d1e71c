"""County values that knowledge-base texts may use as {placeholders}."""
from __future__ import annotations

from bot.config import Config


def format_number(value: float) -> str:
    """900.0 → '900', 1.3 → '1.3'."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def base_values(config: Config) -> dict[str, str]:
    """Channel-independent placeholder values derived from config.toml."""
    county, std = config.county, config.county.standards
    values = {
        "county": county.name,
        "bureau": county.bureau,
        "prefecture": county.prefecture,
        "province": county.province,
        "dibao_urban": format_number(std.dibao_urban),
        "dibao_rural": format_number(std.dibao_rural),
        "standards_effective": f"{std.effective.year}年{std.effective.month}月{std.effective.day}日",
        "tekun_multiplier": format_number(std.tekun_multiplier),
        "tekun_urban": format_number(round(std.dibao_urban * std.tekun_multiplier)),
        "tekun_rural": format_number(round(std.dibao_rural * std.tekun_multiplier)),
        "bianyuan_multiplier": format_number(std.bianyuan_multiplier),
        "bianyuan_urban": format_number(round(std.dibao_urban * std.bianyuan_multiplier)),
        "bianyuan_rural": format_number(round(std.dibao_rural * std.bianyuan_multiplier)),
        "hotline": county.hotlines.government,
        "assistance_hotline": county.hotlines.assistance,
        "bureau_phone": county.hotlines.bureau_phone,
    }
    return values


# Figures that are only trustworthy once config.toml marks them verified:
# any text quoting one must also carry {standards_note}.
COUNTY_FIGURES = frozenset({
    "dibao_urban", "dibao_rural", "tekun_urban", "tekun_rural",
    "bianyuan_urban", "bianyuan_rural",
})
