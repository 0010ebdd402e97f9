"""The command line: `main` is the `lfwsiamese` entry point."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
