"""The monitor as a zipapp (``path/.pushdeploy/monitor.pyz``): built byte-for-byte reproducibly.

The archive holds this package's ``*.py`` files, a stub ``pushdeploy/__init__.py`` (so the
package imports without the rest of pushdeploy) and a ``__main__.py``; it starts with
``#!/usr/bin/env python3``. Entries are sorted, stored uncompressed (zlib output may differ
between builds of zlib) and stamped 1980-01-01 with fixed permissions, so the same sources always
give the same bytes and ``zipapp_digest()`` can tell ``setup`` whether an upload is needed.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

SHEBANG = b"#!/usr/bin/env python3\n"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PACKAGE_STUB = '"""pushdeploy stub inside the monitor zipapp: only pushdeploy.monitor is here."""\n'
MAIN = (
    '"""Run the pushdeploy monitor from its zipapp."""\n'
    "import sys\n\n"
    "from pushdeploy.monitor.cli import main\n\n"
    "sys.exit(main())\n"
)


def sources() -> dict[str, bytes]:
    """Archive name -> content of everything that goes into the zipapp."""
    here = Path(__file__).resolve().parent
    files = {
        "__main__.py": MAIN.encode(),
        "pushdeploy/__init__.py": PACKAGE_STUB.encode(),
    }
    for path in sorted(here.glob("*.py")):
        files[f"pushdeploy/monitor/{path.name}"] = path.read_bytes()
    return files


def build_zipapp() -> bytes:
    """The zipapp's bytes: shebang + a deterministic zip of ``sources()``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in sorted(sources().items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # unix, whatever the building machine is
            archive.writestr(info, content)
    return SHEBANG + buffer.getvalue()


def zipapp_digest() -> str:
    """sha256 hex of ``build_zipapp()``: compare with ``sha256sum monitor.pyz`` on the server."""
    return hashlib.sha256(build_zipapp()).hexdigest()


def write_zipapp(dest_path: str) -> str:
    """Write the zipapp to ``dest_path`` (mode 0755, atomically); returns its sha256 hex."""
    data = build_zipapp()
    tmp = f"{dest_path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest_path)
    return hashlib.sha256(data).hexdigest()
