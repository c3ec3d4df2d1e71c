"""bot.leads.export: the two presets' columns, the header of the internal one, text stays text."""
import datetime as dt
import io
import zoneinfo

import pytest
from openpyxl import load_workbook

from bot.leads.export import COLUMNS, describe_filters, queue_xlsx
from bot.leads.queue import QueueRow

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 11, 28, 16, 30, tzinfo=dt.timezone.utc)


def row(**changes):
    values = dict(ref="JZ261128-7Q4K", created_at=dt.datetime(2026, 11, 27, 23, 5), status="contacted",
                  urgency="high", township="崇贤乡", village="太平村", programs=("dibao", "yiliao"),
                  name_masked="黄**", assignee="cw-1", needs_callback=True, overdue=False)
    return QueueRow(**{**values, **changes})


def read(data):
    return [list(r) for r in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]


def test_internal_rows_in_the_workbench_words_with_who_and_when():
    rows = read(queue_xlsx([row(), row(ref="JZ261128-AB2C", urgency="normal", needs_callback=False)], "internal",
                           county="兴国县", exported_by="cw-1", exported_at=AT, zone=ZONE,
                           filters={"status": "contacted", "program": "dibao", "mine": "1"}))
    assert rows[0][0] == "兴国县救助线索（内部版）"
    flat = [r[0] for r in rows if r[0]]
    assert "导出人：cw-1" in flat and "导出时间：2026-11-29 00:30" in flat   # county time
    assert "筛选条件：状态：已联系；项目：低保；仅我经办：是" in flat
    header = next(i for i, r in enumerate(rows) if r[0] == "编号")
    assert len(rows[header]) == len(COLUMNS["internal"])
    assert rows[header + 1] == ["JZ261128-7Q4K", "2026-11-28 07:05", "已联系", "紧急", "崇贤乡", "太平村",
                                "低保、医疗救助", "黄**", "cw-1", "是", None]
    assert rows[header + 2][3] == "一般" and rows[header + 2][9] is None


def test_public_preset_is_the_four_columns_only():
    rows = read(queue_xlsx([row()], "public", county="兴国县", exported_by="cw-1", exported_at=AT, zone=ZONE))
    assert rows[0][0] == "兴国县社会救助申请公示名单"
    assert rows[-2:] == [["申请人", "村（社区）", "申请项目", "办理状态"], ["黄**", "太平村", "低保、医疗救助", "已联系"]]
    assert not any("cw-1" in str(c) or "JZ" in str(c) for r in rows for c in r if c)


def test_a_resident_typed_formula_stays_text():
    data = queue_xlsx([row(village='=HYPERLINK("http://x.invalid","点我")')], "public", county="兴国县",
                      exported_by="cw-1", exported_at=AT, zone=ZONE)
    cell = next(c for r in load_workbook(io.BytesIO(data)).active.iter_rows() for c in r
                if str(c.value).startswith("=HYPERLINK"))
    assert cell.data_type == "s"


def test_an_unknown_preset_is_an_error_and_no_filter_reads_all():
    with pytest.raises(ValueError):
        queue_xlsx([], "everything", county="兴国县", exported_by="x", exported_at=AT, zone=ZONE)
    assert describe_filters({"status": "", "page": "2"}) == "全部"
