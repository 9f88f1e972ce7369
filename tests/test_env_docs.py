"""The generated env pages (docs/envs) are up to date, complete, and the check can fail."""

from __future__ import annotations

import shutil
from pathlib import Path

from auction_envs.cli import main as cli_main
from auction_envs.env_docs import REQUIRED_SECTIONS, build, collect_pages, missing_sections

PAGES = Path(__file__).resolve().parent.parent / "docs" / "envs"


def test_committed_pages_match_the_code_and_every_docstring_has_the_sections() -> None:
    assert build(PAGES, check=True) == []
    assert cli_main(["docs", "--check", "--out", str(PAGES)]) == 0


def test_every_registered_id_is_on_a_page() -> None:
    import auction_envs

    documented = {spec.id for page in collect_pages() for spec in page.specs}
    assert documented == set(auction_envs.list_envs())
    kelly = (PAGES / "kelly_game.md").read_text()
    assert "`auction_envs/KellyGameHeterogeneous-v0`" in kelly and "| Horizon | 3000 steps" in kelly
    assert "`others_bid`" in kelly  # the named layout is in the property table


def test_check_reports_edited_missing_and_stale_pages(tmp_path: Path) -> None:
    out = tmp_path / "envs"
    shutil.copytree(PAGES, out)
    assert build(out, check=True) == []
    (out / "kelly_game.md").write_text((out / "kelly_game.md").read_text() + "hand edit\n")
    (out / "iov_slicing.md").unlink()
    (out / "old_market.md").write_text("# gone\n")
    problems = build(out, check=True)
    assert any("kelly_game.md: out of date" in p for p in problems)
    assert any("iov_slicing.md: missing" in p for p in problems)
    assert any("old_market.md: no env generates" in p for p in problems)
    assert cli_main(["docs", "--check", "--out", str(out)]) == 1
    assert cli_main(["docs", "--out", str(out)]) == 0  # regenerating repairs the two pages
    assert [p for p in build(out, check=True) if "old_market" not in p] == []


def test_missing_sections_names_what_a_docstring_lacks() -> None:
    class Sparse:
        """A market.

        ## Description
        Something.

        ## Agents and Action Space
        Bids.
        """

    missing = missing_sections(Sparse)
    assert "Action Space" not in missing and "Description" not in missing
    assert missing == [s for s in REQUIRED_SECTIONS if s not in ("Description", "Action Space")]
