"""The command-line contract (docs/contract.md §1) through the real console script."""
import json

from tests.conftest import ROOT


def test_ask_json_is_one_line_with_the_contract_fields(cli):
    out = cli("ask", "--json", "低保标准是多少").stdout
    assert out.count("\n") == 1
    obj = json.loads(out)
    assert set(obj) >= {"topic", "entry_id", "confidence", "answer", "alternatives"}
    assert obj["topic"] == "dibao.standard"
    assert obj["entry_id"].startswith("dibao-standard")
    assert 0 <= obj["confidence"] <= 1
    assert "900" in obj["answer"]
    assert isinstance(obj["alternatives"], list)


def test_ask_without_json_prints_the_reply(cli):
    out = cli("ask", "低保标准是多少").stdout
    assert "900" in out and not out.lstrip().startswith("{")


def test_batch_from_stdin_answers_every_line_in_order(cli):
    questions = ["低保标准是多少", "", "明天会下雨吗", "五保户啥条件"]
    out = cli("ask", "--json", "--batch", "-", input="\n".join(questions) + "\n").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 4
    assert rows[0]["topic"] == "dibao.standard"
    assert rows[1]["topic"] is None and rows[1]["answer"]
    assert rows[2]["topic"] is None
    assert rows[3]["topic"] == "tekun.eligibility"


def test_batch_from_file_and_sms_channel_shape(cli, tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("低保标准是多少\n", encoding="utf-8")
    sms = json.loads(cli("ask", "--json", "--channel", "sms", "--batch", str(f)).stdout)
    wechat = json.loads(cli("ask", "--json", "--batch", str(f)).stdout)
    assert len(sms["answer"]) <= 134 < len(wechat["answer"])


def test_unknown_topic_is_null_with_honest_answer(cli):
    obj = json.loads(cli("ask", "--json", "火星上有没有水").stdout)
    assert obj["topic"] is None and obj["entry_id"] is None
    assert "12345" in obj["answer"] or "12349" in obj["answer"]


def test_database_url_override_is_used(cli, tmp_path):
    db = tmp_path / "other.sqlite3"
    cli("chat", input="你好\n", env={"JIUZHU_DATABASE_URL": f"sqlite:///{db}"})
    assert db.exists()


def test_missing_config_is_a_clear_error(cli, tmp_path):
    proc = cli("ask", "--config", str(tmp_path / "none.toml"), "低保", check=False)
    assert proc.returncode == 2
    assert "config file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_eval_prints_summary_line_last(cli, tmp_path):
    f = tmp_path / "eval.jsonl"
    f.write_text('{"q": "低保标准是多少", "topic": "dibao.standard"}\n'
                 '{"q": "明天会下雨吗", "topic": null}\n', encoding="utf-8")
    lines = cli("eval", str(f)).stdout.strip().splitlines()
    assert lines[-1].startswith("eval: in-scope top-1 100.0% (1/1), out-of-scope rejected 100.0% (1/1)")


def test_chat_is_a_terminal_conversation(cli):
    out = cli("chat", "--user", "t1", input="低保标准是多少\n").stdout
    assert "900" in out            # the answer was printed
    assert out.count("救助通：") >= 2  # greeting, then the answer


def test_jiuzhu_config_names_the_config_file_as_for_the_server(cli, tmp_path):
    """A deployment sets JIUZHU_CONFIG once; `jiuzhu` commands read that file unless --config says otherwise."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    county = tmp_path / "county.toml"
    county.write_text(text.replace('name = "兴国县"', 'name = "于都县"', 1), encoding="utf-8")
    assert "于都县" in county.read_text(encoding="utf-8")
    env = {"JIUZHU_CONFIG": str(county)}
    assert "于都县" in cli("ask", "低保怎么申请", env=env).stdout
    assert "于都县" not in cli("ask", "低保怎么申请", "--config", str(ROOT / "config.toml"), env=env).stdout
