"""What can be deployed: validation of ref names, and the release ID (UTC time + short SHA).

A ref reaches a remote shell quoted in any case; it is validated as well (config/refs.py holds
the rule, which deploy.conf's ``ref`` meets as the file loads) so that a typo or a hostile value
(``$(rm -rf ~)``, ``--upload-pack=...``) is refused with a clear message instead of being handed
to git, which would read a leading dash as an option.

A release ID is ``20261123T004512Z-3f2a9c1``: the time of the run, the same on every host of it,
and the first 7 characters of the SHA the host resolved, made unique with ``.2``, ``.3``...
Its format is written once, here, in two halves: the client knows the time (``stamp``, carried
to the scripts by ``scripts.Run``), only the server knows the SHA (release.sh's
``new_release_id`` joins them; ``new_id`` is its call). Nothing in Python rebuilds an ID;
protocol.RELEASE_ID_PATTERN is how one is checked.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from importlib.resources import files

from pushdeploy.config.refs import ref_problem
from pushdeploy.errors import Refused


def check_ref(ref: str) -> str:
    """Return ``ref`` if git and a shell would both take it as one plain name; raise otherwise.

    The rule is config/refs.py's (the one deploy.conf's ``ref`` is held to); here a bad REF of
    the command line is refused (exit 8).
    """
    problem = ref_problem(ref)
    if problem:
        raise Refused(
            f"not a valid ref: {ref!r} ({problem})",
            "give a branch, tag or commit SHA as git names it",
        )
    return ref


LIBRARY = files("pushdeploy.remote").joinpath("release.sh").read_text(encoding="utf-8")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"  # so that IDs sort like their times (prune keeps the newest)
SHORT_SHA = 7


def stamp(when: datetime) -> str:
    """The time half of the release IDs a run makes: ``20261123T004512Z`` (UTC)."""
    return when.astimezone(UTC).strftime(STAMP_FORMAT)


def id_arguments(run_stamp: str) -> str:
    """``STAMP SHORT`` of release.sh's ``new_release_id``, quoted."""
    return f"{shlex.quote(run_stamp)} {SHORT_SHA}"


def new_id(run_stamp: str) -> list[str]:
    """The call that sets ID from ``run_stamp`` and SHA (release.sh, which the script carries:
    ``LIBRARY``): the stamp, ``-``, SHA's first characters, and ``.N`` for the first N that names
    no release in $RELEASES yet (a second deploy of one SHA in one run's second; at most 100)."""
    return [f"new_release_id {id_arguments(run_stamp)}"]


def now() -> datetime:
    return datetime.now(UTC)
