"""The application packet: four forms pre-filled from a revealed lead, the reference number
and its QR code on every page — read back as text and looked at as images."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.errors import KnowledgeError
from bot.leads.packet import PacketTexts, application_pdf
from tests.conftest import ROOT, require_tools

ARTIFACTS = ROOT / "tests" / "artifacts" / "packet"

LEAD = {
    "ref": "JZ261128-7Q4K", "status": "new", "channel": "sms", "created_at": "2026-11-28T17:12:00+00:00",
    "urgency": "normal", "township": "崇贤乡",
    "likely_programs": [
        {"program": "dibao", "reason": "家庭人均月收入360元，低于农村低保标准720元。"},
        {"program": "yiliao", "reason": "一年自付医药费1000元，可以申请医疗救助。"}],
    "documents": ["身份证", "户口簿", "家庭经济状况核对授权书", "承诺书", "救助申请书", "残疾证",
                  "银行卡或社会保障卡（用于发放救助金）"],
    "fields": {"name": "黄春生", "id_number": "360732197909152130", "phone": "13970712468", "age": 47,
               "township": "崇贤乡", "village": "太平村", "residence": "rural", "household_size": 5,
               "household_monthly_income": 1800.0, "owns_vehicle": False, "house_count": 1, "savings": 0,
               "labor_capacity": True, "has_supporter": False, "disability_level": 4, "serious_illness": False,
               "medical_expense_year": 1000, "emergency": False, "program": "dibao"},
}
TITLES = {1: "社会救助申请书", 3: "家庭经济状况核对授权书", 4: "承诺书", 5: "申请材料清单"}


def pages_of(pdf: bytes, tmp_path: Path) -> list[str]:
    """Each page's text, as poppler reads it."""
    require_tools("pdftotext")
    path = tmp_path / "packet.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text.split("\f")[:-1]


def test_four_forms_each_page_with_the_reference_and_page_count(config, tmp_path):
    pdf = application_pdf(LEAD, config)
    assert pdf.startswith(b"%PDF-")
    pages = pages_of(pdf, tmp_path)
    assert len(pages) == 5
    for number, text in enumerate(pages, start=1):
        assert "JZ261128-7Q4K" in text
        assert f"第{number}页 共5页" in text
        assert "兴国县社会救助申请材料" in text
    for number, title in TITLES.items():
        assert title in re.sub(r"\s", "", pages[number - 1]), title
    first = pages[0]
    for printed in ("黄春生", "360732197909152130", "13970712468", "崇贤乡 太平村", "5口人", "1800元", "4级",
                    "47岁", "农村", "2026年11月29日",   # 17:12 UTC is the next morning in 兴国
                    "可能符合：家庭人均月收入360元", "可能符合：一年自付医药费1000元", "短信", "崇贤乡人民政府："):
        assert printed in first, printed
    assert "申请人（签字或按手印）" in pages[1] and "崇贤乡人民政府便民服务中心" in pages[1]
    assert "本人黄春生（公民身份号码：360732197909152130）" in re.sub(r"\s", "", pages[2])
    assert "承诺人（签字或按手印）" in pages[3]
    assert all(document in pages[4] for document in LEAD["documents"])


def test_qr_code_on_every_page_reads_back_as_the_reference(config, tmp_path):
    require_tools("pdftoppm", "zbarimg")
    (tmp_path / "packet.pdf").write_bytes(application_pdf(LEAD, config))
    subprocess.run(["pdftoppm", "-png", "-r", "100", str(tmp_path / "packet.pdf"), str(tmp_path / "page")],
                   check=True, capture_output=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == 5
    for image in images:
        read = subprocess.run(["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, text=True)
        assert read.stdout.strip() == "JZ261128-7Q4K", image.name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)   # kept for a person to look at
    for image in images:
        shutil.copy(image, ARTIFACTS / image.name)


def test_what_the_resident_did_not_say_stays_a_blank(config, tmp_path):
    lead = {"ref": "JZ261128-AB2C", "status": "new", "channel": "wechat", "created_at": "2026-11-28T02:00:00+00:00",
            "urgency": "high", "township": None, "likely_programs": [], "documents": [],
            "fields": {"name": "刘桂英", "household_size": 1}}
    pages = pages_of(application_pdf(lead, config), tmp_path)
    joined = "".join(pages)
    assert "None" not in joined and "可能符合" not in joined
    assert "________乡（镇）人民政府：" in pages[0]
    assert "微信" in pages[0]
    flat = re.sub(r"\s", "", pages[2])
    assert "本人刘桂英（公民身份号码：＿＿＿＿＿＿＿＿）" in flat   # no number made up
    assert "兴国县民政局" in pages[1]   # no township: the county bureau takes it in
    assert "线上预审未列出材料" in pages[4]
    assert "1口人" in pages[0]
    for label in ("家庭月收入", "存款", "残疾等级"):   # left for the window to ask, not answered for them
        line = next(line for line in pages[0].splitlines() if label in line)
        assert not re.search(r"\d+(元|级)", line), line


def test_markup_characters_in_answers_are_printed_as_written(config, tmp_path):
    lead = {**LEAD, "fields": {**LEAD["fields"], "village": "<b>新&村</b>"}}
    assert "<b>新&村</b>" in pages_of(application_pdf(lead, config), tmp_path)[0]


def test_a_missing_text_is_named(tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    packet = knowledge / "workbench" / "packet.yaml"
    packet.write_text(packet.read_text(encoding="utf-8").replace("promise:\n  title: 承诺书\n", "promise:\n"),
                      encoding="utf-8")
    with pytest.raises(KnowledgeError, match="promise.title"):
        PacketTexts.load(knowledge)
