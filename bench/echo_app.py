"""A bare Flask + wechatpy safe-mode echo: the floor bench_wechat.py compares the bot with.

It does only what any WeChat endpoint must: check `msg_signature`, decrypt,
parse, and answer with an encrypted TextReply repeating the text. No database,
no matcher. Same secrets as the bot (JIUZHU_WECHAT_TOKEN, _APP_ID, _AES_KEY).

    gunicorn -c deploy/gunicorn.conf.py --pythonpath bench echo_app:app
"""
from __future__ import annotations

import os
import secrets

from flask import Flask, Response, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply

app = Flask("echo")
crypto = WeChatCrypto(os.environ["JIUZHU_WECHAT_TOKEN"], os.environ["JIUZHU_WECHAT_AES_KEY"],
                      os.environ["JIUZHU_WECHAT_APP_ID"])


@app.get("/healthz")
def healthz() -> Response:
    """Readiness for the benchmark."""
    return Response("ok", mimetype="text/plain")


@app.post("/wechat")
def echo() -> Response:
    """Verify and decrypt one message; reply with its text, encrypted."""
    args = request.args
    try:
        xml = crypto.decrypt_message(request.get_data(), args.get("msg_signature", ""),
                                     args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException:
        return Response("forbidden", status=403, mimetype="text/plain")
    message = parse_message(xml)
    reply = TextReply(message=message, content=getattr(message, "content", "") or "").render()
    return Response(crypto.encrypt_message(reply, secrets.token_hex(8)), mimetype="application/xml")
