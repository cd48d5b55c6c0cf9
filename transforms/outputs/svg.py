"""Inline SVG for the shareable report: one element at a time, and the shared look
(font size, ink, the Making Data Count colours, which orange and blue keep apart for
colour-blind readers too)."""

from __future__ import annotations

from html import escape

FONT = 12
VARIATION_COLOURS = {
    "common_cause": "#7b7d7d",
    "improvement": "#289de0",
    "concern": "#e46c0a",
    "neither": "#61279e",
}
INK, LIMIT, GREY, HIDDEN_INK = "#222", "#666", "#d9d9d9", "#a40"


def el(tag: str, body: str = "", **attrs: object) -> str:
    """One SVG element, attributes quoted and escaped (well-formed XML); `class_` is class,
    other underscores are hyphens."""
    names = {k: "class" if k == "class_" else k.replace("_", "-") for k in attrs}
    text = "".join(f' {names[k]}="{escape(str(v), quote=True)}"' for k, v in attrs.items())
    return f"<{tag}{text}>{body}</{tag}>" if body else f"<{tag}{text}/>"
