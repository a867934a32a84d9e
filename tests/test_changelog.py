"""CHANGELOG.md agrees with the package version.

The changelog keeps an ``[Unreleased]`` section on top, then released versions, newest first,
each with its date (Keep a Changelog). While the package carries a development version, the
newest released version in the changelog must be older than it; when a release is cut, the
``[Unreleased]`` entries move under the new version, which then equals the package's.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
PACKAGE_VERSION = Version(
    re.search(  # type: ignore[union-attr]
        r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M
    ).group(1)
)
HEADINGS = re.findall(r"^## \[([^\]]+)\](.*)$", CHANGELOG, re.M)


def _released() -> list[tuple[Version, str]]:
    """(version, date) of every released section, in the order the changelog lists them."""
    return [(Version(name), rest) for name, rest in HEADINGS if name != "Unreleased"]


def test_unreleased_section_comes_first() -> None:
    assert HEADINGS, "no '## [version]' headings in CHANGELOG.md"
    assert HEADINGS[0][0] == "Unreleased", HEADINGS[0]
    assert [name for name, _ in HEADINGS].count("Unreleased") == 1


def test_released_versions_are_dated_and_newest_first() -> None:
    released = _released()
    assert released, "CHANGELOG.md lists no released version"
    for version, rest in released:
        match = re.fullmatch(r" - (\d{4}-\d{2}-\d{2})", rest)
        assert match, f"[{version}] needs ' - YYYY-MM-DD' after it, got {rest!r}"
        datetime.date.fromisoformat(match.group(1))
    versions = [version for version, _ in released]
    assert versions == sorted(versions, reverse=True), versions
    dates = [rest for _, rest in released]
    assert dates == sorted(dates, reverse=True), dates


def test_newest_release_matches_the_package_version() -> None:
    newest = _released()[0][0]
    if PACKAGE_VERSION.is_devrelease or PACKAGE_VERSION.is_prerelease:
        # work towards the next release: everything since the newest is under [Unreleased]
        assert newest < PACKAGE_VERSION, (newest, PACKAGE_VERSION)
    else:
        assert newest == PACKAGE_VERSION, (newest, PACKAGE_VERSION)
