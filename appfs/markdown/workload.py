"""markdown: renders a small Markdown subset to HTML.

Headings (#..######), paragraphs, unordered lists (- or *), fenced code
blocks, and inline **strong**, *emphasis*, `code` and [links](url).  All
text is escaped.
"""
import html
import re

INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*([^*]+)\*"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r'<a href="\2">\1</a>'),
]


def inline(text):
    out = html.escape(text, quote=True)
    for pattern, repl in INLINE:
        out = pattern.sub(repl, out)
    return out


def render(text):
    blocks, para, items, code = [], [], [], None

    def flush():
        if para:
            blocks.append("<p>" + inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            blocks.append("<ul>" + "".join("<li>" + inline(i) + "</li>"
                                           for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        if code is not None:
            if line.startswith("```"):
                blocks.append("<pre><code>" + html.escape("\n".join(code)) +
                              "</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        stripped = line.strip()
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        if stripped.startswith("```"):
            flush()
            code = []
        elif heading:
            flush()
            n = len(heading.group(1))
            blocks.append("<h%d>%s</h%d>" % (n, inline(heading.group(2)), n))
        elif re.match(r"[-*]\s+", stripped):
            if para:
                flush()
            items.append(re.sub(r"^[-*]\s+", "", stripped))
        elif not stripped:
            flush()
        else:
            if items:
                flush()
            para.append(stripped)
    flush()
    return "\n".join(blocks)


def handle(event):
    text = event["text"] if isinstance(event, dict) else str(event)
    return {"html": render(text)}
