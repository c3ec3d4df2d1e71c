"""Workbench accounts: users, roles, township memberships, passwords, lockout.

    from bot.accounts import AccountService, Actor, ROLES
"""
from bot.accounts.roles import ROLES, Actor
from bot.accounts.service import AccountError, AccountService, LoginRefused

__all__ = ["ROLES", "Actor", "AccountError", "AccountService", "LoginRefused"]
