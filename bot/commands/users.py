"""`jiuzhu users add/list/disable/enable/unlock/townships/reset-password`: workbench accounts (contract §5)."""
from __future__ import annotations

import getpass
import sys

from bot.accounts import ROLES, AccountService
from bot.accounts.service import AccountError
from bot.commands import print_json
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `users`."""
    users = sub.add_parser("users", help="workbench accounts")
    users_sub = users.add_subparsers(metavar="ACTION")
    add = users_sub.add_parser("add", parents=[common], help="a new account (password from standard input)")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--township", action="append", default=[],
                     help="a township of config.toml [county].townships (repeat for more; caseworkers)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=run_add)
    ls = users_sub.add_parser("list", parents=[common], help="every account")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    for name, func, what in (("disable", run_disable, "stop an account from logging in"),
                             ("enable", run_enable, "let a disabled account log in again (lifts a lockout)"),
                             ("unlock", run_unlock, "lift a lockout after failed logins")):
        cmd = users_sub.add_parser(name, parents=[common], help=what)
        cmd.add_argument("username")
        cmd.set_defaults(func=func)
    towns = users_sub.add_parser("townships", parents=[common], help="set a caseworker's townships")
    towns.add_argument("username")
    towns.add_argument("--township", action="append", default=[], required=True,
                       help="a township of config.toml [county].townships (repeat for more)")
    towns.set_defaults(func=run_townships)
    reset = users_sub.add_parser("reset-password", parents=[common],
                                 help="a new password (unlocks the account, ends its sessions)")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    reset.set_defaults(func=run_reset)


def _password(args) -> str:
    """One line of standard input, or a prompt at a terminal; never an argument."""
    if args.password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _accounts(args, work):
    runtime = Runtime.from_path(args.config)
    with runtime.db.unit_of_work() as session:
        return work(AccountService(session, runtime.config.county.townships))


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def run_add(args) -> int:
    """Create the account."""
    password = _password(args)
    _accounts(args, lambda s: s.add(args.username, args.role, password, args.township, actor=_who()))
    print(f"{args.username}: {args.role}" + (f" ({'、'.join(args.township)})" if args.township else ""))
    return 0


def run_list(args) -> int:
    """One line (JSON or text) per account."""
    for account in _accounts(args, lambda s: s.list()):
        if args.json:
            print_json(account.as_dict())
        else:
            state = "disabled" if account.disabled else ("locked" if account.locked() else "active")
            print(f"{account.username:16s} {account.role:10s} {state:8s} {'、'.join(account.townships) or '-'}")
    return 0


def run_disable(args) -> int:
    """Disable the account."""
    _accounts(args, lambda s: s.disable(args.username, actor=_who()))
    print(f"{args.username}: disabled")
    return 0


def run_enable(args) -> int:
    """Enable the account."""
    _accounts(args, lambda s: s.enable(args.username, actor=_who()))
    print(f"{args.username}: enabled")
    return 0


def run_unlock(args) -> int:
    """Lift the lockout."""
    _accounts(args, lambda s: s.unlock(args.username, actor=_who()))
    print(f"{args.username}: unlocked")
    return 0


def run_townships(args) -> int:
    """Set the caseworker's townships."""
    _accounts(args, lambda s: s.set_townships(args.username, args.township, actor=_who()))
    print(f"{args.username}: {'、'.join(dict.fromkeys(args.township))}")
    return 0


def run_reset(args) -> int:
    """Set a new password."""
    password = _password(args)
    _accounts(args, lambda s: s.reset_password(args.username, password, actor=_who()))
    print(f"{args.username}: password reset")
    return 0
