"""`jiuzhu wechat menu`: publish the custom menu of config.toml `[wechat.menu]`."""
from __future__ import annotations

import json

from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add the `wechat` command group."""
    wechat = sub.add_parser("wechat", help="WeChat Official Account tools")
    wechat_sub = wechat.add_subparsers(metavar="ACTION")
    menu = wechat_sub.add_parser("menu", parents=[common], help="publish the custom menu of config.toml")
    menu.add_argument("--print", dest="print_only", action="store_true",
                      help="only print the menu JSON WeChat would receive")
    menu.set_defaults(func=run_menu)


def run_menu(args) -> int:
    """Validate `[wechat.menu]` and publish it with the shared access token."""
    from handlers.wechat_api import WeChatApi, menu_of

    runtime = Runtime.from_path(args.config)
    menu, _ = menu_of(runtime.config.wechat.menu)
    if args.print_only:
        print(json.dumps(menu, ensure_ascii=False, indent=2))
        return 0
    if not menu["button"]:
        print("jiuzhu wechat menu: config.toml has no [wechat.menu] buttons")
        return 2
    WeChatApi.from_runtime(runtime).create_menu(menu)
    print(f"menu published: {len(menu['button'])} buttons")
    return 0
