"""docs/permissions.md shows the matrix the code enforces."""

from pathlib import Path

from ispops.api.permissions import render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_permissions_page_matches_the_code() -> None:
    text = DOC.read_text()
    start = text.index("<!-- matrix:start -->\n") + len("<!-- matrix:start -->\n")
    end = text.index("<!-- matrix:end -->")
    assert text[start:end] == render_markdown()
