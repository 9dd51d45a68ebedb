# Copyright 2026 The franet authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The ``franet`` command line: one program, one sub-command per job.

Each sub-command lives in ``franet_core/commands/<name>.py`` and exposes ``HELP`` (one line),
``ORDER`` (position in ``--help``), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are discovered here, so adding a command never edits this file. Heavy imports
(torch, the model) happen inside ``run`` so ``franet --help`` stays instant.

Error policy (docs/reliability.md), the same for every command:

- A user's mistake — a bad flag value, a missing or unreadable file, a corrupt input, an
  output path that is taken — is raised as ValueError or a file-system OSError that names
  the flag, file or field and what was expected. It ends the command with exit status 2
  and that one line on stderr, no traceback.
- Any other OSError (disk full, I/O error) is one line and exit status 1.
- Ctrl-C is one line and exit status 130.
- Everything else is a bug in franet and keeps its traceback (exit status 1).
- ``--verbose`` prints the traceback of the user errors too.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback

from franet_core import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="franet",
        description="Guidewire segmentation and tracking in X-ray fluoroscopy (FRA-Net).",
        epilog="Run 'franet COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"franet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [importlib.import_module(f"{commands.__name__}.{m.name}")
               for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    for module in sorted(modules, key=lambda m: (m.ORDER, m.__name__)):
        name = module.__name__.rsplit(".", 1)[1]
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


#: Exceptions that mean "the user asked for something impossible": exit 2, one line.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError, PermissionError)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the command and apply the error policy; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as exc:
        return _fail(args, exc, 2)
    except OSError as exc:  # the environment, not the user or franet: disk full, I/O error
        return _fail(args, exc, 1)
    except KeyboardInterrupt:
        print(f"franet {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(args: argparse.Namespace, exc: BaseException, status: int) -> int:
    """Print ``exc`` as one line (its traceback first with --verbose); return ``status``."""
    if args.verbose:
        traceback.print_exception(exc)
    print(f"franet {args.command}: error: {one_line(exc)}", file=sys.stderr)
    return status


def one_line(exc: BaseException) -> str:
    """Describe ``exc`` in one line; an OSError as ``FILE: reason``."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"
        if exc.filename2 is not None:
            text += f" (-> {exc.filename2})"
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
