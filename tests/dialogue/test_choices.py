"""Numbered choices: read and written in one place, the number shown is the number acted on."""
from __future__ import annotations

import pytest

from bot.dialogue.choices import (CONSENT_MENU, LEAVE_CONFIRM, LINK_OFFER, MENUS, RESUME, TOO_MANY_TRIES,
                                  choice_number, numbered_lines)


@pytest.mark.parametrize("text, number", [("2", 2), ("２", 2), ("（2）", 2), ("(3)", 3), ("二", 2), ("4。", 4),
                                          (" 1 ", 1), ("12", None), ("第二个", None), ("二十", None), ("", None)])
def test_a_numbered_reply_is_read(text, number):
    assert choice_number(text) == number


@pytest.mark.parametrize("menu, rendered", [
    (TOO_MANY_TRIES, "这个问题好像不好回答。回复1先跳过，回复2请工作人员打电话给您，回复3再试一次，回复4退出申请。"),
    (CONSENT_MENU, "不好意思，我没看明白您的意思。回复1再听一遍说明，回复2不同意，"
                   "回复3请工作人员联系您（只记下联系请求，不收集其他信息）。"),
    (LEAVE_CONFIRM, "您是想退出这次申请吗？退出后，您已经填的信息会全部删除。回复1退出，回复2接着填。"),
    (RESUME, '您上次的申请还没填完（到"姓名"这一步）。回复1接着填，回复2重新开始。'),
    (LINK_OFFER, '您在微信上还有一份没填完的申请（到"姓名"这一步）。回复1接着填，回复2在短信里重新开始。'),
])
def test_menus_read_as_before_and_their_numbers_mean_what_they_say(shared_runtime, menu, rendered):
    texts = shared_runtime.screener.texts
    assert texts.menu(menu, label="姓名") == rendered
    for number, option in enumerate(menu.options, 1):
        label = texts.doc[menu.key]["options"][option]
        assert f"回复{number}{label}" in rendered and menu.picked(str(number)) == option
    assert menu.picked(str(len(menu.options) + 1)) is None


def test_every_menu_is_worded_in_knowledge(shared_runtime):
    doc = shared_runtime.screener.texts.doc
    assert all(menu.problems(doc) == [] for menu in MENUS)
    broken = {**doc, "too_many_tries": {"prompt": "？", "options": {"skip": "跳过"}}}
    assert TOO_MANY_TRIES.problems(broken)


def test_lists_are_numbered_alike_for_offers_and_questions(shared_runtime):
    kb = shared_runtime.kb
    line = lambda n, title: kb.message("choice_line", "sms", number=n, title=title)  # noqa: E731
    assert numbered_lines(["城镇", "农村"], line) == "1. 城镇\n2. 农村"
    assert shared_runtime.screener.texts.numbered(["城镇", "农村"], kb, sms=True) == "1. 城镇\n2. 农村\n回复数字"
