"""Tables of rows of dicts: Markdown or HTML text, and a notebook display object.

``format_table`` renders rows as a Markdown pipe table (aligned, so it reads
as text too) or as HTML; ``Table`` shows them as HTML in a notebook and as
the aligned text everywhere else, which also gives nbval a stable output.
"""

import html


def _cell(value, spec):
    if callable(spec):
        return spec(value)
    if isinstance(value, (list, tuple)):
        return "/".join(_cell(v, spec) for v in value)
    return format(value, spec)


def format_table(rows, columns, style="markdown"):
    """Render rows of dicts as a Markdown pipe table or an HTML table.

    Args:
        rows: list of dicts.
        columns: list of ``(header, key, spec)``: ``spec`` is a format spec
            (``",d"``, ``".2f"``, ``"+.2%"``, ``""``) or a function of the
            value; lists and tuples are joined with ``/``.
        style: ``"markdown"`` (columns padded to line up, so it reads as text
            too) or ``"html"``. Columns whose cells all look like numbers are
            right-aligned in both.

    Returns:
        str, the table.
    """
    if style not in ("markdown", "html"):
        raise ValueError(
            f"`style` must be 'markdown' or 'html'. Received: style={style!r}"
        )
    headers = [header for header, _, _ in columns]
    body = [[_cell(row[key], spec) for _, key, spec in columns] for row in rows]
    numeric = [bool(body) and all(cells[i][:1] in "+-0123456789." for cells in body)
               for i in range(len(headers))]
    if style == "html":
        def tag(name, text, num):
            align = "right" if num else "left"
            style = f' style="text-align: {align}; padding: 0.2em 0.6em"'
            return f"<{name}{style}>{html.escape(text)}</{name}>"

        head = "".join(tag("th", h, num) for h, num in zip(headers, numeric))
        lines = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
        for cells in body:
            tds = "".join(tag("td", c, num) for c, num in zip(cells, numeric))
            lines.append(f"<tr>{tds}</tr>")
        lines += ["</tbody>", "</table>"]
        return "\n".join(lines)
    widths = [max([len(h)] + [len(cells[i]) for cells in body])
              for i, h in enumerate(headers)]

    def line(cells):
        padded = [c.rjust(w) if num else c.ljust(w)
                  for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                          for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule] + [line(cells) for cells in body])


class Table:
    """A table that shows itself as HTML in a notebook and as aligned text.

    ``Table(rows, columns)`` takes the arguments of ``format_table``. As the
    last expression of a notebook cell it renders as an HTML table (Jupyter,
    Colab, the HTML book), while its text form (``str``, ``repr`` and the
    notebook's ``text/plain`` output) is the aligned Markdown table, which
    reads well in a terminal and gives nbval a stable output to compare.
    """

    def __init__(self, rows, columns):
        self.rows = list(rows)
        self.columns = list(columns)

    def to_markdown(self):
        return format_table(self.rows, self.columns, style="markdown")

    def to_html(self):
        return format_table(self.rows, self.columns, style="html")

    def __str__(self):
        return self.to_markdown()

    __repr__ = __str__

    def _repr_html_(self):
        return self.to_html()
