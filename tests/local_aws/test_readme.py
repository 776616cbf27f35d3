"""The README's list of moto fixes is the registry's: every registered fix, described as registered,
and no other."""

from __future__ import annotations

import re

from local_aws.moto_fixes import fixes_markdown, registered_fixes
from tests.conftest import REPO

HEADING = "### moto fixes"


def readme_section() -> str:
    """The README's moto fixes section, from its heading to the next heading."""
    text = (REPO / "README.md").read_text()
    start = text.index(HEADING) + len(HEADING)
    following = re.search(r"^#{1,3} ", text[start:], flags=re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


def listed_fixes(section: str) -> dict[str, str]:
    """``{name: description}`` of the section's ``- `name`: description.`` items (wrapped lines joined)."""
    items = re.findall(r"^- `([^`]+)`: (.*?)\.?$(?=\n- |\n\n|\n?\Z)", section, flags=re.MULTILINE | re.DOTALL)
    return {name: " ".join(description.split()) for name, description in items}


def test_readme_lists_every_registered_fix_with_its_description_and_no_other() -> None:
    listed = listed_fixes(readme_section())

    assert listed == {fix.name: fix.description for fix in registered_fixes()}


def test_readme_list_is_the_generated_one() -> None:
    assert fixes_markdown() in readme_section(), (
        "regenerate the list in the README's moto fixes section with "
        "`python -c 'from local_aws.moto_fixes import fixes_markdown; print(fixes_markdown())'`"
    )
