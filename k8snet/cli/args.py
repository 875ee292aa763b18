"""Argument parsing for the CLI's own commands (trace, draw, probe, netpol).

``ArgParser`` is argparse that raises ``K8snetError`` instead of exiting: a
bad flag is one error line, and the cluster keeps running.
"""
from __future__ import annotations

import argparse

from k8snet.errors import K8snetError


class ArgParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting: a bad flag must not end the CLI."""

    def error(self, message: str):
        raise K8snetError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None):
        raise K8snetError(message.strip() if message else f"{self.prog}: exit {status}")
