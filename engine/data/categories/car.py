"""placeholder"""
from .chair import build  # noqa: F401
