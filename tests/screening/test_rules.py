"""Eligibility rules: dev personas, boundaries, assets, dates, config, documents, validation."""
from __future__ import annotations

import ast
import copy
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import load_config
from bot.errors import KnowledgeError
from bot.domain import PROGRAMS
from bot.screening.rules import RULES, EligibilityRules
from bot.screening.rules_validation import DOCUMENTS_FILE, NOTE_TEXTS, RULES_FILE

ROOT = Path(__file__).resolve().parents[2]
SCREENING = ROOT / "knowledge" / "screening"
PERSONAS = ROOT / "tests" / "data" / "dev-personas.json"   # a copy of shared/eval's
PRELIMINARY = "以乡镇审核为准"
TODAY = dt.date(2026, 6, 1)
ALWAYS = ("身份证", "户口簿", "家庭经济状况核对授权书", "承诺书")

# What a correct flow normalises from each persona's answers (read from the
# answers in dev-personas.json); the persona's expect.fields must agree.
PERSONA_FIELDS = {
    "d01-rural-family": dict(
        program="dibao", age=47, township="崇贤乡", residence="rural", household_size=5,
        household_monthly_income=1800, owns_vehicle=False, house_count=1, savings=0,
        labor_capacity=True, has_supporter=False, disability_level=4, serious_illness=False,
        medical_expense_year=1000, emergency=False),
    "d02-widow-alone": dict(
        program="tekun", age=68, township="枫边乡", residence="rural", household_size=1,
        household_monthly_income=120, owns_vehicle=False, house_count=1, savings=0,
        labor_capacity=False, has_supporter=False, disability_level=None, serious_illness=True,
        medical_expense_year=2000, emergency=False),
    "d03-child-leukemia": dict(
        program="unsure", age=38, township="良村镇", residence="rural", household_size=4,
        household_monthly_income=4500, owns_vehicle=False, house_count=1, savings=0,
        labor_capacity=True, has_supporter=True, disability_level=None, serious_illness=True,
        medical_expense_year=80000, emergency=True, emergency_description="孩子查出急性白血病住院"),
    "d05-correction-digression": dict(
        program="dibao", age=56, township="东村乡", residence="rural", household_size=2,
        household_monthly_income=1500, owns_vehicle=False, house_count=1, savings=5000,
        labor_capacity=False, has_supporter=False, disability_level=None, serious_illness=True,
        medical_expense_year=3000, emergency=False),
}


def make_config(**standards):
    """config.toml with some county standards replaced."""
    overrides = {f"county.standards.{k}": v for k, v in standards.items()}
    return load_config(ROOT / "config.toml", overrides=overrides, environ={})


def load_docs():
    """Fresh copies of the two YAML files."""
    return tuple(yaml.safe_load((SCREENING / name).read_text(encoding="utf-8"))
                 for name in ("rules.yaml", "documents.yaml"))


@pytest.fixture(scope="module")
def rules():
    """The project's rules with the project's config."""
    return EligibilityRules.from_knowledge(make_config())


def assess(rules, fields, today=TODAY):
    """Assess, checking the invariants every assessment keeps."""
    result = rules.assess(fields, today=today)
    note = load_docs()[0]["standards_note_unverified"].split("{")[0]
    # Reasons are the caseworker's too: the figures and the conclusion, no boilerplate.
    assert all(p.reason and PRELIMINARY not in p.reason and note not in p.reason for p in result.programs)
    assert all(p.source.startswith("《") and p.grounds for p in result.programs)
    assert all(p.program in PROGRAMS for p in result.programs)
    assert len({p.program for p in result.programs}) == len(result.programs)
    assert result.documents[:4] == ALWAYS
    assert len(set(result.documents)) == len(result.documents)
    assert result.urgency in ("high", "normal")
    keys = [n.key for n in result.notes]
    assert set(keys) <= set(NOTE_TEXTS) | {"standards"} and len(set(keys)) == len(keys)
    assert "standards" not in keys or keys[-1] == "standards"   # said once, last
    assert all(PRELIMINARY not in n.text for n in result.notes)
    return result


def notes(result):
    """The notes of an assessment as one text."""
    return "\n".join(n.text for n in result.notes)


def note_keys(result):
    """The keys of an assessment's notes, in order."""
    return [n.key for n in result.notes]


def names(result):
    """The program ids of an assessment, in order."""
    return [p.program for p in result.programs]


def persona(persona_id, **changes):
    """A persona's fields, optionally changed."""
    return {**PERSONA_FIELDS[persona_id], **changes}


def test_every_dev_persona_with_expectations_is_covered():
    ids = {p["id"] for p in json.loads(PERSONAS.read_text(encoding="utf-8"))
           if "programs_include" in p["expect"]}
    assert ids == set(PERSONA_FIELDS)


@pytest.mark.parametrize("persona_id", sorted(PERSONA_FIELDS))
def test_dev_persona_expectations(rules, persona_id):
    spec = next(p for p in json.loads(PERSONAS.read_text(encoding="utf-8")) if p["id"] == persona_id)
    expect = spec["expect"]
    fields = PERSONA_FIELDS[persona_id]
    assert {k: fields[k] for k in expect["fields"] if k in fields} == {
        k: v for k, v in expect["fields"].items() if k in fields}
    result = assess(rules, {**fields, **expect["fields"]})
    assert set(expect["programs_include"]) <= set(names(result))
    assert not set(expect["programs_exclude"]) & set(names(result))
    assert result.urgency == expect["urgency"]


@pytest.mark.parametrize("persona_id, changes", [
    ("d01-rural-family", {"savings": 2000}),          # 两千块都冇 read as "under 2000"
    ("d01-rural-family", {"serious_illness": True}),
    ("d02-widow-alone", {"serious_illness": False}),   # 高血压 read as not serious
    ("d02-widow-alone", {"labor_capacity": None}),     # age alone makes her unable to work
    ("d05-correction-digression", {"labor_capacity": True}),  # 干不了重活 read either way
    ("d05-correction-digression", {"serious_illness": False}),
])
def test_dev_personas_hold_under_other_readings_of_their_answers(rules, persona_id, changes):
    spec = next(p for p in json.loads(PERSONAS.read_text(encoding="utf-8")) if p["id"] == persona_id)
    result = assess(rules, persona(persona_id, **changes))
    assert set(spec["expect"]["programs_include"]) <= set(names(result))
    assert not set(spec["expect"]["programs_exclude"]) & set(names(result))
    assert result.urgency == spec["expect"]["urgency"]


def test_reason_quotes_the_figures_used(rules):
    reason = assess(rules, persona("d01-rural-family")).programs[0].reason
    assert "人均月收入约360元" in reason and "农村低保标准720元" in reason


@pytest.mark.parametrize("income, expected", [
    (3599, ["dibao"]),       # 719.8 a head: below 720
    (3600, ["bianyuan"]),    # exactly at the standard is not below it
    (5399, ["bianyuan"]),    # 1079.8: below 720 × 1.5
    (5400, []),              # exactly at the 低保边缘 line
])
def test_income_boundaries(rules, income, expected):
    result = assess(rules, persona("d01-rural-family", household_monthly_income=income))
    assert names(result) == expected


@pytest.mark.parametrize("residence, expected", [("urban", "dibao"), ("rural", "bianyuan")])
def test_residence_chooses_the_standard(rules, residence, expected):
    fields = persona("d01-rural-family", residence=residence, household_size=2,
                     household_monthly_income=1700)   # 850 a head: urban 900, rural 720
    assert names(assess(rules, fields)) == [expected]


def test_missing_residence_uses_the_rural_standard_and_says_so(rules):
    fields = persona("d01-rural-family")
    del fields["residence"]
    rules_doc, _ = load_docs()
    reason = assess(rules, fields).programs[0].reason
    assert "农村低保标准720元" in reason and rules_doc["residence_assumed"] in reason


@pytest.mark.parametrize("changes, item", [
    ({"owns_vehicle": True}, "vehicle"),
    ({"house_count": 2}, "houses"),
    ({"savings": 86401}, "savings"),      # above 720 × 5 people × 24 months
])
def test_assets_rule_out_dibao_and_next_steps_say_why(rules, changes, item):
    result = assess(rules, persona("d01-rural-family", **changes))
    assert "dibao" not in names(result) and "bianyuan" not in names(result)
    fragment = load_docs()[0]["assets"][item].split("{")[0]
    assert fragment in notes(result)
    assert ("86400" in notes(result)) == (item == "savings")
    assert "requested_not_listed" not in note_keys(result)   # the assets note already says why


def test_savings_at_the_limit_are_fine(rules):
    assert names(assess(rules, persona("d01-rural-family", savings=86400))) == ["dibao"]


def test_assets_also_rule_out_bianyuan(rules):
    result = assess(rules, persona("d05-correction-digression", owns_vehicle=True))
    assert "bianyuan" not in names(result)


@pytest.mark.parametrize("changes", [
    {"age": 60, "labor_capacity": True},
    {"age": 15, "labor_capacity": True},
    {"age": 40, "labor_capacity": True, "disability_level": 2},
    {"age": 50, "labor_capacity": False},
])
def test_tekun_needs_no_labour_capacity(rules, changes):
    fields = persona("d02-widow-alone", **changes)
    result = assess(rules, fields)
    assert names(result)[0] == "tekun" and "dibao" not in names(result)


@pytest.mark.parametrize("changes", [
    {"age": 59, "labor_capacity": True, "disability_level": 3},
    {"has_supporter": True},
    {"has_supporter": None},
])
def test_not_tekun_falls_back_to_dibao(rules, changes):
    result = assess(rules, persona("d02-widow-alone", **changes))
    assert "tekun" not in names(result) and "dibao" in names(result)


def test_tekun_needs_income_below_the_standard(rules):
    result = assess(rules, persona("d02-widow-alone", household_monthly_income=720))
    assert "tekun" not in names(result)


@pytest.mark.parametrize("age, size, urgency", [(80, 1, "high"), (79, 1, "normal"), (85, 2, "normal")])
def test_very_old_tekun_person_alone_is_urgent(rules, age, size, urgency):
    fields = persona("d02-widow-alone", age=age, household_size=size,
                     household_monthly_income=120 * size)
    result = assess(rules, fields)
    assert names(result)[0] == "tekun" and result.urgency == urgency


def test_alone_elderly_urgency_needs_tekun_likely(rules):
    result = assess(rules, persona("d02-widow-alone", age=88, has_supporter=True))
    assert result.urgency == "normal"


@pytest.mark.parametrize("expense, listed", [(12000, []), (12001, ["yiliao", "linshi"])])
def test_medical_expense_ratio(rules, expense, listed):
    fields = dict(household_size=1, household_monthly_income=2000, serious_illness=True,
                  medical_expense_year=expense, labor_capacity=True, has_supporter=True, age=45)
    result = assess(rules, fields)
    assert names(result) == listed and result.urgency == "normal"


def test_medical_costs_without_serious_illness_list_nothing(rules):
    fields = persona("d03-child-leukemia", serious_illness=False, emergency=False)
    assert names(assess(rules, fields)) == []


def test_yiliao_follows_a_dibao_household(rules):
    fields = persona("d01-rural-family", serious_illness=True, medical_expense_year=0)
    assert names(assess(rules, fields)) == ["dibao", "yiliao"]


def test_emergency_is_urgent_and_first(rules):
    fields = persona("d01-rural-family", emergency=True, emergency_description="屋里着火了")
    result = assess(rules, fields)
    assert names(result) == ["linshi", "dibao"] and result.urgency == "high"
    assert "屋里着火了" in result.programs[0].reason
    assert result.emergency
    assert "事故或受灾证明（如火灾证明、交通事故认定书）" in result.documents


def test_emergency_is_urgent_even_when_the_linshi_rule_is_not_in_force(rules):
    result = assess(rules, persona("d03-child-leukemia"), today=dt.date(2014, 4, 30))
    assert result.urgency == "high" and names(result) == [] and result.emergency


def test_requested_program_comes_first_and_a_missing_one_is_explained(rules):
    result = assess(rules, persona("d02-widow-alone", program="linshi"))
    assert names(result)[0] == "linshi"
    result = assess(rules, persona("d05-correction-digression"))
    assert "最低生活保障（低保）" in notes(result)   # asked for dibao, got bianyuan


@pytest.mark.parametrize("fields", [{}, {k: None for k in PERSONA_FIELDS["d01-rural-family"]},
                                    {"household_monthly_income": 500}, {"household_size": 3}])
def test_missing_fields(rules, fields):
    result = assess(rules, fields)
    assert names(result) == [] and result.urgency == "normal"
    always = tuple(d["name"] for d in load_docs()[1]["documents"] if d.get("when") == "always")
    assert result.documents == always
    assert "missing_income" in note_keys(result) and "no_program" in note_keys(result)
    assert "standards" not in note_keys(result)   # no figure was quoted


def test_rule_with_a_future_date_is_skipped():
    rules_doc, documents_doc = load_docs()
    rules_doc["programs"]["dibao"]["effective"] = TODAY + dt.timedelta(days=1)
    rules = EligibilityRules(make_config(), rules_doc, documents_doc)
    assert names(assess(rules, persona("d01-rural-family"))) == []
    later = assess(rules, persona("d01-rural-family"), today=TODAY + dt.timedelta(days=1))
    assert names(later) == ["dibao"]


def test_a_future_tekun_rule_leaves_dibao(rules):
    rules_doc, documents_doc = load_docs()
    rules_doc["programs"]["tekun"]["effective"] = dt.date(2099, 1, 1)
    rules = EligibilityRules(make_config(), rules_doc, documents_doc)
    assert names(assess(rules, persona("d02-widow-alone")))[0] == "dibao"


def test_rules_before_their_policy_took_effect(rules):
    result = assess(rules, persona("d01-rural-family"), today=dt.date(2021, 6, 30))
    assert names(result) == []


def test_changing_the_standard_changes_the_result():
    rules = EligibilityRules.from_knowledge(make_config(dibao_rural=300))
    result = assess(rules, persona("d01-rural-family"))   # 360 a head
    assert names(result) == ["bianyuan"]
    assert "标准300元" in result.programs[0].reason and "450元" in result.programs[0].reason
    rules = EligibilityRules.from_knowledge(make_config(bianyuan_multiplier=1.04))
    assert names(assess(rules, persona("d05-correction-digression"))) == []  # 750 ≥ 748.8
    rules = EligibilityRules.from_knowledge(make_config(dibao_rural=800))
    fields = persona("d05-correction-digression", labor_capacity=True)   # 750 < 800
    assert names(assess(rules, fields))[0] == "dibao"


def test_unverified_standards_are_flagged_as_example_values():
    rules_doc, _ = load_docs()
    note = rules_doc["standards_note_unverified"].split("{")[0]
    for verified in (False, True):
        rules = EligibilityRules.from_knowledge(make_config(verified=verified))
        result = assess(rules, persona("d01-rural-family"))
        assert (note in notes(result)) is not verified


@pytest.mark.parametrize("persona_id, changes, present, absent", [
    ("d01-rural-family", {}, ["残疾证", "收入情况说明"], ["书面声明", "医疗费用票据"]),
    ("d02-widow-alone", {}, ["书面声明", "诊断证明/病历", "医疗费用票据", "住院费用结算单"],
     ["收入情况说明", "残疾证"]),
    ("d02-widow-alone", {"medical_expense_year": 0}, ["诊断证明/病历"], ["医疗费用票据"]),
    ("d03-child-leukemia", {}, ["事故或受灾证明（如火灾证明、交通事故认定书）", "住院费用结算单"],
     ["书面声明"]),
])
def test_documents_follow_the_household(rules, persona_id, changes, present, absent):
    documents = assess(rules, persona(persona_id, **changes)).documents
    assert set(present) <= set(documents) and not set(absent) & set(documents)


def test_registry_covers_every_program():
    assert set(RULES) == set(PROGRAMS)


@pytest.mark.parametrize("module", ["rules.py", "household.py", "documents.py", "rules_validation.py",
                                    "submission.py"])
def test_no_resident_facing_chinese_in_the_code(module):
    tree = ast.parse((ROOT / "bot" / "screening" / module).read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and id(node) not in docstrings]
    assert not [t for t in texts if re.search(r"[\u4e00-\u9fff]", t)]


def _break(doc, path, value):
    """Set (or with value None, delete) a dotted key of a YAML document."""
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[part]
    if value is None:
        del doc[last]
    else:
        doc[last] = value


@pytest.mark.parametrize("path, value, message", [
    ("programs.helpme", {"effective": dt.date(2021, 1, 1), "texts": {}}, "programs.helpme: unknown program"),
    ("program_names.helpme", "帮帮我", "program_names.helpme: unknown program"),
    ("programs.dibao.texts.likely", None, "programs.dibao.texts.likely: missing text"),
    ("programs.tekun", None, "programs.tekun: missing"),
    ("standards_note_unverified", "", "standards_note_unverified: missing text"),
    ("notes.no_program", None, "notes.no_program: missing text"),
    ("notes.supporter_unknown", None, "notes.supporter_unknown: missing text"),
    ("level_names.2", None, "level_names.2: missing text"),
    ("programs.dibao.texts.single_person", None, "programs.dibao.texts.single_person: missing text"),
    ("programs.dibao.effective", "soon", "programs.dibao.effective: must be a date"),
    ("programs.dibao.texts.likely", "人均{per_head}元", "unknown placeholder {per_head}"),
    ("programs.dibao.texts.likely", "低于{standard}元{standards_note}", "added once by the assessment"),
    ("programs.linshi.texts.expense", "{oops", "bad braces"),
    ("thresholds.savings_months", -1, "thresholds.savings_months: missing or not a positive number"),
    ("thresholds.tekun_disability_levels", [5], "thresholds.tekun_disability_levels"),
    ("thresholds.single_person_conditional_levels", None, "single_person_conditional_levels"),
])
def test_rules_yaml_problems_name_file_and_key(path, value, message):
    rules_doc, documents_doc = load_docs()
    _break(rules_doc, path, value)
    with pytest.raises(KnowledgeError) as info:
        EligibilityRules(make_config(), rules_doc, documents_doc)
    assert any(p.startswith(RULES_FILE + ": ") and message in p for p in info.value.problems), \
        info.value.problems


@pytest.mark.parametrize("index, change, message", [
    (5, {"programs": ["helpme"]}, "documents[5] (残疾证).programs: unknown program 'helpme'"),
    (5, {"when": "disabled"}, "documents[5] (残疾证).when: unknown condition 'disabled'"),
    (5, {"name": ""}, "documents[5].name: missing text"),
    (5, {"name": "身份证"}, "documents[5] (身份证): listed twice"),
    (5, {"when": None}, "needs 'when' or 'programs'"),
    (5, {"colour": "red"}, "unknown field 'colour'"),
    (5, {"form": "yes"}, "documents[5] (残疾证).form: must be true or false"),
])
def test_documents_yaml_problems_name_file_and_key(index, change, message):
    rules_doc, documents_doc = load_docs()
    documents_doc["documents"][index].update(change)
    with pytest.raises(KnowledgeError) as info:
        EligibilityRules(make_config(), rules_doc, documents_doc)
    assert any(p.startswith(DOCUMENTS_FILE + ": ") and message in p for p in info.value.problems), \
        info.value.problems


def copy_knowledge(tmp_path):
    """A writable copy of knowledge/screening under tmp_path."""
    shutil.copytree(SCREENING, tmp_path / "screening")
    return tmp_path


def test_from_knowledge_reports_a_missing_file(tmp_path):
    directory = copy_knowledge(tmp_path)
    (directory / DOCUMENTS_FILE).unlink()
    with pytest.raises(KnowledgeError, match=re.escape(DOCUMENTS_FILE) + ": cannot read"):
        EligibilityRules.from_knowledge(make_config(), directory)


def test_from_knowledge_reports_bad_yaml(tmp_path):
    directory = copy_knowledge(tmp_path)
    (directory / RULES_FILE).write_text("programs: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=re.escape(RULES_FILE) + ": not valid YAML"):
        EligibilityRules.from_knowledge(make_config(), directory)


def test_from_knowledge_validates_the_files_it_reads(tmp_path):
    directory = copy_knowledge(tmp_path)
    rules_doc, _ = load_docs()
    broken = copy.deepcopy(rules_doc)
    broken["programs"]["dibao"]["texts"]["likely"] = ""
    (directory / RULES_FILE).write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"screening/rules\.yaml: programs\.dibao\.texts\.likely"):
        EligibilityRules.from_knowledge(make_config(), directory)


# ---- the household of three (issue 10) and its neighbours ------------------------------
# Three people, 1,200 元 a month, rural; the applicant (47) works; the son holds a
# 一级 disability certificate; no children or relatives to rely on.
THREE = dict(program="dibao", age=47, residence="rural", household_size=3, household_monthly_income=1200,
             owns_vehicle=False, house_count=1, savings=0, labor_capacity=True, has_supporter=False,
             disability_level=1, serious_illness=False)


def three(**changes):
    """The household of three, optionally changed."""
    return {**THREE, **changes}


def test_household_of_three_is_likely_dibao_with_the_single_person_rule(rules):
    result = assess(rules, three())
    assert names(result) == ["dibao"]       # the son's disability does not make his parent 特困
    reason = result.programs[0].reason
    assert "人均月收入约400元（1200元÷3人）" in reason and "低于本县农村低保标准720元" in reason
    assert "一级" in reason and "单人保" in reason and "1080元" in reason
    assert result.programs[0].grounds == ("likely", "single_person_fallback")
    assert "残疾证" in result.documents and result.urgency == "normal" and not result.emergency
    assert note_keys(result) == ["standards"]


@pytest.mark.parametrize("income, expected, grounds", [
    (2159, ["dibao"], ("likely", "single_person_fallback")),     # 719.67 a head: below 720
    (2160, ["dibao", "bianyuan"], ("single_person",)),           # exactly 720: 低保边缘, 单人保 for the son
    (3239, ["dibao", "bianyuan"], ("single_person",)),           # 1079.67: still below 720 × 1.5
    (3240, [], None),                                             # 1080: above both lines
])
def test_household_of_three_income_around_the_lines(rules, income, expected, grounds):
    result = assess(rules, three(household_monthly_income=income))
    assert names(result) == expected
    if grounds:
        assert result.programs[0].grounds == grounds
    if "bianyuan" in expected:
        assert "不低于本县农村低保标准720元" in result.programs[0].reason
        assert "单人保" in result.programs[0].reason and "1080元" in result.programs[0].reason
    if not expected:
        assert note_keys(result)[:2] == ["no_program", "above_lines"]
        assert "人均月收入约1080元" in notes(result) and "低保边缘标准1080元" in notes(result)


@pytest.mark.parametrize("level, below, band", [
    (1, ("likely", "single_person_fallback"), ["dibao", "bianyuan"]),
    (2, ("likely", "single_person_fallback"), ["dibao", "bianyuan"]),
    (3, ("likely", "disability"), ["bianyuan"]),    # 三级 only if 智力/精神: said, not assumed
    (4, ("likely", "disability"), ["bianyuan"]),
    (None, ("likely",), ["bianyuan"]),
])
def test_disability_levels(rules, level, below, band):
    result = assess(rules, three(disability_level=level))
    assert names(result) == ["dibao"] and result.programs[0].grounds == below
    assert ("单人保" in result.programs[0].reason) is (level in (1, 2))
    if level:
        assert rules_level_name(level) in result.programs[0].reason
    result = assess(rules, three(disability_level=level, household_monthly_income=2400))  # 800 a head
    assert names(result) == band
    # the conditional 单人保 (三级智力/精神残疾) is a note, never a listed program
    assert ("single_person" in note_keys(result)) is (level == 3)
    assert ("requested_not_listed" in note_keys(result)) is (band == ["bianyuan"])


def rules_level_name(level):
    """How rules.yaml writes a disability level (一级 …)."""
    return load_docs()[0]["level_names"][str(level)]


def test_serious_illness_in_a_bianyuan_household_is_a_single_person_note(rules):
    result = assess(rules, three(disability_level=None, household_monthly_income=2400, serious_illness=True))
    assert names(result) == ["bianyuan", "yiliao"] and "single_person" in note_keys(result)


def test_single_person_rule_needs_a_larger_household(rules):
    # Alone, the disabled person is the whole household: 810 a head is above the line.
    alone = dict(age=40, residence="rural", household_size=1, household_monthly_income=810,
                 labor_capacity=True, has_supporter=True, disability_level=1)
    result = assess(rules, alone)
    assert names(result) == ["bianyuan"] and "单人保" not in notes(result)
    result = assess(rules, {**alone, "household_monthly_income": 700})
    assert names(result) == ["dibao"] and result.programs[0].grounds == ("likely", "disability")


@pytest.mark.parametrize("supporter, expected, note", [
    (False, ["tekun"], False),
    (True, ["dibao"], False),
    (None, ["dibao"], True),      # skipped: 特困 is possible, the township checks
])
def test_tekun_only_without_a_supporter(rules, supporter, expected, note):
    result = assess(rules, three(age=65, has_supporter=supporter))
    assert names(result) == expected
    assert ("supporter_unknown" in note_keys(result)) is note
    if expected == ["tekun"]:
        reason = result.programs[0].reason
        assert "65岁" in reason and "人均月收入约400元" in reason and "还可以按低保审核" in reason
        assert "requested_not_listed" not in note_keys(result)   # 低保 is named as the fallback


def test_no_supporter_is_not_enough_for_tekun_when_the_applicant_can_work(rules):
    result = assess(rules, three(has_supporter=False, disability_level=2))
    assert names(result) == ["dibao"] and "supporter_unknown" not in note_keys(result)


@pytest.mark.parametrize("changes, expected, ground", [
    ({"household_size": 1, "household_monthly_income": 400, "labor_capacity": None}, "tekun",
     "labour_disability"),
    ({"household_size": 1, "household_monthly_income": 400, "disability_level": 3,
      "labor_capacity": None}, "dibao", "likely"),
    ({"household_size": 3, "labor_capacity": None}, "dibao", "likely"),
    ({"household_size": 3, "labor_capacity": False}, "tekun", "labour_stated"),   # said so herself
])
def test_a_disability_certificate_counts_for_tekun_only_as_the_applicants_own(rules, changes, expected,
                                                                             ground):
    result = assess(rules, three(**changes))
    assert names(result) == [expected] and result.programs[0].grounds[0] == ground


@pytest.mark.parametrize("skipped, keys, listed", [
    ("household_monthly_income", ["no_program", "missing_income"], []),
    ("household_size", ["no_program", "missing_income"], []),
    ("disability_level", ["standards"], ["dibao"]),
    ("has_supporter", ["standards"], ["dibao"]),          # the applicant can work: no 特困 note
    ("labor_capacity", ["standards"], ["dibao"]),
])
def test_skipped_answers(rules, skipped, keys, listed):
    fields = three()
    del fields[skipped]
    result = assess(rules, fields)
    assert names(result) == listed and note_keys(result) == keys
    if skipped == "disability_level":
        assert "单人保" not in result.programs[0].reason and "残疾证" not in result.documents


def test_skipped_residence_is_estimated_with_the_rural_standard_and_says_so(rules):
    fields = three()
    del fields["residence"]
    reason = assess(rules, fields).programs[0].reason
    assert "农村低保标准720元" in reason and load_docs()[0]["residence_assumed"] in reason


def test_the_standards_note_is_said_once_for_several_reasons(rules):
    result = assess(rules, three(household_monthly_income=2400, serious_illness=True))
    assert names(result) == ["dibao", "bianyuan", "yiliao"]
    note = load_docs()[0]["standards_note_unverified"].split("{")[0]
    assert notes(result).count(note) == 1


def test_reasons_quote_the_configured_figures():
    rules = EligibilityRules.from_knowledge(make_config(dibao_rural=500, bianyuan_multiplier=2))
    result = assess(rules, three(household_monthly_income=2400))   # 800: above 500, below 1000
    assert names(result) == ["dibao", "bianyuan"]
    assert "农村低保标准500元" in result.programs[0].reason and "1000元" in result.programs[0].reason
