"""Scripted screening conversations: send a message, check what comes back."""
import pytest

from bot.messages import IncomingMessage


class Conversation:
    """One resident talking to the engine, as a channel would deliver messages."""

    def __init__(self, runtime, channel="wechat", user="resident-1"):
        self.runtime = runtime
        self.channel = channel
        self.user = user
        self.last = None

    def send(self, text):
        """Deliver one message; returns the Reply (also kept as .last)."""
        self.last = self.runtime.engine.handle(IncomingMessage(channel=self.channel, user_id=self.user,
                                                               text=text))
        return self.last

    @property
    def text(self):
        """Everything the resident received for the last message, joined."""
        return "\n".join(self.last.messages)

    def advance_to(self, slot: str, answers: dict, limit: int = 60):
        """Answer from `answers` until the bot asks for `slot`."""
        for _ in range(limit):
            if self.last.expecting == slot:
                return self.last
            assert self.last.expecting in answers, f"unexpected {self.last.expecting}: {self.text}"
            self.send(answers[self.last.expecting])
        raise AssertionError(f"{slot} never asked")

    def answer_until(self, answers: dict, limit: int = 60):
        """Answer whatever slot is expected from `answers` until done."""
        for _ in range(limit):
            if self.last.done:
                return self.last
            slot = self.last.expecting
            assert slot is not None, f"stalled: {self.text}"
            assert slot in answers, f"unexpected slot {slot}: {self.text}"
            self.send(answers[slot])
        raise AssertionError("no end")


@pytest.fixture
def talk(runtime):
    """A new conversation factory bound to the temporary-database runtime."""
    def make(channel="wechat", user="resident-1"):
        return Conversation(runtime, channel, user)
    return make


RURAL_FAMILY = {
    "consent": "同意", "program": "低保", "name": "黄春生", "id_number": "360732197909152130",
    "phone": "139 7071 2468", "age": "47", "township": "崇贤", "village": "太平村",
    "residence": "农村", "household_size": "五个人", "household_monthly_income": "一个月一千八左右",
    "owns_vehicle": "冇车", "house_count": "一栋老屋", "savings": "没有", "labor_capacity": "能做点零工",
    "has_supporter": "冇", "disability_level": "我妈有四级残疾证", "serious_illness": "冇大病",
    "medical_expense_year": "一千", "emergency": "冇", "emergency_description": "冇", "confirm": "对",
}
