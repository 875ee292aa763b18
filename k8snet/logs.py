"""Where k8snet's own log lines go: the run's ``agents.log``, never the console.

Every part logs to a ``k8snet.<part>`` logger (a controller to
``k8snet.<its name>``).  ``to_file`` gives the ``k8snet`` logger the run's
file and stops records there (``propagate`` False), so the CLI's console
carries only what the user asked for.  What a user should see of a
controller's complaint is an Event on the object (``kubectl describe``),
as upstream controllers record one; the log line is for whoever debugs.

Mininet is in the way: importing ``mininet.log`` calls
``logging.setLoggerClass(MininetLogger)`` (mininet/log.py, its last lines),
so every logger created afterwards, by anyone, is a ``MininetLogger`` with
a console handler of its own that writes without a newline
(``StreamHandlerNoNewline``) and a level of its own (``OUTPUT``, 25).  A
record goes to its own logger's handlers before its parents'
(``Logger.callHandlers``), so the ``k8snet`` logger's setting could not stop
it: a controller's warning reached the console glued to the next line, and
its info lines were dropped.  Two guards, each enough for the loggers it
covers:

- importing this module imports ``mininet.log`` and then puts the standard
  class back; a module runs once, so whichever is imported first, loggers
  made afterwards are plain;
- ``plain`` (``get``, and ``to_file`` for every ``k8snet.*`` logger that
  already exists) takes away what ``MininetLogger`` gave a logger made
  before that.

Source: Python ``logging`` (``setLoggerClass``, ``Logger.callHandlers``),
mininet/log.py (``MininetLogger.__init__`` keeps its handler as ``ch``).
"""
from __future__ import annotations

import logging
from pathlib import Path

ROOT = "k8snet"                     # the logger every k8snet.* logger ends at
FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def _restore_logger_class() -> None:
    """Undo ``mininet.log``'s ``setLoggerClass``, importing it first so that
    its import cannot come later and do it again."""
    try:
        from mininet.log import MininetLogger
    except ImportError:             # no Mininet here: nothing to undo
        return
    if logging.getLoggerClass() is MininetLogger:
        logging.setLoggerClass(logging.Logger)


def plain(logger: logging.Logger) -> logging.Logger:
    """``logger`` without what ``MininetLogger`` gave it when it was made:
    its console handler and its own level (it inherits ``k8snet``'s)."""
    console = getattr(logger, "ch", None)
    if console is not None and console in logger.handlers:
        logger.removeHandler(console)
        logger.setLevel(logging.NOTSET)
    return logger


def get(name: str) -> logging.Logger:
    """The logger ``name`` (``k8snet.<part>``): it writes where ``k8snet``
    does and nowhere else."""
    return plain(logging.getLogger(name))


def to_file(path: Path) -> None:
    """Send k8snet's log lines, INFO and up, to ``path`` only."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger(ROOT)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for name, each in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(ROOT + ".") and isinstance(each, logging.Logger):
            plain(each)


def close() -> None:
    """Close k8snet's log file and let go of it (nothing stays open in the
    run directory)."""
    logger = logging.getLogger(ROOT)
    for handler in logger.handlers:
        handler.close()
    logger.handlers = []


_restore_logger_class()
